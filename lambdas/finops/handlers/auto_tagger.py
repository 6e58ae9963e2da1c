"""CloudTrail "create" events forwarded by the member accounts -> the new resources tagged with their creator and
creation time, in their own account, through the member role (docs/auto-tagger.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

if TYPE_CHECKING:
    from finops.engine.kill_switch import KillSwitch

logger = Logger()
tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
metrics = Metrics()
_switch: KillSwitch | None = None  # kept across warm invocations: read at most once a minute


def __getattr__(name: str) -> tuple[str, ...]:
    """``PERMISSIONS``: the hub-side IAM beyond the CDK grants (tables, kill-switch parameter, sts:AssumeRole on the
    member role): whether the event's account is a target. ``MEMBER_PERMISSIONS``: what the member role grants the
    auto-tagger's sessions. Declared by the code that calls them and imported when asked for (the stacks, the tests),
    not when Lambda imports this module."""
    if name in ("PERMISSIONS", "MEMBER_PERMISSIONS"):
        from finops.services.auto_tagger import HUB_PERMISSIONS, MEMBER_PERMISSIONS

        return HUB_PERMISSIONS if name == "PERMISSIONS" else MEMBER_PERMISSIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _switch
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from finops.aws.clients import AwsClients
    from finops.models.cloudtrail import InvalidCloudTrailEvent, parse_cloudtrail_event
    from finops.runtime import kill_switch, once_per_key, wall_clock
    from finops.services.audit import AuditTrail
    from finops.services.auto_tagger.run import tag_from_event
    from finops.settings import Settings, config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    clients = AwsClients()
    try:
        call = parse_cloudtrail_event(event)
    except InvalidCloudTrailEvent as exc:
        # Raised, not swallowed: Lambda retries, then the on-failure queue keeps the event with this reason.
        # Counted in InvalidEvents once per event, not once per retry.
        logger.error("invalid event", reason=str(exc))
        from finops.services.alerts import count_invalid_event  # only here: it brings the Slack SDK

        once = once_per_key(clients, settings.idempotency_table_name, context)
        count_invalid_event(event, once=once, run_id=context.aws_request_id, reason=str(exc))
        raise
    _switch = _switch or kill_switch(clients, config)
    summary = tag_from_event(
        call,
        config=config,
        mode=config.capabilities.auto_tagger.mode,
        scopes=clients,
        organizations=clients.client("organizations"),
        kill_switch=_switch,
        audit=AuditTrail(clients.client("dynamodb"), settings.audit_table_name, clock=wall_clock),
        once=once_per_key(clients, settings.idempotency_table_name, context),
        actor=context.function_name,
        wall_clock=wall_clock,
    )
    logger.info("event handled", **summary)
    return summary
