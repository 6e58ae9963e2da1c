"""The storage clean-up's decision for one target: a pure function of the inventory, the config and the run's clock.

For each volume and snapshot, in this order:
1. Never touched (a notable skip, and its mark removed if it has one): a prod account, a prod environment tag, the
   protect tag; for volumes, a CloudFormation stack's or AWS Backup/DLM's; for snapshots, one that backs an AMI
   (disabled and deprecated ones included), one AWS Backup or Data Lifecycle Manager manages, one shared with other
   accounts (unless ``include_shared``).
2. Not eligible now (attached, too young, not completed, disabled in the config): left alone, or unmarked when a
   previous run marked it.
3. Eligible and not yet marked: marked for deletion ``grace_days`` from now (the owner is told in the digest). With
   ``grace_days: 0`` it is deleted in this run (marked first, so every deletion carries the mark).
4. Eligible, marked, and the mark's date has passed: deleted (a volume after its final snapshot, whenever the mark
   says ``snapshot-and-delete`` or the config asks for one).

A mark the planner cannot trust is unreadable: marked again from today (the owner is told), never deleted on. That is
a date that does not parse, and a mark dated before the resource existed (``after - grace_days`` earlier than the
volume's creation or the snapshot's start: tags copied from a marked resource by ``create-snapshots
--copy-tags-from-source`` or a Backup restore, or forged).

The run's clock (``ctx.now``, the request's time) is checked against the worker's wall clock when it has one
(:func:`run_clocks`): a run dated in the future never cuts a grace period, and re-running an old event never shortens
the owner's notice.

Then the safety nets of the target, applied to the deletions only (marks and unmarks still go ahead):
- ``require_recycle_bin``: a deletion that no Recycle Bin rule of the region would retain is held.
- the circuit breaker: more deletions than ``max_deletions_per_target``, or more than ``max_deletion_percent`` of the
  target's volumes (or snapshots), and nothing is deleted in the target; the plan says so in ``holds``.

The report-mode plan is this plan; enforce mode carries out exactly its actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from finops.engine.model import Action, Plan, RunContext, Skip, Target
from finops.models.cleanup_config import EbsCleanupConfig
from finops.models.config import FinOpsConfig, tag_value
from finops.models.storage import RecycleBinType, Snapshot, StorageInventory, Volume
from finops.rules.cleanup_tags import (
    ACTION_TAG,
    AFTER_TAG,
    DELETE,
    FINAL_OF_TAG,
    MARK_TAGS,
    SNAPSHOT_AND_DELETE,
    instant_value,
    marked_after,
)
from finops.rules.storage_pricing import gp3_equivalent, snapshot_monthly, volume_monthly

VOLUME, SNAPSHOT = "ec2:volume", "ec2:snapshot"
MARK, UNMARK, DELETE_ACTION, GP3 = "mark", "unmark", "delete", "gp3"
GIB = 1024**3
# Descriptions AWS Backup and Data Lifecycle Manager give the snapshots they create (and their aws: tags).
_BACKUP_DESCRIPTIONS = ("This snapshot is created by the AWS Backup service",)
_DLM_DESCRIPTION_PREFIX = "Created for policy: policy-"
_CLOUDFORMATION_TAG = "aws:cloudformation:stack-name"
SHARING_NOT_CHECKED = "sharing not checked"
# The deployed worker's wall clock runs the fan-out's seconds or minutes behind the run's scheduled time: within this,
# the two agree and the run's own time decides (so a mark made at 06:00 is due at 06:00 a week later).
CLOCK_SKEW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RunClocks:
    """The clocks one clean-up run decides by. ``judge``: ages, retention and whether a mark's date has passed (the
    earlier of the run's clock and the wall clock). ``mark_from``: what new marks are dated from (the later)."""

    judge: datetime
    mark_from: datetime


