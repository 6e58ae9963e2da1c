"""The first state of every capability's run: paused?, anything due?, the targets written to S3 for the Map."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

logger = Logger()


class RunNotDecided(RuntimeError):
    """The start step could not tell whether it may act (the kill switch unreadable): nothing was done."""


tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
metrics = Metrics()


def __getattr__(name: str) -> tuple[str, ...]:
    """``PERMISSIONS``: the Organizations reads (the state table, the bucket and the kill-switch parameter come from
    CDK grants), declared by the code that calls them and imported when asked for (the stacks, the tests), not when
    Lambda imports this module."""
    if name == "PERMISSIONS":
        from finops.aws.organizations import TARGET_PERMISSIONS

        return tuple(sorted(TARGET_PERMISSIONS))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from finops.aws.clients import AwsClients
    from finops.aws.organizations import enumerate_targets
    from finops.engine.request import parse_run_request
    from finops.engine.start import start_run
    from finops.engine.state import DynamoRunState
    from finops.models.events import InvalidEvent
    from finops.runtime import engine_capability, kill_switch
    from finops.settings import Settings, config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    # From the state machine: {"request": <the execution input>, "execution": <its name, the run id>}.
    raw = event.get("request", event)
    try:
        request = parse_run_request(raw)
        spec, _ = engine_capability(request.capability or "", config)
    except (InvalidEvent, KeyError) as exc:
        logger.error("invalid run request", reason=str(exc))
        raise InvalidEvent(str(exc)) from None
    clients = AwsClients()
    run_id = str(event.get("execution") or context.aws_request_id)
    decision = start_run(
        spec,
        request,
        config=config,
        run_id=run_id,
        state=DynamoRunState(clients.client("dynamodb"), settings.state_table_name),
        kill_switch=kill_switch(clients, config),
        enumerate_targets=lambda: enumerate_targets(config, clients.client("organizations")),
    )
    logger.info("run decided", fan_out=decision.fan_out, reason=decision.reason, targets=len(decision.targets))
    if decision.failed:  # paused because we cannot tell whether we may act: fail the execution, which alarms
        raise RunNotDecided(decision.reason)
    if not decision.fan_out:
        metrics.add_metric(name="RunsNotStarted", unit=MetricUnit.Count, value=1)
        return decision.to_json(targets={})
    key = f"targets/{spec.name}/{run_id}.json"
    clients.client("s3").put_object(
        Bucket=settings.engine_bucket_name,
        Key=key,
        Body=json.dumps([t.to_json() for t in decision.targets]).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(name="Targets", unit=MetricUnit.Count, value=len(decision.targets))
    return decision.to_json(targets={"bucket": settings.engine_bucket_name, "key": key})
