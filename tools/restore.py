"""`make restore RECORD=<audit record id>`: recreate a volume the storage clean-up deleted, from its final snapshot.

The record id (``<run id>/<account>/<region>/<volume id>``) names the account, the region and the volume. The account
is reached through the member role, as ``make run`` reaches it. The final snapshot is found by its
``finops:restore-record`` tag (else, said in a note, by ``finops:final-snapshot-of``, else by the snapshot id the audit
record names). The volume's type, size, IOPS, throughput, zone, multi-attach and tags come from the audit record's
before-state when one is given (complete), else from the snapshot's ``finops:volume`` tag and its own tags (at most 50,
``aws:`` ones never copied). The new volume carries ``finops:restored-from=<record id>``.

Report mode (the default) prints the ``CreateVolume`` request and changes nothing. ``enforce`` creates the volume and
waits, bounded, until it is ``available``. Safe to repeat: a volume already tagged ``finops:restored-from`` with this
record id means it was restored, and nothing is done. A volume that still exists is not restored a second time.

:func:`plan_volume` is the pure part (the request from a snapshot and an optional before-state). :func:`restore` does
the reads and the one write with injected scopes, so the demo can run it on the simulated Organization and the tests
on moto.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AccountScope
from finops.aws.errors import error_text
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_plan import DELETE_ACTION
from finops.rules.cleanup_tags import (
    FINAL_OF_TAG,
    MAX_TAGS,
    OUR_TAGS,
    RECORD_TAG,
    RESTORED_FROM_TAG,
    VOLUME_SPEC_TAG,
    parse_volume_spec,
)
from finops.services.audit import AuditRecord, AuditTrail, MemoryAuditTrail, parse_record_id, record_id

# What the role used must allow in the member account. CreateTags is needed for TagSpecifications on CreateVolume.
PERMISSIONS: tuple[str, ...] = (
    "ec2:CreateTags",
    "ec2:CreateVolume",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
)
POLL_SECONDS = 5.0
MAX_WAIT_SECONDS = 300.0
ACTION = "ebs_cleanup:restore"
FROM_RECORD, FROM_SNAPSHOT = "audit record", "snapshot tags"
# CreateVolume refuses Iops for the other types (DescribeVolumes reports gp2's baseline IOPS) and Throughput but for gp3
IOPS_TYPES = frozenset({"io1", "io2", "gp3"})
THROUGHPUT_TYPES = frozenset({"gp3"})
GONE = frozenset({"deleting", "deleted"})
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class RestoreInputError(ValueError):
    """The record id, the audit record or the account is not one the restore can take. The CLI exits 2."""


class RestoreFailed(RuntimeError):
    """Nothing was created: the snapshot is missing or unusable, the volume still exists, AWS refused. Exit 1."""


class Scopes(Protocol):
    """What reaches a member account: :class:`finops.aws.clients.AwsClients`, or a test's stand-in."""

    def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope: ...


@dataclass(frozen=True, slots=True)
class DeletedVolume:
    """What a record id names."""

    record: str
    run_id: str
    account: str
    region: str
    volume_id: str


@dataclass(frozen=True, slots=True)
class VolumePlan:
    """The ``CreateVolume`` request, the before-state it was built from and where that came from."""

    request: dict[str, Any]
    before: dict[str, Any]
    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Restored:
    """One restore's outcome; ``ok`` False when a volume was created but did not become ``available`` in time."""

    deleted: DeletedVolume
    mode: str
    status: str  # planned | restored | already-restored | creating | error
    snapshot: dict[str, Any] | None
    volume: dict[str, Any] | None
    restored_volume_id: str | None
    source: str | None
    before: dict[str, Any] | None
    audit: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("planned", "restored", "already-restored")

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.deleted.record,
            "account": self.deleted.account,
            "region": self.deleted.region,
            "deleted_volume": self.deleted.volume_id,
            "mode": self.mode,
            "status": self.status,
            "snapshot": self.snapshot,
            "volume": self.volume,
            "restored_volume_id": self.restored_volume_id,
            "source": self.source,
            "before": self.before,
            "audit": self.audit,
            "notes": self.notes,
        }