def run_clocks(now: datetime, wall_now: datetime | None) -> RunClocks:
    """``now`` is the run's clock (the request's ``time``), ``wall_now`` the worker's wall clock (None in local
    replays and simulations, whose clock is the run's). When they disagree by more than :data:`CLOCK_SKEW` (an event
    dated in the future by a typo, an old event run again), deletions wait for both, and new marks are dated from the
    later, so the owner's notice is never shorter than ``grace_days``."""
    if wall_now is None or abs(wall_now - now) <= CLOCK_SKEW:
        return RunClocks(now, now)
    return RunClocks(min(now, wall_now), max(now, wall_now))


def trusted_mark(tags: Mapping[str, str], created: datetime, grace_days: int) -> datetime | str | None:
    """The mark's date when it can be one this clean-up wrote; None when there is no mark; else why it is not trusted
    (a str): unreadable, or dated before the resource existed (``after - grace_days`` before ``created``)."""
    after = marked_after(tags)
    if after is None:
        return None
    if isinstance(after, str):
        return "unreadable mark"
    if after - timedelta(days=grace_days) < created.replace(microsecond=0):
        return f"mark older than the resource ({AFTER_TAG}={tags[AFTER_TAG]}, copied with its tags?)"
    return after


def deletion_blocked(
    tags: Mapping[str, str], created: datetime, cleanup: EbsCleanupConfig, clocks: RunClocks
) -> str | None:
    """Why a marked resource may not be deleted now, on its fresh tags just before the delete call; None: it may."""
    if AFTER_TAG not in tags:
        return "its mark is gone (removed by hand?)"
    after = trusted_mark(tags, created, cleanup.grace_days)
    if not isinstance(after, datetime):
        return str(after)
    if after > clocks.judge:
        return f"its mark says {instant_value(after)}, not yet passed"
    return None


@dataclass(frozen=True, slots=True)
class _Verdict:
    """``eligible``; else why not, and whether that is worth a line in the digest (protected, AMI-backed ...)."""

    eligible: bool
    reason: str = ""
    notable: bool = False
    keep_mark: bool = False  # not decidable this run (sharing not looked up): a mark stays as it is


_ELIGIBLE = _Verdict(True)


def _days(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 86400))


def _guard(tags: Mapping[str, str], target: Target, config: FinOpsConfig) -> str | None:
    """Every key matching the environment or protect tag case-insensitively counts (EC2 keys are case-sensitive,
    so ``environment=dev`` and ``Environment=prod`` can both be on one volume): any one that guards, guards."""
    if target.prod:
        return f"prod account ({target.prod_reason})"
    return config.safety.tag_guard(tags)


def _managed_by(tags: Mapping[str, str], description: str = "") -> str | None:
    if _CLOUDFORMATION_TAG in tags:
        return f"part of CloudFormation stack {tags[_CLOUDFORMATION_TAG]}: delete it through its stack"
    keys = {k.lower() for k in tags}
    if any(k.startswith("aws:backup:") for k in keys) or description.startswith(_BACKUP_DESCRIPTIONS):
        return "managed by AWS Backup (its backup plan's lifecycle deletes it)"
    if any(k.startswith("aws:dlm:") for k in keys) or description.startswith(_DLM_DESCRIPTION_PREFIX):
        return "managed by Data Lifecycle Manager (its policy's retention deletes it)"
    return None


def volume_verdict(volume: Volume, target: Target, now: datetime, config: FinOpsConfig) -> _Verdict:
    cleanup = config.capabilities.ebs_cleanup
    guarded = _guard(volume.tags, target, config) or _managed_by(volume.tags)
    if guarded:
        # worth a line in the digest only when it would otherwise go: not for every attached volume of a prod account
        candidate = (
            cleanup.volumes.enabled
            and volume.state == "available"
            and now - volume.created >= timedelta(days=cleanup.volumes.min_age_days)
        )
        return _Verdict(False, guarded, notable=candidate)
    if not cleanup.volumes.enabled:
        return _Verdict(False, "volume clean-up is off (capabilities.ebs_cleanup.volumes.enabled: false)")
    if volume.state != "available":
        attached = f" to {', '.join(volume.attached_to)}" if volume.attached_to else ""
        return _Verdict(False, f"{volume.state}{attached}")
    age = _days(now - volume.created)
    if now - volume.created < timedelta(days=cleanup.volumes.min_age_days):
        return _Verdict(False, f"created {age} day(s) ago, under min_age_days ({cleanup.volumes.min_age_days})")
    return _ELIGIBLE


