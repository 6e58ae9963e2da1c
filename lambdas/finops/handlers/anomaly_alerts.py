"""Cost Anomaly Detection (SNS or EventBridge) and AWS Budgets (SNS text) alerts → the owning team's Slack channel."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

logger = Logger()
tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
metrics = Metrics()


def __getattr__(name: str) -> tuple[str, ...]:
    """``PERMISSIONS``: the IAM actions beyond the CDK grants (tables, queue, secret), which the hub construct grants
    exactly; declared by the code that calls them and imported when asked for (the stacks, the tests), not when
    Lambda imports this module."""
    if name == "PERMISSIONS":
        from finops.aws.organizations import DIRECTORY_PERMISSIONS

        return DIRECTORY_PERMISSIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from finops.aws.clients import AwsClients
    from finops.models.events import InvalidEvent, alerts_from_event
    from finops.models.summary import RunFailed
    from finops.runtime import alert_run, once_per_key
    from finops.services.alerts import count_invalid_event, process_alerts
    from finops.services.heartbeat import deliver_synthetic, split_synthetic
    from finops.settings import Settings, config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    try:
        alerts, now = alerts_from_event(event)
    except InvalidEvent as exc:
        # Raised, not swallowed: Lambda retries, then the on-failure destination keeps the event and this reason.
        # Counted in InvalidEvents once per event, not once per retry.
        logger.error("invalid event", reason=str(exc))
        once = once_per_key(AwsClients(), settings.idempotency_table_name, context)
        count_invalid_event(event, once=once, run_id=context.aws_request_id, reason=str(exc))
        raise
    run = alert_run(
        AwsClients(),
        settings,
        config,
        now=now,
        run_id=context.aws_request_id,
        actor=context.function_name,
        lambda_context=context,
    )
    synthetic, alerts = split_synthetic(alerts)  # make smoke and the heartbeat: no routing, no once-only
    summary = process_alerts(alerts, run)
    deliver_synthetic(synthetic, run, summary)
    logger.info("run finished", **summary.to_json())
    if not summary.ok:
        raise RunFailed(summary)
    return summary.to_json()
