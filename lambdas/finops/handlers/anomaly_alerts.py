"""Cost Anomaly Detection (SNS or EventBridge) and AWS Budgets (SNS text) alerts → the owning team's Slack channel."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.aws.clients import AwsClients
from finops.aws.organizations import DIRECTORY_PERMISSIONS
from finops.models.events import InvalidEvent, alerts_from_event
from finops.models.summary import RunFailed
from finops.runtime import alert_run
from finops.services.alerts import process_alerts
from finops.settings import Settings, config_at

# IAM actions beyond the CDK grants (tables, queue, secret); the hub construct grants exactly these.
PERMISSIONS = DIRECTORY_PERMISSIONS

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    config = config_at(settings.config_path)
    try:
        alerts, now = alerts_from_event(event)
    except InvalidEvent as exc:
        # Raised, not swallowed: Lambda retries, then the on-failure destination keeps the event and this reason.
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        logger.error("invalid event", reason=str(exc))
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
    summary = process_alerts(alerts, run)
    logger.info("run finished", **summary.to_json())
    if not summary.ok:
        raise RunFailed(summary)
    return summary.to_json()