def snapshot_retention_days(snapshot: Snapshot, cleanup: EbsCleanupConfig) -> int:
    """Our own final snapshots keep for ``final_snapshot_retention_days``; every other for ``retention_days``."""
    return cleanup.final_snapshot_retention_days if FINAL_OF_TAG in snapshot.tags else cleanup.snapshots.retention_days


def snapshot_verdict(
    snapshot: Snapshot, inventory: StorageInventory, target: Target, now: datetime, config: FinOpsConfig
) -> _Verdict:
    """Whether ``snapshot`` may go. An unknown sharing state (``shared_with`` None) is not eligible: the inventory
    looks it up for every snapshot that passes everything else (:func:`needs_sharing_check`)."""
    cleanup = config.capabilities.ebs_cleanup
    # what keeps it is worth a line in the digest only when it would otherwise go (old enough, completed)
    candidate = (
        cleanup.snapshots.enabled
        and snapshot.state == "completed"
        and now - snapshot.started > timedelta(days=snapshot_retention_days(snapshot, cleanup))
    )
    guarded = _guard(snapshot.tags, target, config)
    if guarded:
        return _Verdict(False, guarded, notable=candidate)
    images = inventory.image_snapshots.get(snapshot.id, ())
    if images:
        return _Verdict(False, f"backs AMI {', '.join(images)}", notable=candidate)
    managed = _managed_by(snapshot.tags, snapshot.description)
    if managed:
        return _Verdict(False, managed, notable=candidate)
    if not cleanup.snapshots.enabled:
        return _Verdict(False, "snapshot clean-up is off (capabilities.ebs_cleanup.snapshots.enabled: false)")
    if snapshot.state != "completed":
        return _Verdict(False, f"{snapshot.state}, not completed")
    retention = snapshot_retention_days(snapshot, cleanup)
    if now - snapshot.started <= timedelta(days=retention):
        ours = "final snapshot, " if FINAL_OF_TAG in snapshot.tags else ""
        return _Verdict(False, f"{ours}{_days(now - snapshot.started)} day(s) old, within {retention} days")
    if snapshot.shared_with is None:
        return _Verdict(False, SHARING_NOT_CHECKED, keep_mark=True)
    if snapshot.shared_with and not cleanup.snapshots.include_shared:
        shared = "public" if "all" in snapshot.shared_with else f"shared with {len(snapshot.shared_with)} account(s)"
        return _Verdict(False, f"{shared} (capabilities.ebs_cleanup.snapshots.include_shared: false)", notable=True)
    return _ELIGIBLE


def needs_sharing_check(
    snapshot: Snapshot, inventory: StorageInventory, target: Target, now: datetime, config: FinOpsConfig
) -> bool:
    """Only a snapshot that passes every other test, and that this run would mark or delete, is worth the one
    DescribeSnapshotAttribute call per snapshot; a marked one still waiting out its grace period is not."""
    if snapshot.shared_with is not None:
        return False
    if snapshot_verdict(snapshot, inventory, target, now, config).reason != SHARING_NOT_CHECKED:
        return False
    after = marked_after(snapshot.tags)
    return not isinstance(after, datetime) or after <= now


