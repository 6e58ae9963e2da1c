"""Carry out tag enforcement's plan in one target, each change verified by reading it back.

In this order:
1. Marks: EC2 (instances, volumes, snapshots) by one ``CreateTags`` call for many resources, all marked in a run
   getting the same ``finops:tag-deadline`` value; a failed batch is bisected to the resources it failed for. RDS
   databases and clusters by ``AddTagsToResource``, one call each (it takes one ARN). Verified by ``DescribeTags``
   (EC2, one call for many) and ``ListTagsForResource`` (RDS): a mark is done when the tag reads back with its value.
2. Unmarks: ``DeleteTags`` / ``RemoveTagsFromResource`` of the mark tag alone, verified the same way.
3. Stops: the instances are read again and each must still be due by :func:`finops.rules.tag_compliance.stop_blocked`
   (still non-compliant, not prod, protected or excluded since, still running, its mark still trusted and past by
   both clocks) before ``StopInstances``; verified by the scheduler's own EC2 apply (stopping or stopped). Nothing is
   ever deleted, and no other tag is written.
Throttling is the client's to retry; what remains is a per-resource failure, an outcome, never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.clients import AccountScope
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome, RunContext, Target
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_plan import run_clocks
from finops.rules.tag_compliance import EC2_TYPES, INSTANCE, MARK, MARK_TAG, RDS_TYPES, STOP, UNMARK, stop_blocked
from finops.services.scheduler import ec2 as scheduler_ec2
from finops.services.tag_compliance.inventory import instance_of, instances

PERMISSIONS: tuple[str, ...] = (
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:DescribeInstances",
    "ec2:DescribeTags",
    "ec2:StopInstances",
    "rds:AddTagsToResource",
    "rds:ListTagsForResource",
    "rds:RemoveTagsFromResource",
)
# resources per CreateTags / DeleteTags call: the EC2 API reference allows "up to 1000 resource IDs"; a failed
# batch is bisected to the resources it failed for
TAG_BATCH = 1000
FILTER_BATCH = 200  # values per DescribeTags / DescribeInstances filter
AWS_ERRORS = (ClientError, BotoCoreError)

logger = Logger(child=True)
Phase = Callable[[list[Action]], list[Outcome]]


def apply(
    scope: AccountScope,
    actions: Sequence[Action],
    *,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    wall_now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_seconds: float = 60.0,
) -> list[Outcome]:
    """One verified outcome per action, in the order given; ``wall_now``: the worker's wall clock (the plan's)."""
    _validate(actions)
    ec2, rds = scope.client("ec2"), scope.client("rds")
    clocks = run_clocks(ctx.now, wall_now)
    outcomes: dict[int, Outcome] = {}

    def run(select: Callable[[Action], bool], phase: Phase) -> None:
        indexes = [i for i, a in enumerate(actions) if select(a)]
        if not indexes:
            return
        mine = [actions[i] for i in indexes]
        try:
            done = phase(mine)
        except Exception as exc:  # a phase's own handling missed it: its actions fail, the others' outcomes stand
            logger.exception("tag enforcement phase failed", extra={**scope.log_keys(), "actions": len(mine)})
            why = error_text(exc) if isinstance(exc, AWS_ERRORS) else f"unexpected error: {type(exc).__name__}: {exc}"
            done = [Outcome(a, False, error=f"{a.action} not verified: {why}") for a in mine]
        outcomes.update(zip(indexes, done, strict=True))

    def stops(mine: list[Action]) -> list[Outcome]:
        return _stop(ec2, mine, target, config, clocks, sleep, max_wait_seconds)

    run(lambda a: a.action == MARK and a.kind in EC2_TYPES, lambda mine: _ec2_marks(ec2, mine))
    run(lambda a: a.action == MARK and a.kind in RDS_TYPES, lambda mine: _rds_marks(rds, mine))
    run(lambda a: a.action == UNMARK and a.kind in EC2_TYPES, lambda mine: _ec2_unmarks(ec2, mine))
    run(lambda a: a.action == UNMARK and a.kind in RDS_TYPES, lambda mine: _rds_unmarks(rds, mine))
    run(lambda a: a.action == STOP, stops)
    result = [outcomes[i] for i in range(len(actions))]
    for outcome in result:
        if not outcome.ok:
            logger.warning(
                "tag enforcement action failed",
                extra={
                    **scope.log_keys(),
                    "resource": outcome.action.resource,
                    "action": outcome.action.action,
                    "error": outcome.error,
                },
            )
    return result


def _validate(actions: Sequence[Action]) -> None:
    seen: set[str] = set()
    for action in actions:
        if action.action not in (MARK, UNMARK, STOP) or action.kind not in (*EC2_TYPES, *RDS_TYPES):
            raise ValueError(f"tag enforcement cannot {action.action!r} a {action.kind!r} ({action.resource})")
        if action.action == STOP and action.kind != INSTANCE:
            raise ValueError(f"tag enforcement stops EC2 instances only, not {action.kind} {action.resource}")
        if action.action == MARK and not action.details.get("deadline"):
            raise ValueError(f"a mark without its deadline ({action.resource})")
        if action.kind in RDS_TYPES and not action.details.get("arn"):
            raise ValueError(f"an RDS action without its ARN ({action.resource})")
        if action.resource in seen:
            raise ValueError(f"two actions for {action.resource} in one plan")
        seen.add(action.resource)


# -- EC2 -----------------------------------------------------------------------------------------------------------


def _ec2_marks(ec2: Any, actions: list[Action]) -> list[Outcome]:
    failures: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for action in actions:
        groups.setdefault(str(action.details["deadline"]), []).append(action.resource)
    for value, resources in groups.items():
        tags = [{"Key": MARK_TAG, "Value": value}]

        def tag(part: list[str], tags: list[dict[str, str]] = tags) -> Any:
            return ec2.create_tags(Resources=part, Tags=tags)

        failures.update(_batched(resources, tag, "mark"))
    return _verified(ec2, actions, failures, want=lambda a: str(a.details["deadline"]))


def _ec2_unmarks(ec2: Any, actions: list[Action]) -> list[Outcome]:
    keys = [{"Key": MARK_TAG}]
    failures = _batched(
        [a.resource for a in actions], lambda part: ec2.delete_tags(Resources=part, Tags=keys), "unmark"
    )
    return _verified(ec2, actions, failures, want=lambda _: None)


def _batched(resources: list[str], call: Callable[[list[str]], Any], verb: str) -> dict[str, str]:
    failures: dict[str, str] = {}
    for batch in in_batches(resources, TAG_BATCH):
        try:
            done = bisect(batch, call)
        except BotoCoreError as err:  # no answer: the batch may or may not carry the change; the read-back shows
            failures.update((r, f"could not {verb} (outcome unknown): {error_text(err)}") for r in batch)
            continue
        failures.update((resource, f"could not {verb}: {error_text(err)}") for resource, err in done.failed)
    return failures


def _verified(
    ec2: Any, actions: list[Action], failures: Mapping[str, str], *, want: Callable[[Action], str | None]
) -> list[Outcome]:
    """Each action's outcome from what ``DescribeTags`` reads back: the mark with its value (``want``), or gone."""
    try:
        seen = _ec2_mark_values(ec2, [a.resource for a in actions])
    except AWS_ERRORS as err:
        unread = f"not verified: the read-back failed: {error_text(err)}"
        return [Outcome(a, False, error=failures.get(a.resource, unread)) for a in actions]
    outcomes = []
    for action in actions:
        wanted, now = want(action), seen.get(action.resource)
        if now == wanted:
            outcomes.append(Outcome(action, True, {MARK_TAG: now} if now else {"marked": False}))
        else:
            found = f"{MARK_TAG}={now}" if now is not None else f"no {MARK_TAG}"
            error = failures.get(action.resource) or f"{action.action} not verified: DescribeTags shows {found}"
            outcomes.append(Outcome(action, False, {MARK_TAG: now} if now else {}, error=error))
    return outcomes


