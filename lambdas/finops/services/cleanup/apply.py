"""Carry out a clean-up plan in one target, re-checking every resource fresh just before it is deleted.

In this order:
1. Marks: one ``CreateTags`` call for many resources (the two mark tags, the same values for every resource marked
   in this run with the same planned action); a failed batch is bisected to the resources it failed for.
2. Unmarks: ``DeleteTags`` of the two mark tags, batched the same way.
3. gp2 -> gp3: ``ModifyVolume`` one volume at a time, verified by reading the volume's type back.
4. and 5. side by side (different resources, different API buckets), each in its own order:
4. Snapshot deletions: the snapshots are read again (and the account's AMIs, disabled and deprecated included) and
   each must still pass every test of the planner, and its mark's date must have passed (by the run's clock and the
   wall clock), before ``DeleteSnapshot``.
5. Volume deletions: the volumes are read again and re-judged the same way; each gets its final snapshot (tags
   copied, description naming the volume, type, size, AZ, IOPS) when its mark says ``snapshot-and-delete`` or the
   config asks for one, and is deleted only once that snapshot is ``completed`` and one more read of the volume
   shows it still eligible (not tagged prod or protected while the snapshot was made). A snapshot still pending
   when the wait ends leaves the volume marked for the next run, which reuses that snapshot: only one tagged
   ``finops:for-mark`` with the volume's current mark, never a final snapshot of an earlier episode.
Every deletion is verified by reading again: gone (or ``deleting``) is done; ``NotFound`` counts as already done.

The calls made once per resource (the final snapshots or their re-tags, DeleteSnapshot, DeleteVolume) run a few at a
time (:func:`finops.aws.rate.each`, ``workers``) within EC2's documented rate for each action (``rates``). Only the
calls inside one step overlap: each step above ends, every outcome of it known, before the next begins, so a volume's
final snapshot has completed and its last re-read has passed before its DeleteVolume is sent, as one at a time.
Throttling is retried by the client (standard mode, 8 attempts); what remains (a ``ClientError``, a timeout or any
other ``BotoCoreError``, from a call that changes something or from a read between them) is a per-item failure, an
outcome, never an exception, and never reported as deleted: ``apply`` always returns an outcome for every action,
so every change made is audited with its before-state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.clients import AccountScope
from finops.aws.errors import error_text
from finops.aws.rate import EC2_RATES, PER_RESOURCE_WORKERS, Rate, RateLimits, each
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
    RunClocks,
    deletion_blocked,
    run_clocks,
    snapshot_verdict,
    volume_verdict,
)
from finops.rules.cleanup_tags import (
    ACTION_TAG,
    AFTER_TAG,
    DELETE,
    FINAL_OF_TAG,
    FOR_MARK_TAG,
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
# resources per CreateTags / DeleteTags call: the EC2 API reference allows "up to 1000 resource IDs"; a failed
# batch is bisected to the resources it failed for
TAG_BATCH = 1000
FILTER_BATCH = 200  # values per describe filter
POLL_SECONDS = 5.0

logger = Logger(child=True)
AWS_ERRORS = (ClientError, BotoCoreError)  # what an AWS call raises once the client's retries are spent


@dataclass(frozen=True, slots=True)
class _Env:
    scope: AccountScope
    ec2: Any
    target: Target
    ctx: RunContext
    config: FinOpsConfig
    sleep: Callable[[float], None]
    max_wait_seconds: float
    clocks: RunClocks
    workers: int = PER_RESOURCE_WORKERS


def apply(
    scope: AccountScope,
    actions: Sequence[Action],
    *,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    sleep: Callable[[float], None] = time.sleep,
    max_wait_seconds: float = 60.0,
    wall_now: datetime | None = None,
    rates: Mapping[str, Rate] | None = EC2_RATES,
    workers: int = PER_RESOURCE_WORKERS,
) -> list[Outcome]:
    """One verified outcome per action, in the order given; ``wall_now``: the worker's wall clock (the plan's).
    ``rates``: the client-side limits of the per-resource calls (None: none, for a mock that never throttles),
    made on ``workers`` threads."""
    _validate(actions)
    clocks = run_clocks(ctx.now, wall_now)
    ec2 = scope.client("ec2")
    if rates is not None:
        RateLimits(rates).limit(ec2)
    env = _Env(scope, ec2, target, ctx, config, sleep, max_wait_seconds, clocks, workers)
    outcomes: dict[int, Outcome] = {}

    def run(select: Callable[[Action], bool], carry_out: Callable[[_Env, list[Action]], list[Outcome]]) -> None:
        indexes = [i for i, a in enumerate(actions) if select(a) and i not in outcomes]
        if not indexes:
            return
        mine = [actions[i] for i in indexes]
        try:
            done = carry_out(env, mine)
        except Exception as exc:  # a phase's own handling missed it: its actions fail; the others' outcomes stand
            logger.exception("clean-up phase failed", extra={**scope.log_keys(), "actions": len(mine)})
            why = error_text(exc) if isinstance(exc, AWS_ERRORS) else f"unexpected error: {type(exc).__name__}: {exc}"
            done = [Outcome(a, False, error=f"{a.action} not verified: {why}") for a in mine]
        outcomes.update(zip(indexes, done, strict=True))

    def mark(env: _Env, mine: list[Action]) -> list[Outcome]:
        failed = _mark(env, mine)
        return [f or Outcome(a, True, {"marked": True, **_mark_values(a)}) for a, f in zip(mine, failed, strict=True)]

    run(_needs_mark, mark)
    for i in [
        i for i, a in enumerate(actions) if _needs_mark(a)
    ]:  # marked in this run to be deleted in it (grace_days 0): the deletion's outcome counts
        if outcomes[i].ok and actions[i].action == DELETE_ACTION:
            del outcomes[i]
    run(lambda a: a.action == UNMARK, _unmark)
    run(lambda a: a.action == GP3, _gp3)
    # Snapshot and volume deletions touch different resources and different API buckets (DeleteSnapshot; CreateSnapshot
    # then DeleteVolume), so they run side by side: each phase keeps its own order, and neither's reads depend on
    # the other's changes (the snapshot phase acts only on the snapshots planned, never on a final snapshot made now).
    with ThreadPoolExecutor(max_workers=2) as phases:
        for running in [
            phases.submit(run, lambda a: a.action == DELETE_ACTION and a.kind == SNAPSHOT, _delete_snapshots),
            phases.submit(run, lambda a: a.action == DELETE_ACTION and a.kind == VOLUME, _delete_volumes),
        ]:
            running.result()
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
            try:
                done = bisect(batch, tag)
            except BotoCoreError as err:  # no answer: the batch may or may not carry the mark; the next read shows
                failures.update((r, f"could not mark (outcome unknown): {error_text(err)}") for r in batch)
                continue
            failures.update((resource, f"could not mark: {error_text(err)}") for resource, err in done.failed)
    return [Outcome(a, False, error=failures[a.resource]) if a.resource in failures else None for a in actions]


def _unmark(env: _Env, actions: list[Action]) -> list[Outcome]:
    failures: dict[str, str] = {}
    keys = [{"Key": key} for key in MARK_TAGS]
    for batch in in_batches([a.resource for a in actions], TAG_BATCH):
        try:
            done = bisect(batch, lambda part: env.ec2.delete_tags(Resources=part, Tags=keys))
        except BotoCoreError as err:
            failures.update((r, f"could not unmark (outcome unknown): {error_text(err)}") for r in batch)
            continue
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
        except AWS_ERRORS as err:
            outcomes.append(Outcome(action, False, error=error_text(err)))
            continue
        try:
            fresh = _describe_volumes(env, [action.resource]).get(action.resource)
        except AWS_ERRORS as err:
            outcomes.append(
                Outcome(
                    action,
                    False,
                    {"modification": "requested"},
                    error=f"ModifyVolume accepted, not verified: {error_text(err)}",
                )
            )
            continue
        kind = fresh.get("VolumeType") if fresh else None
        if kind == "gp3":
            outcomes.append(Outcome(action, True, {"volume_type": "gp3", "iops": fresh.get("Iops") if fresh else None}))
        else:
            # ModifyVolume goes through "modifying" -> "optimizing"; the type shows gp3 once it is accepted.
            outcomes.append(Outcome(action, True, {"volume_type": kind, "modification": "accepted, in progress"}))
    return outcomes


# -- snapshots ---------------------------------------------------------------------------------------------------


def _not_rechecked(actions: list[Action], err: Exception, when: str = "before deleting") -> list[Outcome]:
    return [Outcome(a, False, error=f"not deleted: the re-check {when} failed: {error_text(err)}") for a in actions]


def _delete_snapshots(env: _Env, actions: list[Action]) -> list[Outcome]:
    try:
        fresh = _describe_snapshots(env, [a.resource for a in actions])
        images = image_snapshots(
            (
                image
                for page in env.ec2.get_paginator("describe_images").paginate(
                    Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True, PaginationConfig={"PageSize": 1000}
                )
                for image in page.get("Images", [])
            ),
            env.clocks.judge,
        )
    except AWS_ERRORS as err:
        return _not_rechecked(actions, err)
    cleanup = env.config.capabilities.ebs_cleanup
    judged: dict[str, Outcome] = {}
    for action in actions:
        described = fresh.get(action.resource)
        if described is None:
            judged[action.resource] = Outcome(action, True, {"deleted": True, "already_gone": True})
            continue
        # Sharing was looked up a moment ago by the read; re-judge everything else on what EC2 says now.
        snapshot = snapshot_of(described)
        snapshot = type(snapshot)(**{**_fields(snapshot), "shared_with": ()})
        inventory = StorageInventory(snapshots=(snapshot,), image_snapshots=images)
        verdict = snapshot_verdict(snapshot, inventory, env.target, env.clocks.judge, env.config)
        if not verdict.eligible:
            judged[action.resource] = Outcome(
                action, False, error=f"not deleted: changed since the plan ({verdict.reason})"
            )
            continue
        blocked = deletion_blocked(snapshot.tags, snapshot.started, cleanup, env.clocks)
        if blocked:
            judged[action.resource] = Outcome(action, False, error=f"not deleted: {blocked}")
    due = [a for a in actions if a.resource not in judged]  # re-checked just now, each still eligible and due

    def delete(action: Action) -> Outcome:
        return _delete_one(env, action, partial(env.ec2.delete_snapshot, SnapshotId=action.resource))

    judged.update(zip((a.resource for a in due), each(delete, due, workers=env.workers), strict=True))
    return _verify_gone(env, [judged[a.resource] for a in actions], _describe_snapshots)


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
    except BotoCoreError as err:  # no answer: it may be gone or not; the next run's fresh read shows which
        return Outcome(action, False, {"deleted": "unknown", **after}, error=f"outcome unknown: {error_text(err)}")
    return Outcome(action, True, {"deleted": True, **after})


def _verify_gone(
    env: _Env, outcomes: list[Outcome], describe: Callable[[_Env, list[str]], Mapping[str, Mapping[str, Any]]]
) -> list[Outcome]:
    """A deletion counts only when a fresh read no longer shows the resource (or shows it ``deleting``)."""
    claimed = [
        o.action.resource for o in outcomes if o.ok and o.after.get("deleted") and not o.after.get("already_gone")
    ]
    try:
        still = describe(env, claimed) if claimed else {}
    except AWS_ERRORS as err:
        return [
            Outcome(
                o.action,
                False,
                o.after,
                error=f"deletion accepted, not verified: the read-back failed: {error_text(err)}",
            )
            if o.action.resource in claimed
            else o
            for o in outcomes
        ]
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


def _recheck_volume(env: _Env, action: Action, described: Mapping[str, Any] | None) -> Outcome | None:
    """None: still eligible and due by its fresh read; else its outcome (already gone, or why it is not deleted)."""
    if described is None:
        return Outcome(action, True, {"deleted": True, "already_gone": True})
    volume = volume_of(described)
    verdict = volume_verdict(volume, env.target, env.clocks.judge, env.config)
    if not verdict.eligible:
        return Outcome(action, False, error=f"not deleted: changed since the plan ({verdict.reason})")
    blocked = deletion_blocked(volume.tags, volume.created, env.config.capabilities.ebs_cleanup, env.clocks)
    return Outcome(action, False, error=f"not deleted: {blocked}") if blocked else None


def _wants_snapshot(action: Action, described: Mapping[str, Any]) -> bool:
    """The config asks for one, or the mark told the owner ``snapshot-and-delete``: either way, one is made."""
    return bool(action.details.get("final_snapshot")) or _tag(described, ACTION_TAG) == SNAPSHOT_AND_DELETE


def _delete_volumes(env: _Env, actions: list[Action]) -> list[Outcome]:
    try:
        fresh = _describe_volumes(env, [a.resource for a in actions])
    except AWS_ERRORS as err:
        return _not_rechecked(actions, err)
    results: dict[str, Outcome] = {}
    eligible: list[Action] = []
    for action in actions:
        rechecked = _recheck_volume(env, action, fresh.get(action.resource))
        if rechecked is not None:
            results[action.resource] = rechecked
        else:
            eligible.append(action)
    wanting = [a for a in eligible if _wants_snapshot(a, fresh[a.resource])]
    snapshots: dict[str, str] = {}
    if wanting:
        snapshots, failed = _final_snapshots(env, wanting, fresh)
        results.update(failed)
        results.update(_recheck_after_wait(env, [a for a in wanting if a.resource in snapshots], snapshots))
    due = [a for a in eligible if a.resource not in results]  # final snapshot completed and re-read, if wanted

    def delete(action: Action) -> Outcome:
        snapshot = snapshots.get(action.resource)
        after = {"final_snapshot": snapshot, "record_id": _record(env, action)} if snapshot else {}
        return _delete_one(env, action, partial(env.ec2.delete_volume, VolumeId=action.resource), **after)

    results.update(zip((a.resource for a in due), each(delete, due, workers=env.workers), strict=True))
    return _verify_gone(env, [results[a.resource] for a in actions], _describe_volumes)


def _recheck_after_wait(env: _Env, actions: list[Action], snapshots: Mapping[str, str]) -> dict[str, Outcome]:
    """The final snapshots took a while: read the volumes once more, just before DeleteVolume, and keep any that an
    owner tagged prod or protected (or unmarked) meanwhile."""
    if not actions:
        return {}
    try:
        fresh = _describe_volumes(env, [a.resource for a in actions])
    except AWS_ERRORS as err:
        return {
            a.resource: Outcome(a, False, {"final_snapshot": snapshots[a.resource]}, error=o.error)
            for a, o in zip(actions, _not_rechecked(actions, err, "after the final snapshot"), strict=True)
        }
    changed: dict[str, Outcome] = {}
    for action in actions:
        snapshot = {"final_snapshot": snapshots[action.resource], "record_id": _record(env, action)}
        rechecked = _recheck_volume(env, action, fresh.get(action.resource))
        if rechecked is not None:
            changed[action.resource] = Outcome(action, rechecked.ok, {**snapshot, **rechecked.after}, rechecked.error)
    return changed


def _record(env: _Env, action: Action) -> str:
    return record_id(env.ctx.run_id, env.scope.account, env.scope.region, action.resource)


def _final_snapshots(
    env: _Env, actions: list[Action], fresh: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, str], dict[str, Outcome]]:
    """The completed final snapshot of each volume (made now, or by an earlier run for the same mark whose snapshot
    was still pending), and a failed outcome for each volume without one: those are not deleted."""
    marks = {a.resource: _tag(fresh[a.resource], AFTER_TAG) for a in actions}
    try:
        existing = _existing_final_snapshots(env, marks)
    except AWS_ERRORS as err:
        return {}, {
            a.resource: Outcome(
                a, False, error=f"not deleted: could not look for its final snapshot: {error_text(err)}"
            )
            for a in actions
        }
    by_volume: dict[str, str] = {}
    failed: dict[str, Outcome] = {}

    def final_snapshot(action: Action) -> tuple[str | None, Outcome | None]:
        """The volume's final snapshot (an earlier one re-tagged, or made now), and a failed outcome if it has none."""
        record = _record(env, action)
        earlier = existing.get(action.resource)
        if earlier is not None:
            try:  # point the snapshot at this run's record: that is the deletion the restore undoes
                env.ec2.create_tags(Resources=[earlier["SnapshotId"]], Tags=[{"Key": RECORD_TAG, "Value": record}])
            except AWS_ERRORS as err:
                return earlier["SnapshotId"], Outcome(
                    action,
                    False,
                    {"final_snapshot": earlier["SnapshotId"]},
                    error=f"final snapshot not re-tagged: {error_text(err)}",
                )
            return earlier["SnapshotId"], None
        volume = fresh[action.resource]
        try:
            created = env.ec2.create_snapshot(
                VolumeId=action.resource,
                Description=_description(volume, record),
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": _snapshot_tags(volume, record, marks[action.resource])}
                ],
            )
        except AWS_ERRORS as err:
            return None, Outcome(action, False, error=f"final snapshot failed: {error_text(err)}")
        return str(created["SnapshotId"]), None

    for action, (snapshot_id, failure) in zip(actions, each(final_snapshot, actions, workers=env.workers), strict=True):
        if snapshot_id is not None:
            by_volume[action.resource] = snapshot_id
        if failure is not None:
            failed[action.resource] = failure
    waiting = {v: s for v, s in by_volume.items() if v not in failed}
    try:
        states = _wait_completed(env, list(waiting.values()))
    except AWS_ERRORS as err:
        unread = f"could not be read ({error_text(err)})"
        states = dict.fromkeys(waiting.values(), unread)
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


def _snapshot_tags(volume: Mapping[str, Any], record: str, mark: str) -> list[dict[str, str]]:
    ours = {
        FINAL_OF_TAG: str(volume["VolumeId"]),
        FOR_MARK_TAG: mark,
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


def _existing_final_snapshots(env: _Env, marks: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
    """The final snapshot an earlier run made of each volume for the mark it carries now (``finops:for-mark``), a
    completed one before a pending one. One of another mark (an earlier episode of the volume: since attached and
    written to) or of none is never reused."""
    found: dict[str, Mapping[str, Any]] = {}
    for batch in in_batches(sorted(marks), FILTER_BATCH):
        pages = env.ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{FINAL_OF_TAG}", "Values": batch}]
        )
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                volume = _tag(snapshot, FINAL_OF_TAG)
                if volume not in marks or not marks[volume] or _tag(snapshot, FOR_MARK_TAG) != marks[volume]:
                    continue
                if snapshot.get("State") == "completed" or (snapshot.get("State") == "pending" and volume not in found):
                    found[volume] = snapshot
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