def plan(
    inventory: StorageInventory,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    *,
    wall_now: datetime | None = None,
) -> Plan:
    """``wall_now``: the worker's wall clock when it read the target (see :func:`run_clocks`)."""
    cleanup = config.capabilities.ebs_cleanup
    clocks = run_clocks(ctx.now, wall_now)
    now = clocks.judge
    actions: list[Action] = []
    skipped: list[Skip] = []
    for volume in inventory.volumes:
        verdict = volume_verdict(volume, target, now, config)
        facts = _volume_facts(volume, target, now, cleanup)
        decided = _decide(VOLUME, volume.id, volume.tags, volume.created, verdict, facts, clocks, config, target)
        if decided is None and cleanup.gp2_to_gp3.enabled:
            decided = _gp3(volume, target, config)
        _collect(decided, actions, skipped)
    for snapshot in inventory.snapshots:
        verdict = snapshot_verdict(snapshot, inventory, target, now, config)
        facts = _snapshot_facts(snapshot, target, now, cleanup)
        decided = _decide(
            SNAPSHOT, snapshot.id, snapshot.tags, snapshot.started, verdict, facts, clocks, config, target
        )
        _collect(decided, actions, skipped)
    return _safety_nets(inventory, target, config, actions, skipped, ctx)


def _collect(decided: Action | Skip | None, actions: list[Action], skipped: list[Skip]) -> None:
    if isinstance(decided, Action):
        actions.append(decided)
    elif isinstance(decided, Skip):
        skipped.append(decided)


def _owner(tags: Mapping[str, str], target: Target, config: FinOpsConfig) -> str | None:
    return (tag_value(tags, config.notifications.owner_tag_key) or "").strip().lower() or target.team


@dataclass(frozen=True, slots=True)
class _Facts:
    before: dict[str, Any]
    details: dict[str, Any]
    planned: str  # what the mark says: snapshot-and-delete / delete
    name: str | None


def _decide(
    kind: str,
    resource: str,
    tags: Mapping[str, str],
    created: datetime,
    verdict: _Verdict,
    facts: _Facts,
    clocks: RunClocks,
    config: FinOpsConfig,
    target: Target,
) -> Action | Skip | None:
    cleanup = config.capabilities.ebs_cleanup
    team = _owner(tags, target, config)
    after = trusted_mark(tags, created, cleanup.grace_days)
    marked = any(key in tags for key in MARK_TAGS)

    def action(verb: str, reason: str, **details: Any) -> Action:
        keep = _keep_command(resource, target, config)
        return Action(
            resource,
            kind,
            verb,
            reason,
            facts.before,
            team=team,
            name=facts.name,
            details={**facts.details, "keep_command": keep, **details},
        )

    if not verdict.eligible:
        if verdict.keep_mark:
            return None
        if marked:
            return action(UNMARK, f"no longer eligible: {verdict.reason}")
        if verdict.notable:
            return Skip(resource, kind, verdict.reason, team=team, name=facts.name)
        return None
    told = tags.get(ACTION_TAG)
    if isinstance(after, datetime) and told in (SNAPSHOT_AND_DELETE, DELETE):
        if after <= clocks.judge:
            # What the owner was told holds: a snapshot-and-delete mark gets its final snapshot even if the config
            # has turned final snapshots off since.
            snapshot = {"final_snapshot": True} if kind == VOLUME and told == SNAPSHOT_AND_DELETE else {}
            return action(
                DELETE_ACTION,
                f"marked for deletion on {after:%Y-%m-%d} and still eligible",
                delete_after=instant_value(after),
                marked=True,
                **snapshot,
            )
        return None  # marked, waiting out its grace period: the owner was told when it was marked
    due = clocks.mark_from + timedelta(days=cleanup.grace_days)
    why = f"{after}, marked again" if isinstance(after, str) else "eligible"
    if due.replace(microsecond=0) <= clocks.judge:  # grace_days 0, and the clocks agree
        return action(
            DELETE_ACTION,
            f"{why}; grace_days 0: marked and deleted in this run",
            delete_after=instant_value(due),
            marked=False,
        )
    return action(MARK, f"{why}: marked for deletion on {due:%Y-%m-%d}", delete_after=instant_value(due))


