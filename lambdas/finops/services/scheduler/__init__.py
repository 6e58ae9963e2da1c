"""The scheduler's AWS side in one target: read the inventory, carry out a plan, verify the result.

``read_inventory(scope)`` is the fresh read the pure planner works on; ``apply(scope, actions, ...)`` carries the
planned actions out, one module per service (``ec2``, ``autoscaling``, ``rds``), and returns one verified
``Outcome`` per action, in the order given. API errors are outcomes (one a service module did not handle, such as a
timeout, fails that module's actions, and the others' outcomes stand); anything else is a bug and propagates.

Each module declares the IAM actions it calls through the member role next to its code; ``MEMBER_PERMISSIONS`` is
their union, which the member stack grants and a recorded-calls test checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AccountScope
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome
from finops.services.scheduler import autoscaling, ec2, inventory, rds
from finops.services.scheduler.inventory import read_inventory

MEMBER_PERMISSIONS: tuple[str, ...] = tuple(
    sorted({*inventory.PERMISSIONS, *ec2.PERMISSIONS, *autoscaling.PERMISSIONS, *rds.PERMISSIONS})
)
VERBS: dict[str, tuple[str, ...]] = {
    "ec2:instance": ec2.VERBS,
    "autoscaling:group": autoscaling.VERBS,
    "rds:db": rds.VERBS,
    "rds:cluster": rds.VERBS,
}
__all__ = ["MEMBER_PERMISSIONS", "VERBS", "apply", "read_inventory"]

logger = Logger(child=True)


def apply(
    scope: AccountScope,
    actions: Sequence[Action],
    *,
    now: datetime,
    sleep: Callable[[float], None],
    max_wait_seconds: float = 60.0,
) -> list[Outcome]:
    """Carry out ``actions`` in ``scope`` and verify each: one outcome per action, in the order given.

    Databases go first, so that on a start they have the longest to come up before the instances that use them;
    EC2 goes last because it waits (``sleep``, at most ``max_wait_seconds``) for its starts to be running.
    A plan with an action no module carries out (or two actions for one resource) raises before anything is done.
    """
    _validate(actions)
    outcomes: dict[int, Outcome] = {}

    def run(kinds: tuple[str, ...], carry_out: Callable[[list[Action]], list[Outcome]]) -> None:
        indexes = [i for i, action in enumerate(actions) if action.kind in kinds]
        if indexes:
            mine = [actions[i] for i in indexes]
            try:
                done = carry_out(mine)
            except (ClientError, BotoCoreError) as exc:  # e.g. a timeout: the others' outcomes (and audit) stand
                why = f"not verified: {error_text(exc)}"
                done = [Outcome(a, False, error=f"{a.action} {why}") for a in mine]
            outcomes.update(zip(indexes, done, strict=True))

    run(("rds:db", "rds:cluster"), lambda mine: rds.apply(scope.client("rds"), mine, now=now))
    run(("autoscaling:group",), lambda mine: autoscaling.apply(scope.client("autoscaling"), mine))
    run(
        ("ec2:instance",),
        lambda mine: ec2.apply(scope.client("ec2"), mine, sleep=sleep, max_wait_seconds=max_wait_seconds),
    )
    result = [outcomes[i] for i in range(len(actions))]
    for outcome in result:
        if not outcome.ok:
            action = outcome.action
            logger.warning(
                "scheduler action failed",
                extra={
                    **scope.log_keys(),
                    "resource": action.resource,
                    "kind": action.kind,
                    "action": action.action,
                    "error": outcome.error,
                },
            )
    logger.info(
        "scheduler actions applied",
        extra={**scope.log_keys(), "ok": sum(o.ok for o in result), "failed": sum(not o.ok for o in result)},
    )
    return result


def _validate(actions: Sequence[Action]) -> None:
    seen: set[tuple[str, str]] = set()
    for action in actions:
        if action.action not in VERBS.get(action.kind, ()):
            raise ValueError(f"the scheduler cannot {action.action!r} a {action.kind!r} ({action.resource})")
        key = (action.kind, action.resource)
        if key in seen:
            raise ValueError(f"two actions for {action.kind} {action.resource} in one plan")
        seen.add(key)
