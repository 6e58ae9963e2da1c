"""The storage clean-up's worker: one Distributed Map batch of targets (account x region), each read, planned,
applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

if TYPE_CHECKING:
    from finops.engine.kill_switch import KillSwitch

# Hub-side IAM beyond the CDK grants (audit table, kill-switch parameter, sts:AssumeRole on the member role).
PERMISSIONS: tuple[str, ...] = ()

logger = Logger()
tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
_switch: KillSwitch | None = None  # kept across warm invocations: read at most once a minute


def __getattr__(name: str) -> tuple[str, ...]:
    """``MEMBER_PERMISSIONS``: what the member role grants for this worker's calls in each target, declared by the
    code that calls them and imported when asked for (the stacks, the tests), not when Lambda imports this module."""
    if name == "MEMBER_PERMISSIONS":
        from finops.services.cleanup import MEMBER_PERMISSIONS

        return MEMBER_PERMISSIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _switch
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from finops.runtime import worker_batch
    from finops.services.cleanup_run import CleanupCapability

    output, _switch = worker_batch(CleanupCapability, event, actor=context.function_name, switch=_switch)
    return output