def _keep_command(resource: str, target: Target, config: FinOpsConfig) -> str:
    protect = config.safety.protect_tag
    return (
        f"aws ec2 create-tags --region {target.region} --resources {resource} "
        f"--tags Key={protect.key},Value={protect.values[0]}"
    )


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def _volume_facts(volume: Volume, target: Target, now: datetime, cleanup: EbsCleanupConfig) -> _Facts:
    monthly = volume_monthly(
        volume.volume_type, volume.size_gb, target.region, iops=volume.iops, throughput=volume.throughput
    )
    before: dict[str, Any] = {
        "state": volume.state,
        "size_gb": volume.size_gb,
        "volume_type": volume.volume_type,
        "iops": volume.iops,
        "throughput": volume.throughput,
        "zone": volume.zone,
        "encrypted": volume.encrypted,
        "kms_key_id": volume.kms_key_id,
        "multi_attach": volume.multi_attach,
        "created": volume.created.isoformat(),
        "snapshot_id": volume.snapshot_id,
        "tags": dict(volume.tags),
    }
    details = {
        "size_gb": volume.size_gb,
        "volume_type": volume.volume_type,
        "age_days": _days(now - volume.created),
        "monthly_usd": _money(monthly),
        "final_snapshot": cleanup.volumes.final_snapshot,
    }
    return _Facts(before, details, SNAPSHOT_AND_DELETE if cleanup.volumes.final_snapshot else DELETE, volume.name)


def _snapshot_facts(snapshot: Snapshot, target: Target, now: datetime, cleanup: EbsCleanupConfig) -> _Facts:
    reported = snapshot.full_size_bytes
    size_gb = round(reported / GIB, 2) if reported else float(snapshot.volume_size_gb)
    monthly = snapshot_monthly(size_gb, target.region, archive=snapshot.storage_tier == "archive")
    before: dict[str, Any] = {
        "state": snapshot.state,
        "started": snapshot.started.isoformat(),
        "volume_id": snapshot.volume_id,
        "volume_size_gb": snapshot.volume_size_gb,
        "full_size_bytes": snapshot.full_size_bytes,
        "storage_tier": snapshot.storage_tier,
        "description": snapshot.description,
        "encrypted": snapshot.encrypted,
        "tags": dict(snapshot.tags),
    }
    details = {
        "size_gb": size_gb,
        "size_is_full": bool(reported),  # False: the volume's size, an upper bound of what the snapshot holds
        "age_days": _days(now - snapshot.started),
        "monthly_usd": _money(monthly),
        "monthly_is_upper_bound": True,  # incremental: deleting frees only what no other snapshot needs
        **({"final_snapshot_of": snapshot.tags[FINAL_OF_TAG]} if FINAL_OF_TAG in snapshot.tags else {}),
    }
    return _Facts(before, details, DELETE, snapshot.name)


def _gp3(volume: Volume, target: Target, config: FinOpsConfig) -> Action | None:
    if volume.volume_type != "gp2" or volume.state not in ("available", "in-use"):
        return None
    if _guard(volume.tags, target, config) or _managed_by(volume.tags):
        return None
    iops, throughput = gp3_equivalent(volume.size_gb)
    before_cost = volume_monthly("gp2", volume.size_gb, target.region)
    after_cost = volume_monthly("gp3", volume.size_gb, target.region, iops=iops, throughput=throughput)
    if before_cost is None or after_cost is None or after_cost >= before_cost:
        return None
    saving = before_cost - after_cost
    return Action(
        volume.id,
        VOLUME,
        GP3,
        f"gp2 to gp3 keeping {iops} IOPS and {throughput} MiB/s: saves ${saving}/month",
        before={
            "volume_type": "gp2",
            "size_gb": volume.size_gb,
            "iops": volume.iops,
            "throughput": volume.throughput,
            "state": volume.state,
            "tags": dict(volume.tags),
        },
        team=_owner(volume.tags, target, config),
        name=volume.name,
        details={
            "size_gb": volume.size_gb,
            "volume_type": "gp2",
            "iops": iops,
            "throughput": throughput,
            "monthly_usd": _money(saving),
            "monthly_before_usd": _money(before_cost),
        },
    )


