"""The scheduler's worker: one Distributed Map batch of targets (account x region), each read, planned, applied."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.engine.kill_switch import KillSwitch
from finops.runtime import worker_batch
from finops.services.scheduler import MEMBER_PERMISSIONS
from finops.services.scheduler_run import SchedulerCapability

# Hub-side IAM beyond the CDK grants (audit table, kill-switch parameter, sts:AssumeRole on the member role);
# MEMBER_PERMISSIONS is what the member role grants for this worker's calls in each target.
PERMISSIONS: tuple[str, ...] = ()
__all__ = ["MEMBER_PERMISSIONS", "PERMISSIONS", "handler"]

logger = Logger()
tracer = Tracer()
_switch: KillSwitch | None = None  # kept across warm invocations: read at most once a minute


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _switch
    output, _switch = worker_batch(SchedulerCapability, event, actor=context.function_name, switch=_switch)
    return output