def _ec2_mark_values(ec2: Any, resources: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for batch in in_batches(resources, FILTER_BATCH):
        filters = [{"Name": "resource-id", "Values": batch}, {"Name": "key", "Values": [MARK_TAG]}]
        for page in ec2.get_paginator("describe_tags").paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
            found.update(
                (t["ResourceId"], str(t.get("Value", ""))) for t in page.get("Tags", []) if t["Key"] == MARK_TAG
            )
    return found


def _stop(
    ec2: Any,
    actions: list[Action],
    target: Target,
    config: FinOpsConfig,
    clocks: Any,
    sleep: Callable[[float], None],
    max_wait_seconds: float,
) -> list[Outcome]:
    try:
        fresh = {
            str(i["InstanceId"]): i
            for batch in in_batches([a.resource for a in actions], FILTER_BATCH)
            for i in instances(ec2, batch)
        }
    except AWS_ERRORS as err:
        return [Outcome(a, False, error=f"not stopped: the re-check failed: {error_text(err)}") for a in actions]
    results: dict[str, Outcome] = {}
    due: list[Action] = []
    for action in actions:
        described = fresh.get(action.resource)
        if described is None:
            results[action.resource] = Outcome(action, True, {"state": "terminated", "already_gone": True})
            continue
        blocked = stop_blocked(instance_of(described), target, config, clocks)
        if blocked is not None:
            results[action.resource] = Outcome(action, False, error=f"not stopped: changed since the plan ({blocked})")
            continue
        due.append(action)
    if due:
        stopped = scheduler_ec2.apply(ec2, due, sleep=sleep, max_wait_seconds=max_wait_seconds)
        results.update((o.action.resource, o) for o in stopped)
    return [results[a.resource] for a in actions]


# -- RDS -----------------------------------------------------------------------------------------------------------


def _rds_marks(rds: Any, actions: list[Action]) -> list[Outcome]:
    outcomes = []
    for action in actions:
        arn, value = str(action.details["arn"]), str(action.details["deadline"])
        try:
            rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": MARK_TAG, "Value": value}])
        except AWS_ERRORS as err:
            outcomes.append(Outcome(action, False, error=f"could not mark: {error_text(err)}"))
            continue
        outcomes.append(_rds_verified(rds, action, value))
    return outcomes


def _rds_unmarks(rds: Any, actions: list[Action]) -> list[Outcome]:
    outcomes = []
    for action in actions:
        try:
            rds.remove_tags_from_resource(ResourceName=str(action.details["arn"]), TagKeys=[MARK_TAG])
        except AWS_ERRORS as err:
            outcomes.append(Outcome(action, False, error=f"could not unmark: {error_text(err)}"))
            continue
        outcomes.append(_rds_verified(rds, action, None))
    return outcomes


def _rds_verified(rds: Any, action: Action, wanted: str | None) -> Outcome:
    try:
        tags = rds.list_tags_for_resource(ResourceName=str(action.details["arn"])).get("TagList", [])
    except AWS_ERRORS as err:
        return Outcome(action, False, error=f"{action.action} accepted, not verified: {error_text(err)}")
    now = next((str(t.get("Value", "")) for t in tags if t["Key"] == MARK_TAG), None)
    if now == wanted:
        return Outcome(action, True, {MARK_TAG: now} if now else {"marked": False})
    found = f"{MARK_TAG}={now}" if now is not None else f"no {MARK_TAG}"
    return Outcome(action, False, {}, error=f"{action.action} not verified: ListTagsForResource shows {found}")