# -- the target's safety nets ------------------------------------------------------------------------------------

_RECYCLE_TYPE: Mapping[str, RecycleBinType] = {VOLUME: "EBS_VOLUME", SNAPSHOT: "EBS_SNAPSHOT"}


def _safety_nets(
    inventory: StorageInventory,
    target: Target,
    config: FinOpsConfig,
    actions: list[Action],
    skipped: list[Skip],
    ctx: RunContext,
) -> Plan:
    cleanup = config.capabilities.ebs_cleanup
    holds: list[str] = []
    kept: list[Action] = []
    deletions: list[Action] = []
    tags_of = {v.id: v.tags for v in inventory.volumes} | {s.id: s.tags for s in inventory.snapshots}
    unretained: dict[str, int] = {}
    for act in actions:
        if act.action != DELETE_ACTION:
            kept.append(act)
            continue
        rule = inventory.recycle_bin.retaining(_RECYCLE_TYPE[act.kind], tags_of.get(act.resource, {}))
        if rule is None and cleanup.require_recycle_bin:
            unretained[act.kind] = unretained.get(act.kind, 0) + 1
            kept += _held(act, "held: no Recycle Bin rule would retain it", skipped, ctx)
            continue
        retention = {"recycle_bin_days": rule.retention_days, "recycle_bin_rule": rule.identifier} if rule else {}
        deletions.append(replace(act, details={**act.details, **retention}))
    for kind, count in sorted(unretained.items()):
        why = inventory.recycle_bin.error or f"no Recycle Bin rule for {_RECYCLE_TYPE[kind]} retains them"
        holds.append(
            f"Recycle Bin: {count} {_noun(kind, count)} not deleted in {target.region}: {why} "
            "(capabilities.ebs_cleanup.require_recycle_bin: true; deploy the regional member stack here)"
        )
    tripped = _breaker(inventory, deletions, cleanup)
    if tripped:
        holds.append(tripped)
        for act in deletions:
            kept += _held(act, "held: circuit breaker tripped in this account and region", skipped, ctx)
        deletions = []
    return Plan(tuple(sorted([*kept, *deletions], key=lambda a: (a.kind, a.resource))), tuple(skipped), tuple(holds))


def _held(act: Action, reason: str, skipped: list[Skip], ctx: RunContext) -> list[Action]:
    """A held deletion is a notable skip; one that was to be marked in this run (grace 0) is still marked."""
    skipped.append(Skip(act.resource, act.kind, reason, team=act.team, name=act.name))
    if act.details.get("marked") is False:
        return [replace(act, action=MARK, reason=f"eligible: marked for deletion, but the deletion is {reason}")]
    return []


def _breaker(inventory: StorageInventory, deletions: list[Action], cleanup: EbsCleanupConfig) -> str | None:
    volumes = sum(a.kind == VOLUME for a in deletions)
    snapshots = len(deletions) - volumes
    problems = []
    if len(deletions) > cleanup.max_deletions_per_target:
        problems.append(
            f"{len(deletions)} deletions planned, more than max_deletions_per_target "
            f"({cleanup.max_deletions_per_target})"
        )
    for kind, count, total in (
        (VOLUME, volumes, len(inventory.volumes)),
        (SNAPSHOT, snapshots, len(inventory.snapshots)),
    ):
        if count and count * 100 > cleanup.max_deletion_percent * total:
            problems.append(
                f"{count} of {total} {_noun(kind, total)} ({count * 100 / total:.0f}%), more than "
                f"max_deletion_percent ({cleanup.max_deletion_percent:g}%)"
            )
    if not problems:
        return None
    return (
        "Circuit breaker tripped: "
        + "; ".join(problems)
        + ". Nothing was deleted here; the marks stay. Check the plan, then raise the cap in "
        "capabilities.ebs_cleanup or delete by hand."
    )


def _noun(kind: str, count: int) -> str:
    word = "volume" if kind == VOLUME else "snapshot"
    return word if count == 1 else word + "s"
