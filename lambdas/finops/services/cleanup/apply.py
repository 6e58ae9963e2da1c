"""Carry out a clean-up plan in one target, re-checking every resource fresh just before it is deleted.

In this order:
1. Marks: one ``CreateTags`` call for many resources (the two mark tags, the same values for every resource marked
   in this run with the same planned action); a failed batch is bisected to the resources it failed for.
2. Unmarks: ``DeleteTags`` of the two mark tags, batched the same way.
3. gp2 -> gp3: ``ModifyVolume`` one volume at a time, verified by reading the volume's type back.
4. Snapshot deletions: the snapshots are read again (and the account's AMIs, disabled and deprecated included) and
   each must still pass every test of the planner before ``DeleteSnapshot``.
5. Volume deletions: the volumes are read again and re-judged by the planner's own rules; each gets its final
   snapshot (tags copied, description naming the volume, type, size, AZ, IOPS) unless the config turns it off, and
   is deleted only once that snapshot is ``completed``; a snapshot still pending when the wait ends leaves the volume
   marked for the next run, which reuses the snapshot instead of making another.
Every deletion is verified by reading again: gone (or ``deleting``) is done; ``NotFound`` counts as already done.
Throttling is retried by the client (standard mode, 8 attempts); what remains is a per-item failure, an outcome,
never an exception, and never reported as deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.clients import AccountScope
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome, RunContext, Target
from finops.models.config import FinOpsConfig
from finops.models.storage import StorageInventory
from finops.rules.cleanup_plan import (
    DELETE_ACTION,
    GP3,
    MARK,
    SNAPSHOT,
    UNMARK,
    VOLUME,
    snapshot_verdict,
    volume_verdict,
)
from finops.rules.cleanup_tags import (
    ACTION_TAG,
    AFTER_TAG,
    DELETE,
    FINAL_OF_TAG,
    MARK_TAGS,
    MAX_TAGS,
    OUR_TAGS,
    RECORD_TAG,
    SNAPSHOT_AND_DELETE,
    VOLUME_SPEC_TAG,
    volume_spec_value,
)
from finops.services.audit import record_id
from finops.services.cleanup.inventory import image_snapshots, snapshot_of, volume_of

PERMISSIONS: tuple[str, ...] = (
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:DeleteSnapshot",
    "ec2:DeleteTags",
    "ec2:DeleteVolume",
    "ec2:DescribeImages",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "ec2:ModifyVolume",
)
TAG_BATCH = 500  # resources per CreateTags / DeleteTags call
FILTER_BATCH = 200  # values per describe filter
POLL_SECONDS = 5.0

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class _Env:
    scope: AccountScope
    ec2: Any
    target: Target
    ctx: RunContext
    config: FinOpsConfig
    sleep: Callable[[float], None]
    max_wait_seconds: float


def apply(
    scope: AccountScope,
    actions: Sequence[Action],
    *,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_seconds: float = 60.0,
) -> list[Outcome]:
    """One verified outcome per action, in the order given."""
    _validate(actions)
    env = _Env(scope, scope.client("ec2"), target, ctx, config, sleep, max_wait_seconds)
    outcomes: dict[int, Outcome] = {}

    def run(select: Callable[[Action], bool], carry_out: Callable[[_Env, list[Action]], list[Outcome]]) -> None:
        indexes = [i for i, a in enumerate(actions) if select(a) and i not in outcomes]
        if indexes:
            outcomes.update(zip(indexes, carry_out(env, [actions[i] for i in indexes]), strict=True))

    unmarked_first = {i for i, a in enumerate(actions) if _needs_mark(a)}
    marked = _mark(env, [actions[i] for i in sorted(unmarked_first)])
    for i, failed in zip(sorted(unmarked_first), marked, strict=True):
        if failed is not None or actions[i].action == MARK:
            outcomes[i] = failed or Outcome(actions[i], True, {"marked": True, **_mark_values(actions[i])})
    run(lambda a: a.action == UNMARK, _unmark)
    run(lambda a: a.action == GP3, _gp3)
    run(lambda a: a.action == DELETE_ACTION and a.kind == SNAPSHOT, _delete_snapshots)
    run(lambda a: a.action == DELETE_ACTION and a.kind == VOLUME, _delete_volumes)
    result = [outcomes[i] for i in range(len(actions))]
    for outcome in result:
        if not outcome.ok:
            logger.warning(
                "clean-up action failed",
                extra={
                    **scope.log_keys(),
                    "resource": outcome.action.resource,
                    "action": outcome.action.action,
                    "error": outcome.error,
                },
            )
    logger.info(
        "clean-up actions applied",
        extra={**scope.log_keys(), "ok": sum(o.ok for o in result), "failed": sum(not o.ok for o in result)},
    )
    return result


def _validate(actions: Sequence[Action]) -> None:
    seen: set[str] = set()
    for action in actions:
        if action.kind not in (VOLUME, SNAPSHOT) or action.action not in (MARK, UNMARK, DELETE_ACTION, GP3):
            raise ValueError(f"the clean-up cannot {action.action!r} a {action.kind!r} ({action.resource})")
        if action.action == GP3 and action.kind != VOLUME:
            raise ValueError(f"gp3 applies to volumes only ({action.resource})")
        if action.resource in seen:
            raise ValueError(f"two actions for {action.resource} in one plan")
        seen.add(action.resource)


def _needs_mark(action: Action) -> bool:
    return action.action == MARK or (action.action == DELETE_ACTION and action.details.get("marked") is False)


def _mark_values(action: Action) -> dict[str, str]:
    planned = SNAPSHOT_AND_DELETE if action.kind == VOLUME and action.details.get("final_snapshot") else DELETE
    return {ACTION_TAG: planned, AFTER_TAG: str(action.details["delete_after"])}


# -- marks -------------------------------------------------------------------------------------------------------


def _mark(env: _Env, actions: list[Action]) -> list[Outcome | None]:
    """None for each resource marked; a failed outcome for the others."""
    failures: dict[str, str] = {}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for action in actions:
        groups.setdefault(tuple(sorted(_mark_values(action).items())), []).append(action.resource)
    for values, resources in groups.items():
        tags = [{"Key": k, "Value": v} for k, v in values]

        def tag(part: list[str], tags: list[dict[str, str]] = tags) -> Any:
            return env.ec2.create_tags(Resources=part, Tags=tags)

        for batch in in_batches(resources, TAG_BATCH):
            done = bisect(batch, tag)
            failures.update((resource, f"could not mark: {error_text(err)}") for resource, err in done.failed)
    return [Outcome(a, False, error=failures[a.resource]) if a.resource in failures else None for a in actions]


def _unmark(env: _Env, actions: list[Action]) -> list[Outcome]:
    failures: dict[str, str] = {}
    keys = [{"Key": key} for key in MARK_TAGS]
    for batch in in_batches([a.resource for a in actions], TAG_BATCH):
        done = bisect(batch, lambda part: env.ec2.delete_tags(Resources=part, Tags=keys))
        failures.update((resource, f"could not unmark: {error_text(err)}") for resource, err in done.failed)
    return [
        Outcome(a, False, error=failures[a.resource]) if a.resource in failures else Outcome(a, True, {"marked": False})
        for a in actions
    ]


# -- gp2 -> gp3 --------------------------------------------------------------------------------------------------


def _gp3(env: _Env, actions: list[Action]) -> list[Outcome]:
    outcomes = []
    for action in actions:
        try:
            env.ec2.modify_volume(
                VolumeId=action.resource,
                VolumeType="gp3",
                Iops=int(action.details["iops"]),
                Throughput=int(action.details["throughput"]),
            )
        except ClientError as err:
            outcomes.append(Outcome(action, False, error=error_text(err)))
            continue
        fresh = _describe_volumes(env, [action.resource]).get(action.resource)
        kind = fresh.get("VolumeType") if fresh else None
        if kind == "gp3":
            outcomes.append(Outcome(action, True, {"volume_type": "gp3", "iops": fresh.get("Iops") if fresh else None}))
        else:
            # ModifyVolume goes through "modifying" -> "optimizing"; the type shows gp3 once it is accepted.
            outcomes.append(Outcome(action, True, {"volume_type": kind, "modification": "accepted, in progress"}))
    return outcomes


# -- snapshots ---------------------------------------------------------------------------------------------------


def _delete_snapshots(env: _Env, actions: list[Action]) -> list[Outcome]:
    fresh = _describe_snapshots(env, [a.resource for a in actions])
    images = image_snapshots(
        (
            image
            for page in env.ec2.get_paginator("describe_images").paginate(
                Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True, PaginationConfig={"PageSize": 1000}
            )
            for image in page.get("Images", [])
        ),
        env.ctx.now,
    )
    outcomes = []
    for action in actions:
        described = fresh.get(action.resource)
        if described is None:
            outcomes.append(Outcome(action, True, {"deleted": True, "already_gone": True}))
            continue
        # Sharing was looked up a moment ago by the read; re-judge everything else on what EC2 says now.
        snapshot = snapshot_of(described)
        snapshot = type(snapshot)(**{**_fields(snapshot), "shared_with": ()})
        inventory = StorageInventory(snapshots=(snapshot,), image_snapshots=images)
        verdict = snapshot_verdict(snapshot, inventory, env.target, env.ctx.now, env.config)
        if verdict.eligible and AFTER_TAG not in snapshot.tags:
            outcomes.append(Outcome(action, False, error="not deleted: its mark is gone (removed by hand?)"))
            continue
        if not verdict.eligible:
            outcomes.append(Outcome(action, False, error=f"not deleted: changed since the plan ({verdict.reason})"))
            continue
        outcomes.append(_delete_one(env, action, partial(env.ec2.delete_snapshot, SnapshotId=action.resource)))
    return _verify_gone(env, outcomes, _describe_snapshots)


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _delete_one(env: _Env, action: Action, call: Callable[[], Any], **after: Any) -> Outcome:
    try:
        call()
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code.endswith(".NotFound"):
            return Outcome(action, True, {"deleted": True, "already_gone": True, **after})
        return Outcome(action, False, after, error=error_text(err))
    return Outcome(action, True, {"deleted": True, **after})


def _verify_gone(
    env: _Env, outcomes: list[Outcome], describe: Callable[[_Env, list[str]], Mapping[str, Mapping[str, Any]]]
) -> list[Outcome]:
    """A deletion counts only when a fresh read no longer shows the resource (or shows it ``deleting``)."""
    claimed = [
        o.action.resource for o in outcomes if o.ok and o.after.get("deleted") and not o.after.get("already_gone")
    ]
    still = describe(env, claimed) if claimed else {}
    verified = []
    for outcome in outcomes:
        left = still.get(outcome.action.resource)
        if outcome.ok and left is not None and left.get("State") not in ("deleting", "deleted"):
            verified.append(
                Outcome(
                    outcome.action,
                    False,
                    outcome.after,
                    error=f"deletion not verified: still {left.get('State')} after DeleteSnapshot/DeleteVolume",
                )
            )
        else:
            verified.append(outcome)
    return verified


# -- volumes -----------------------------------------------------------------------------------------------------


def _delete_volumes(env: _Env, actions: list[Action]) -> list[Outcome]:
    fresh = _describe_volumes(env, [a.resource for a in actions])
    results: dict[str, Outcome] = {}
    eligible: list[Action] = []
    for action in actions:
        described = fresh.get(action.resource)
        if described is None:
            results[action.resource] = Outcome(action, True, {"deleted": True, "already_gone": True})
            continue
        volume = volume_of(described)
        verdict = volume_verdict(volume, env.target, env.ctx.now, env.config)
        if verdict.eligible and AFTER_TAG not in volume.tags:
            results[action.resource] = Outcome(action, False, error="not deleted: its mark is gone (removed by hand?)")
            continue
        if not verdict.eligible:
            results[action.resource] = Outcome(
                action, False, error=f"not deleted: changed since the plan ({verdict.reason})"
            )
            continue
        eligible.append(action)
    snapshots: dict[str, str] = {}
    if env.config.capabilities.ebs_cleanup.volumes.final_snapshot and eligible:
        snapshots, failed = _final_snapshots(env, eligible, fresh)
        for resource, outcome in failed.items():
            results[resource] = outcome
    for action in eligible:
        if action.resource in results:
            continue
        snapshot = snapshots.get(action.resource)
        after = {"final_snapshot": snapshot, "record_id": _record(env, action)} if snapshot else {}
        results[action.resource] = _delete_one(
            env, action, partial(env.ec2.delete_volume, VolumeId=action.resource), **after
        )
    return _verify_gone(env, [results[a.resource] for a in actions], _describe_volumes)


def _record(env: _Env, action: Action) -> str:
    return record_id(env.ctx.run_id, env.scope.account, env.scope.region, action.resource)


def _final_snapshots(
    env: _Env, actions: list[Action], fresh: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, str], dict[str, Outcome]]:
    """The completed final snapshot of each volume (made now, or by an earlier run whose snapshot was still pending),
    and a failed outcome for each volume without one: those are not deleted."""
    existing = _existing_final_snapshots(env, [a.resource for a in actions])
    by_volume: dict[str, str] = {}
    failed: dict[str, Outcome] = {}
    for action in actions:
        record = _record(env, action)
        earlier = existing.get(action.resource)
        if earlier is not None:
            by_volume[action.resource] = earlier["SnapshotId"]
            try:  # point the snapshot at this run's record: that is the deletion the restore undoes
                env.ec2.create_tags(Resources=[earlier["SnapshotId"]], Tags=[{"Key": RECORD_TAG, "Value": record}])
            except ClientError as err:
                failed[action.resource] = Outcome(
                    action, False, error=f"final snapshot not re-tagged: {error_text(err)}"
                )
            continue
        volume = fresh[action.resource]
        try:
            created = env.ec2.create_snapshot(
                VolumeId=action.resource,
                Description=_description(volume, record),
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": _snapshot_tags(volume, record)}],
            )
        except ClientError as err:
            failed[action.resource] = Outcome(action, False, error=f"final snapshot failed: {error_text(err)}")
            continue
        by_volume[action.resource] = str(created["SnapshotId"])
    waiting = {v: s for v, s in by_volume.items() if v not in failed}
    states = _wait_completed(env, list(waiting.values()))
    completed: dict[str, str] = {}
    for action in actions:
        snapshot = waiting.get(action.resource)
        if snapshot is None:
            continue
        state = states.get(snapshot, "missing")
        if state == "completed":
            completed[action.resource] = snapshot
        else:
            failed[action.resource] = Outcome(
                action,
                False,
                {"final_snapshot": snapshot},
                error=f"final snapshot {snapshot} {state}, not completed within {env.max_wait_seconds:g} s: the volume "
                "stays marked and the next run deletes it once the snapshot completes",
            )
    return completed, failed


def _description(volume: Mapping[str, Any], record: str) -> str:
    iops = f", {volume['Iops']} IOPS" if volume.get("Iops") else ""
    throughput = f", {volume['Throughput']} MiB/s" if volume.get("Throughput") else ""
    text = (
        f"FinOps final snapshot of {volume['VolumeId']} ({volume.get('VolumeType')}, {volume['Size']} GiB, "
        f"{volume['AvailabilityZone']}{iops}{throughput}) before clean-up deleted it; "
        f"restore: make restore RECORD={record}"
    )
    return text[:255]


def _snapshot_tags(volume: Mapping[str, Any], record: str) -> list[dict[str, str]]:
    ours = {
        FINAL_OF_TAG: str(volume["VolumeId"]),
        RECORD_TAG: record,
        VOLUME_SPEC_TAG: volume_spec_value(
            volume_type=str(volume.get("VolumeType")),
            size_gb=int(volume["Size"]),
            zone=str(volume["AvailabilityZone"]),
            iops=volume.get("Iops"),
            throughput=volume.get("Throughput"),
            multi_attach=bool(volume.get("MultiAttachEnabled")),
        ),
    }
    # The volume's own tags, but not AWS's (aws: keys cannot be written) nor our marks; at most 50 in all (the audit
    # record keeps every tag).
    copied = [
        {"Key": t["Key"], "Value": t.get("Value", "")}
        for t in volume.get("Tags", [])
        if not t["Key"].lower().startswith("aws:") and t["Key"] not in OUR_TAGS
    ]
    return [*[{"Key": k, "Value": v} for k, v in ours.items()], *copied][:MAX_TAGS]


def _existing_final_snapshots(env: _Env, volumes: list[str]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for batch in in_batches(volumes, FILTER_BATCH):
        pages = env.ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{FINAL_OF_TAG}", "Values": batch}]
        )
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                if snapshot.get("State") in ("pending", "completed"):
                    found.setdefault(_tag(snapshot, FINAL_OF_TAG), snapshot)
    return found


def _tag(described: Mapping[str, Any], key: str) -> str:
    return next((t.get("Value", "") for t in described.get("Tags", []) if t["Key"] == key), "")


def _wait_completed(env: _Env, snapshot_ids: list[str]) -> dict[str, str]:
    waited = 0.0
    while True:
        states = {i: str(s.get("State")) for i, s in _describe_snapshots(env, snapshot_ids).items()}
        if all(states.get(i) != "pending" for i in snapshot_ids) or waited >= env.max_wait_seconds:
            return states
        env.sleep(POLL_SECONDS)
        waited += POLL_SECONDS


# -- fresh reads -------------------------------------------------------------------------------------------------


def _describe_volumes(env: _Env, ids: list[str]) -> dict[str, Mapping[str, Any]]:
    return _describe(env.ec2, "describe_volumes", "Volumes", "VolumeId", "volume-id", ids)


def _describe_snapshots(env: _Env, ids: list[str]) -> dict[str, Mapping[str, Any]]:
    return _describe(env.ec2, "describe_snapshots", "Snapshots", "SnapshotId", "snapshot-id", ids, OwnerIds=["self"])


def _describe(
    ec2: Any, operation: str, key: str, id_key: str, name: str, ids: list[str], **kwargs: Any
) -> dict[str, Mapping[str, Any]]:
    """By filter, not by id: a filter leaves out what is gone, where ids would fail the whole call with NotFound."""
    found: dict[str, Mapping[str, Any]] = {}
    for batch in in_batches(ids, FILTER_BATCH):
        for page in ec2.get_paginator(operation).paginate(Filters=[{"Name": name, "Values": batch}], **kwargs):
            found.update((item[id_key], item) for item in page.get(key, []))
    return found
