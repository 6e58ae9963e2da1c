"""Stop and start RDS DB instances and Aurora clusters, tag what was stopped with the run's clock, verify.

Each resource is read first (DescribeDBInstances / DescribeDBClusters, by identifier filter, in batches) and refused
without any call when AWS cannot stop it by itself: a cluster member, a read replica, the source of replicas (moto
lets that source stop; AWS does not), a replica or global cluster. A successful stop is tagged
``finops:scheduler-stopped-at`` (AddTagsToResource): RDS starts a stopped database by itself after 7 days, and the
planner tells that restart from a person's start by this tag.

Verified by reading back: a stop when stopping/stopped (and tagged), a start when starting/available. RDS takes
minutes to get there and may still fail a start later (e.g. for capacity); the next run's fresh read sees that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from finops.aws.batch import in_batches
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome
from finops.rules.scheduler_tags import STOPPED_AT_TAG, stopped_at_value
from finops.services.scheduler.inventory import cluster_not_schedulable, db_not_schedulable, rds_state

PERMISSIONS: tuple[str, ...] = (
    "rds:AddTagsToResource",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:StartDBCluster",
    "rds:StartDBInstance",
    "rds:StopDBCluster",
    "rds:StopDBInstance",
)
VERBS = ("stop", "start")
DESCRIBE_BATCH = 50  # identifiers per describe call (as a db-instance-id / db-cluster-id filter)

_SETTLING = {"stop": ("stopping", "stopped"), "start": ("starting", "available")}


@dataclass(frozen=True, slots=True)
class _Api:
    """The calls and fields that differ between a DB instance and an Aurora cluster."""

    noun: str
    describe: str
    filter_name: str
    items: str
    id_key: str
    status_key: str
    arn_key: str
    stop: str
    start: str
    not_schedulable: Callable[[Mapping[str, Any]], str | None]


_APIS = {
    "rds:db": _Api(
        noun="DB instance",
        describe="describe_db_instances",
        filter_name="db-instance-id",
        items="DBInstances",
        id_key="DBInstanceIdentifier",
        status_key="DBInstanceStatus",
        arn_key="DBInstanceArn",
        stop="stop_db_instance",
        start="start_db_instance",
        not_schedulable=db_not_schedulable,
    ),
    "rds:cluster": _Api(
        noun="Aurora cluster",
        describe="describe_db_clusters",
        filter_name="db-cluster-id",
        items="DBClusters",
        id_key="DBClusterIdentifier",
        status_key="Status",
        arn_key="DBClusterArn",
        stop="stop_db_cluster",
        start="start_db_cluster",
        not_schedulable=cluster_not_schedulable,
    ),
}


def apply(rds: Any, actions: Sequence[Action], *, now: datetime) -> list[Outcome]:
    """Carry out ``actions`` (kinds ``rds:db``, ``rds:cluster``) and verify each; one outcome per action, in order."""
    stopped_at = stopped_at_value(now)
    _validate(actions)
    outcomes: dict[tuple[str, str], Outcome] = {}
    for kind, api in _APIS.items():
        mine = [a for a in actions if a.kind == kind]
        if not mine:
            continue
        before = _describe(rds, api, [a.resource for a in mine])
        acted: dict[str, str | None] = {}  # identifier -> what went wrong after the call went through, if anything
        for action in mine:
            result = _act(rds, api, action, before.get(action.resource), stopped_at)
            if isinstance(result, Outcome):
                outcomes[(kind, action.resource)] = result
            else:
                acted[action.resource] = result
        after = _describe(rds, api, list(acted))
        for action in mine:
            if action.resource in acted:
                outcomes[(kind, action.resource)] = _verify(
                    api, action, after.get(action.resource), stopped_at, acted[action.resource]
                )
    return [outcomes[(a.kind, a.resource)] for a in actions]


def _validate(actions: Sequence[Action]) -> None:
    seen: set[tuple[str, str]] = set()
    for action in actions:
        if action.kind not in _APIS or action.action not in VERBS:
            raise ValueError(f"not an RDS action: {action.kind} {action.action}")
        if (action.kind, action.resource) in seen:
            raise ValueError(f"two actions for {action.kind} {action.resource} in one plan")
        seen.add((action.kind, action.resource))


def _act(
    rds: Any, api: _Api, action: Action, described: Mapping[str, Any] | ClientError | None, stopped_at: str
) -> Outcome | str | None:
    """A failed ``Outcome``; else the call went through: None, or what went wrong after it (the tag)."""
    if isinstance(described, ClientError):
        return Outcome(action, False, error=f"could not read the {api.noun}: {error_text(described)}")
    if described is None:
        return Outcome(action, False, error=f"{api.noun} {action.resource} not found")
    refusal = api.not_schedulable(described)
    if refusal is not None:
        return Outcome(action, False, error=f"refused: {refusal}")
    try:
        getattr(rds, api.stop if action.action == "stop" else api.start)(**{api.id_key: action.resource})
    except ClientError as err:
        return Outcome(action, False, error=error_text(err))
    if action.action != "stop":
        return None
    try:
        rds.add_tags_to_resource(
            ResourceName=described[api.arn_key], Tags=[{"Key": STOPPED_AT_TAG, "Value": stopped_at}]
        )
    except ClientError as err:
        return f"stopped, but tag {STOPPED_AT_TAG} not written: {error_text(err)}"
    return None


def _describe(rds: Any, api: _Api, identifiers: Sequence[str]) -> dict[str, Mapping[str, Any] | ClientError]:
    """Each identifier's description (absent: not found), or the error of the call that should have said."""
    found: dict[str, Mapping[str, Any] | ClientError] = {}
    for batch in in_batches(identifiers, DESCRIBE_BATCH):
        try:
            pages = rds.get_paginator(api.describe).paginate(
                Filters=[{"Name": api.filter_name, "Values": batch}], PaginationConfig={"PageSize": 100}
            )
            found.update((item[api.id_key], item) for page in pages for item in page[api.items])
        except ClientError as err:
            found.update(dict.fromkeys(batch, err))
    return found


def _verify(
    api: _Api,
    action: Action,
    described: Mapping[str, Any] | ClientError | None,
    stopped_at: str,
    problem: str | None,
) -> Outcome:
    if isinstance(described, ClientError):
        return Outcome(action, False, error=f"could not verify: {error_text(described)}")
    if described is None:
        return Outcome(action, False, error=f"{api.noun} {action.resource} not found when verifying")
    raw = str(described[api.status_key])
    after: dict[str, Any] = {"state": rds_state(raw), "raw_state": raw}
    tags = {t["Key"]: t.get("Value", "") for t in described.get("TagList", ())}
    if action.action == "stop" and STOPPED_AT_TAG in tags:
        after["stopped_at"] = tags[STOPPED_AT_TAG]
    if raw not in _SETTLING[action.action]:
        return Outcome(
            action, False, after, f"{raw} after {action.action} (expected {' or '.join(_SETTLING[action.action])})"
        )
    if problem is not None:
        return Outcome(action, False, after, problem)
    if action.action == "stop" and tags.get(STOPPED_AT_TAG) != stopped_at:
        return Outcome(
            action, False, after, f"tag {STOPPED_AT_TAG} reads {tags.get(STOPPED_AT_TAG)!r}, expected {stopped_at!r}"
        )
    return Outcome(action, True, after)