# -- inputs ------------------------------------------------------------------------------------------------------


def parse_target(value: str) -> DeletedVolume:
    """The deleted volume a record id names; :class:`RestoreInputError` naming the expected shape."""
    try:
        run_id, account, region, resource = parse_record_id(value)
    except ValueError as exc:
        raise RestoreInputError(str(exc)) from None
    if not _REGION.match(region):
        raise RestoreInputError(
            f"{value!r}: {region!r} is not a region; expected <run id>/<account>/<region>/<volume id>"
        )
    if not resource.startswith("vol-"):
        hint = " (a deleted snapshot comes back from the Recycle Bin)" if resource.startswith("snap-") else ""
        raise RestoreInputError(f"{value!r}: {resource!r} is not a volume id; only deleted volumes are restored{hint}")
    return DeletedVolume(value.strip(), run_id, account, region, resource)


def find_record(records: Iterable[Mapping[str, Any]], record: str) -> Mapping[str, Any] | None:
    """The audit record with this id among ``records`` (a run document's ``audit``, ``read_trail``'s items)."""
    return next((r for r in records if isinstance(r, Mapping) and r.get("id") == record), None)


def read_audit_file(path: str, record: str) -> Mapping[str, Any]:
    """The record ``record`` from a ``make run`` / ``make invoke`` document (its ``audit`` list), a JSON list of
    records, or one record."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RestoreInputError(f"{path}: cannot read the audit file: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise RestoreInputError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("audit", [data])
    if not isinstance(data, list):
        raise RestoreInputError(f'{path}: expected a run document with "audit", a list of audit records, or a record')
    found = find_record(data, record)
    if found is None:
        raise RestoreInputError(f"{path}: no audit record with id {record!r} among its {len(data)} record(s)")
    return found


def _before_state(record: Mapping[str, Any]) -> dict[str, Any] | None:
    before = record.get("before")
    if isinstance(before, str):  # an audit table item as stored: before/after are JSON strings
        before = json.loads(before)
    return dict(before) if isinstance(before, Mapping) else None


def _after_state(record: Mapping[str, Any] | None) -> dict[str, Any]:
    after = (record or {}).get("after")
    if isinstance(after, str):
        after = json.loads(after)
    return dict(after) if isinstance(after, Mapping) else {}


# -- the plan (pure) ---------------------------------------------------------------------------------------------


def plan_volume(
    deleted: DeletedVolume, snapshot: Mapping[str, Any], before: Mapping[str, Any] | None = None
) -> VolumePlan:
    """The ``CreateVolume`` request that brings ``deleted`` back from ``snapshot`` (a DescribeSnapshots item).

    From ``before`` (the audit record's before-state) when given, else from the snapshot's ``finops:volume`` tag and
    its own tags. :class:`RestoreFailed` when neither says enough.
    """
    snapshot_tags = {t["Key"]: t.get("Value", "") for t in snapshot.get("Tags", [])}
    notes: list[str] = []
    state: dict[str, Any]
    spec = _spec(snapshot_tags, snapshot["SnapshotId"], required=before is None)
    if before is not None:
        source = FROM_RECORD
        state = {k: before.get(k) for k in ("volume_type", "size_gb", "iops", "throughput", "zone", "multi_attach")}
        missing = [k for k in ("volume_type", "size_gb", "zone") if not state.get(k)]
        if missing:
            raise RestoreFailed(f"the audit record of {deleted.record} has no {', '.join(missing)} in its before-state")
        if spec is not None:
            notes += _disagreements(spec, state, snapshot["SnapshotId"])
        tags_given = before.get("tags")
        if isinstance(tags_given, Mapping):
            tags = {str(k): str(v) for k, v in tags_given.items()}
        else:
            tags = _own_tags(snapshot_tags)
            notes.append("the audit record holds no tags: the snapshot's own tags are used")
        full_before = dict(before)
    else:
        assert spec is not None  # required above
        source = FROM_SNAPSHOT
        state = spec
        tags = _own_tags(snapshot_tags)
        full_before = {**spec, "tags": tags}
        notes.append(
            f"type, size, IOPS, throughput and zone from {snapshot['SnapshotId']}'s {VOLUME_SPEC_TAG} tag, tags from "
            "its own: give the audit record (--audit-file) for the volume's complete before-state"
        )
    zone = str(state["zone"])
    if not zone.startswith(deleted.region):
        raise RestoreFailed(f"{deleted.record}: the volume's zone {zone} is not in {deleted.region}")
    volume_type = str(state["volume_type"])
    request: dict[str, Any] = {
        "AvailabilityZone": zone,
        "SnapshotId": snapshot["SnapshotId"],
        "VolumeType": volume_type,
        "Size": int(state["size_gb"]),
    }
    if state.get("iops") and volume_type in IOPS_TYPES:
        request["Iops"] = int(state["iops"])
    if state.get("throughput") and volume_type in THROUGHPUT_TYPES:
        request["Throughput"] = int(state["throughput"])
    if state.get("multi_attach"):
        request["MultiAttachEnabled"] = True
    volume_tags, tag_notes = _volume_tags(tags, deleted.record)
    request["TagSpecifications"] = [{"ResourceType": "volume", "Tags": volume_tags}]
    notes += tag_notes
    if snapshot.get("Encrypted"):
        key = snapshot.get("KmsKeyId")
        notes.append(f"encrypted as its snapshot is{f' ({key})' if key else ''}: CreateVolume keeps the snapshot's key")
    return VolumePlan(request, full_before, source, tuple(notes))


def _spec(tags: Mapping[str, str], snapshot_id: str, *, required: bool) -> dict[str, Any] | None:
    value = tags.get(VOLUME_SPEC_TAG)
    if value is None:
        if required:
            raise RestoreFailed(
                f"{snapshot_id} has no {VOLUME_SPEC_TAG} tag, so the volume's type, size and zone are unknown: "
                "give the audit record (--audit-file / AUDIT=<the run's JSON document>)"
            )
        return None
    try:
        parsed = parse_volume_spec(value)
        return {
            "volume_type": parsed["type"],
            "size_gb": int(parsed["size"]),
            "iops": int(parsed["iops"]) if "iops" in parsed else None,
            "throughput": int(parsed["throughput"]) if "throughput" in parsed else None,
            "zone": parsed["az"],
            "multi_attach": parsed.get("multiattach") == "true",
        }
    except ValueError as exc:
        if required:
            raise RestoreFailed(f"{snapshot_id}: its {VOLUME_SPEC_TAG} tag is unreadable: {exc}") from None
        return None


def _disagreements(spec: Mapping[str, Any], state: Mapping[str, Any], snapshot_id: str) -> list[str]:
    differ = [f"{k} {spec[k]!r} vs {state[k]!r}" for k in ("volume_type", "size_gb", "zone") if spec[k] != state[k]]
    if not differ:
        return []
    return [f"{snapshot_id}'s {VOLUME_SPEC_TAG} tag and the audit record differ ({'; '.join(differ)}): the record wins"]


def _own_tags(snapshot_tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in snapshot_tags.items() if k not in OUR_TAGS}


def _volume_tags(tags: Mapping[str, str], record: str) -> tuple[list[dict[str, str]], list[str]]:
    """The original tags minus ours and AWS's (``aws:`` keys cannot be written), plus ``finops:restored-from``."""
    notes = []
    reserved = sorted(k for k in tags if k.lower().startswith("aws:"))
    if reserved:
        notes.append(f"not copied (AWS reserves the aws: prefix): {', '.join(reserved)}")
    kept = [{"Key": k, "Value": v} for k, v in tags.items() if k not in OUR_TAGS and k not in reserved]
    if len(kept) >= MAX_TAGS:
        notes.append(f"not copied (EC2 allows {MAX_TAGS} tags): {', '.join(t['Key'] for t in kept[MAX_TAGS - 1 :])}")
        kept = kept[: MAX_TAGS - 1]
    return [*kept, {"Key": RESTORED_FROM_TAG, "Value": record}], notes


# -- the restore -------------------------------------------------------------------------------------------------


def restore(
    record: str,
    *,
    scopes: Scopes,
    config: FinOpsConfig,
    enforce: bool = False,
    audit_record: Mapping[str, Any] | None = None,
    audit: AuditTrail | MemoryAuditTrail | None = None,
    role_name: str | None = None,
    actor: str = "make restore",
    sleep: Callable[[float], None] = time.sleep,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> Restored:
    """Plan (and with ``enforce``, carry out) the restore of the volume the audit record ``record`` deleted.

    ``audit_record``: that record (a mapping with ``id``, ``before``, ``after``), the source of truth when given.
    ``audit``: a trail to write the restore's own record to (the demo's hub table); the record is in the result's
    ``audit`` either way. ``role_name``: default the config's ``organization.member_role_name``.
    Raises :class:`RestoreInputError` (bad record id, record or account) and :class:`RestoreFailed` (nothing created).
    """
    deleted = parse_target(record)
    if audit_record is not None and audit_record.get("id") != deleted.record:
        raise RestoreInputError(f"the audit record given is {audit_record.get('id')!r}, not {deleted.record!r}")
    action = (audit_record or {}).get("action")
    if action and not str(action).endswith(f":{DELETE_ACTION}"):
        raise RestoreInputError(f"{deleted.record} records {action!r}, not a deletion: there is nothing to restore")
    before = _before_state(audit_record) if audit_record is not None else None
    if deleted.account in config.organization.excluded_accounts:
        raise RestoreInputError(
            f"{deleted.account} is in organization.excluded_accounts: the product never assumes a role there"
        )
    role = role_name or config.organization.member_role_name
    run_id = f"restore-{uuid.uuid4()}"
    ec2 = _member_ec2(scopes, deleted, role, run_id)
    mode = "enforce" if enforce else "report"
    notes: list[str] = []
    if audit_record is not None and before is None:
        notes.append(f"the audit record of {deleted.record} holds no before-state: the snapshot's tags are used")

    existing = _live_volumes(ec2, [{"Name": f"tag:{RESTORED_FROM_TAG}", "Values": [deleted.record]}])
    if existing:
        found = existing[0]
        notes.append(
            f"{found['VolumeId']} ({found.get('State')}) already carries {RESTORED_FROM_TAG}={deleted.record}: "
            "restored before, nothing done"
        )
        say(f"{deleted.record}: already restored as {found['VolumeId']}")
        return Restored(deleted, mode, "already-restored", None, None, found["VolumeId"], None, before, notes=notes)

    still = _live_volumes(ec2, [{"Name": "volume-id", "Values": [deleted.volume_id]}])
    if still:
        raise RestoreFailed(
            f"{deleted.volume_id} still exists in {deleted.account}/{deleted.region} ({still[0].get('State')}): the "
            f"deletion of {deleted.record} did not happen, so there is nothing to restore"
        )

    snapshot, found_by = _final_snapshot(ec2, deleted, _after_state(audit_record))
    notes += found_by.notes
    _usable(snapshot, deleted)
    plan = plan_volume(deleted, snapshot, before)
    notes += plan.notes
    described = _snapshot_json(snapshot, found_by.how)
    notes.append(_eligible_again(config))
    if not enforce:
        notes.append("report mode: nothing created; add ENFORCE=yes (--enforce) to create the volume")
        say(f"{deleted.record}: would create a {plan.request['VolumeType']} volume from {snapshot['SnapshotId']}")
        return Restored(deleted, mode, "planned", described, plan.request, None, plan.source, plan.before, notes=notes)

    # botocore fills CreateVolume's ClientToken and keeps it across its retries: a retried call makes no second volume.
    try:
        created = ec2.create_volume(**plan.request)
    except ClientError as err:
        denied = err.response.get("Error", {}).get("Code") in ("UnauthorizedOperation", "AccessDenied")
        hint = f": {role} must allow {', '.join(PERMISSIONS)} (or pass --role / ROLE=)" if denied else ""
        raise RestoreFailed(f"CreateVolume from {snapshot['SnapshotId']} failed: {error_text(err)}{hint}") from None
    new_id = str(created["VolumeId"])
    say(f"{deleted.record}: created {new_id} from {snapshot['SnapshotId']}, waiting until it is available")
    state = _wait_available(ec2, new_id, sleep, max_wait_seconds)
    status = {"available": "restored", "creating": "creating"}.get(state, "error")
    if status == "creating":
        notes.append(
            f"{new_id} is still {state} after {max_wait_seconds:g} s: check it with aws ec2 describe-volumes "
            f"--region {deleted.region} --volume-ids {new_id}; running the restore again finds it and does nothing"
        )
    elif status == "error":
        notes.append(f"{new_id} is {state}, not available: delete it if it is still there and run the restore again")
    entry = AuditRecord(
        id=record_id(run_id, deleted.account, deleted.region, deleted.volume_id),
        run_id=run_id,
        actor=actor,
        action=ACTION,
        target=f"{deleted.account}/{deleted.region}/{deleted.volume_id}",
        reason=f"restore of {deleted.record} from {snapshot['SnapshotId']} ({plan.source})",
        at=clock(),
        mode=mode,
        before=plan.before,
        after={"restored_volume_id": new_id, "state": state, "snapshot": snapshot["SnapshotId"], "record": record},
        account=deleted.account,
        region=deleted.region,
    )
    kept = MemoryAuditTrail(clock=clock)
    kept.record(entry)
    notes.append(_record(audit, entry))
    say(f"{deleted.record}: {new_id} is {state}")
    return Restored(deleted, mode, status, described, plan.request, new_id, plan.source, plan.before, kept.items, notes)


def _eligible_again(config: FinOpsConfig) -> str:
    cleanup, protect = config.capabilities.ebs_cleanup, config.safety.protect_tag
    return (
        f"unattached, the restored volume is the clean-up's again after volumes.min_age_days "
        f"({cleanup.volumes.min_age_days} d) plus grace_days ({cleanup.grace_days} d): attach it, or tag it "
        f"{protect.key}={protect.values[0]} to keep it"
    )


def _member_ec2(scopes: Scopes, deleted: DeletedVolume, role: str, run_id: str) -> Any:
    try:
        scope = scopes.assume_role(deleted.account, deleted.region, role_name=role, session_name=f"finops-{run_id}")
    except (ClientError, BotoCoreError) as exc:
        raise RestoreFailed(f"cannot assume {role} in {deleted.account}: {error_text(exc)}") from None
    return scope.client("ec2")


def _record(audit: AuditTrail | MemoryAuditTrail | None, entry: AuditRecord) -> str:
    if audit is None:
        return (
            "recorded in this document's audit only: no hub audit table is reachable from a workstation, "
            "so keep this output with the change"
        )
    try:
        audit.record(entry)
    except (ClientError, BotoCoreError) as exc:
        return f"NOT written to the audit trail ({error_text(exc)}): keep this document's audit record"
    return "recorded in the audit trail"


@dataclass(frozen=True, slots=True)
class _FoundBy:
    how: str
    notes: tuple[str, ...] = ()


def _final_snapshot(ec2: Any, deleted: DeletedVolume, after: Mapping[str, Any]) -> tuple[dict[str, Any], _FoundBy]:
    by_record = _snapshots(ec2, [{"Name": f"tag:{RECORD_TAG}", "Values": [deleted.record]}])
    if by_record:
        return _newest(by_record), _FoundBy(f"tag:{RECORD_TAG}")
    by_volume = _snapshots(ec2, [{"Name": f"tag:{FINAL_OF_TAG}", "Values": [deleted.volume_id]}])
    if by_volume:
        chosen = _newest(by_volume)
        names = _tags(chosen).get(RECORD_TAG)
        return chosen, _FoundBy(
            f"tag:{FINAL_OF_TAG}",
            (
                f"no snapshot carries {RECORD_TAG}={deleted.record}; {chosen['SnapshotId']} found by "
                f"{FINAL_OF_TAG}={deleted.volume_id}" + (f" (its record tag names {names})" if names else ""),
            ),
        )
    named = after.get("final_snapshot")
    if named:
        by_id = _snapshots(ec2, [{"Name": "snapshot-id", "Values": [str(named)]}])
        if by_id:
            return by_id[0], _FoundBy(
                "audit record",
                (f"{named}, the audit record's final snapshot, has lost our tags; found by its id",),
            )
    searched = f"{RECORD_TAG}={deleted.record} or {FINAL_OF_TAG}={deleted.volume_id}"
    if named:
        searched += f", nor is {named} (the audit record's final snapshot) there"
    why = (
        "the deletion made none (capabilities.ebs_cleanup.volumes.final_snapshot was off)"
        if after and not named and after.get("deleted")
        else "it was deleted, or none was made (capabilities.ebs_cleanup.volumes.final_snapshot off)"
    )
    recycle = (
        f"; if it was deleted lately, look in the Recycle Bin: aws ec2 list-snapshots-in-recycle-bin --region "
        f"{deleted.region}, then aws ec2 restore-snapshot-from-recycle-bin --snapshot-id <id>, and run this again"
    )
    raise RestoreFailed(
        f"no final snapshot for {deleted.record}: no snapshot owned by {deleted.account} in {deleted.region} carries "
        f"{searched}; {why}{recycle}"
    )


def _usable(snapshot: Mapping[str, Any], deleted: DeletedVolume) -> None:
    snapshot_id = snapshot["SnapshotId"]
    if snapshot.get("StorageTier") == "archive":
        raise RestoreFailed(
            f"{snapshot_id} is archived: restore it to the standard tier first (aws ec2 restore-snapshot-tier "
            f"--region {deleted.region} --snapshot-id {snapshot_id} --permanent-restore), then run this again"
        )
    if snapshot.get("State") != "completed":
        raise RestoreFailed(f"{snapshot_id} is {snapshot.get('State')}, not completed: a volume cannot be made from it")


def _snapshots(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
    return [dict(s) for page in pages for s in page.get("Snapshots", [])]


def _newest(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest completed one, else the newest (whose state then says why it cannot be used)."""
    completed = [s for s in snapshots if s.get("State") == "completed"] or snapshots
    return max(completed, key=lambda s: (s.get("StartTime") or datetime.min.replace(tzinfo=UTC), s["SnapshotId"]))


def _live_volumes(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_volumes").paginate(Filters=filters)
    volumes = [dict(v) for page in pages for v in page.get("Volumes", [])]
    return sorted((v for v in volumes if v.get("State") not in GONE), key=lambda v: str(v["VolumeId"]))


def _wait_available(ec2: Any, volume_id: str, sleep: Callable[[float], None], max_wait_seconds: float) -> str:
    waited = 0.0
    while True:
        found = _live_volumes(ec2, [{"Name": "volume-id", "Values": [volume_id]}])
        state = str(found[0].get("State")) if found else "missing"
        if state in ("available", "error", "missing") or waited >= max_wait_seconds:
            return state
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def _tags(described: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in described.get("Tags", [])}


def _snapshot_json(snapshot: Mapping[str, Any], found_by: str) -> dict[str, Any]:
    started = snapshot.get("StartTime")
    return {
        "id": snapshot["SnapshotId"],
        "found_by": found_by,
        "state": snapshot.get("State"),
        "started": started.isoformat() if isinstance(started, datetime) else started,
        "volume_size_gb": snapshot.get("VolumeSize"),
        "encrypted": bool(snapshot.get("Encrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "description": snapshot.get("Description", ""),
    }
