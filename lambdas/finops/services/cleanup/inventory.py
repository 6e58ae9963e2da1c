"""Read what the storage clean-up decides on in one target: volumes, snapshots, the AMIs' snapshots, Recycle Bin.

One paginated describe per resource type, at the page sizes the EC2 API allows (DescribeVolumes 500,
DescribeSnapshots 1,000, DescribeImages 1,000), tags from the describe outputs. AMIs are read with
``IncludeDisabled`` and ``IncludeDeprecated``: a disabled AMI's snapshots are not unused (DescribeImages hides disabled
AMIs unless asked). Sharing is looked up (DescribeSnapshotAttribute, one call a snapshot) only for snapshots this
run could mark or delete, a few at a time (:func:`finops.aws.rate.each`) within the action's documented rate. A
Recycle Bin read that fails is kept as its error: nothing is then shown to be retained, and the planner holds
deletions where ``require_recycle_bin`` asks for a rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AccountScope
from finops.aws.describe import pages as _pages
from finops.aws.describe import tag_dict as _tags
from finops.aws.errors import error_text
from finops.aws.rate import EC2_RATES, PER_RESOURCE_WORKERS, Rate, RateLimits, each
from finops.engine.model import RunContext, Target
from finops.models.config import FinOpsConfig
from finops.models.storage import RecycleBin, RecycleBinRule, RecycleBinType, Snapshot, StorageInventory, Volume
from finops.rules.cleanup_plan import needs_sharing_check, run_clocks

PERMISSIONS: tuple[str, ...] = (
    "ec2:DescribeImages",
    "ec2:DescribeSnapshotAttribute",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "rbin:GetRule",
    "rbin:ListRules",
)
VOLUME_PAGE = 500  # DescribeVolumes MaxResults: 5-500
SNAPSHOT_PAGE = 1000  # DescribeSnapshots MaxResults: 5-1,000
IMAGE_PAGE = 1000  # DescribeImages MaxResults: 1-1,000
RECYCLE_BIN_TYPES: tuple[RecycleBinType, ...] = ("EBS_VOLUME", "EBS_SNAPSHOT")


def read_inventory(
    scope: AccountScope,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    *,
    wall_now: datetime | None = None,
    rates: Mapping[str, Rate] | None = EC2_RATES,
    workers: int = PER_RESOURCE_WORKERS,
) -> StorageInventory:
    """``wall_now``: the worker's wall clock; ages are judged as the plan judges them (:func:`run_clocks`).
    ``rates``: the client-side limits of the per-snapshot sharing lookups (None: none, for a mock that never
    throttles), made on ``workers`` threads."""
    ec2 = scope.client("ec2")
    if rates is not None:
        RateLimits(rates).limit(ec2)
    now = run_clocks(ctx.now, wall_now).judge
    volumes = tuple(
        sorted((volume_of(v) for v in _pages(ec2, "describe_volumes", "Volumes", VOLUME_PAGE)), key=lambda v: v.id)
    )
    snapshots = tuple(
        sorted(
            (snapshot_of(s) for s in _pages(ec2, "describe_snapshots", "Snapshots", SNAPSHOT_PAGE, OwnerIds=["self"])),
            key=lambda s: s.id,
        )
    )
    images = _pages(
        ec2, "describe_images", "Images", IMAGE_PAGE, Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True
    )
    inventory = StorageInventory(
        volumes=volumes,
        snapshots=snapshots,
        image_snapshots=image_snapshots(images, now),
        recycle_bin=read_recycle_bin(scope.client("rbin")),
    )
    candidates = [s.id for s in inventory.snapshots if needs_sharing_check(s, inventory, target, now, config)]

    def lookup(snapshot_id: str) -> tuple[str, ...] | str:
        try:
            return shared_with(ec2, snapshot_id)
        except (ClientError, BotoCoreError) as exc:  # unknown stays unknown: neither marked nor deleted this run
            return error_text(exc)

    found = dict(zip(candidates, each(lookup, candidates, workers=workers), strict=True))
    errors = {snapshot_id: got for snapshot_id, got in found.items() if isinstance(got, str)}
    checked = [
        replace(s, shared_with=got) if isinstance(got := found.get(s.id), tuple) else s for s in inventory.snapshots
    ]
    return replace(inventory, snapshots=tuple(checked), details={"sharing_errors": errors} if errors else {})


def volume_of(described: Mapping[str, Any]) -> Volume:
    return Volume(
        id=str(described["VolumeId"]),
        state=str(described["State"]),
        size_gb=int(described["Size"]),
        volume_type=str(described.get("VolumeType", "standard")),
        zone=str(described["AvailabilityZone"]),
        created=described["CreateTime"],
        tags=_tags(described.get("Tags")),
        iops=described.get("Iops"),
        throughput=described.get("Throughput"),
        encrypted=bool(described.get("Encrypted", False)),
        kms_key_id=described.get("KmsKeyId"),
        multi_attach=bool(described.get("MultiAttachEnabled", False)),
        attached_to=tuple(a["InstanceId"] for a in described.get("Attachments", []) if a.get("InstanceId")),
        snapshot_id=described.get("SnapshotId") or None,
    )


def snapshot_of(described: Mapping[str, Any]) -> Snapshot:
    return Snapshot(
        id=str(described["SnapshotId"]),
        state=str(described["State"]),
        started=described["StartTime"],
        volume_size_gb=int(described.get("VolumeSize", 0)),
        tags=_tags(described.get("Tags")),
        description=str(described.get("Description") or ""),
        volume_id=described.get("VolumeId") or None,
        full_size_bytes=described.get("FullSnapshotSizeInBytes"),
        storage_tier=str(described.get("StorageTier", "standard")),
        encrypted=bool(described.get("Encrypted", False)),
    )


def image_snapshots(images: Iterator[Mapping[str, Any]], now: datetime) -> dict[str, tuple[str, ...]]:
    """snapshot id -> the AMIs that use it, each labelled when disabled or deprecated."""
    used: dict[str, list[str]] = {}
    for image in images:
        label = str(image["ImageId"])
        if image.get("State") == "disabled":
            label += " (disabled)"
        elif _deprecated(image.get("DeprecationTime"), now):
            label += " (deprecated)"
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot:
                used.setdefault(snapshot, []).append(label)
    return {snapshot: tuple(sorted(labels)) for snapshot, labels in used.items()}


def _deprecated(value: Any, now: datetime) -> bool:
    if not value:
        return False
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return True  # unreadable: it has a deprecation time, so call it deprecated
    return when.tzinfo is None or when <= now


def shared_with(ec2: Any, snapshot_id: str) -> tuple[str, ...]:
    """The accounts (and "all" when public) that may create volumes from the snapshot. A failed lookup raises: an
    unknown sharing state must never read as "not shared"."""
    permissions = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    return tuple(
        sorted(p.get("UserId") or p.get("Group") or "?" for p in permissions.get("CreateVolumePermissions", []))
    )


def read_recycle_bin(rbin: Any) -> RecycleBin:
    rules: list[RecycleBinRule] = []
    try:
        for resource_type in RECYCLE_BIN_TYPES:
            for summary in _rule_summaries(rbin, resource_type):
                rule = rbin.get_rule(Identifier=summary["Identifier"])
                rules.append(_rule(rule, resource_type))
    except (ClientError, BotoCoreError) as exc:
        return RecycleBin(error=f"cannot read the Recycle Bin rules ({error_text(exc)})")
    return RecycleBin(rules=tuple(sorted(rules, key=lambda r: (r.resource_type, r.identifier))))


def _rule_summaries(rbin: Any, resource_type: str) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = rbin.list_rules(ResourceType=resource_type, MaxResults=100, **({"NextToken": token} if token else {}))
        yield from page.get("Rules", [])
        token = page.get("NextToken")
        if not token:
            return


def _rule(rule: Mapping[str, Any], resource_type: RecycleBinType) -> RecycleBinRule:
    period = rule.get("RetentionPeriod", {})
    days = int(period.get("RetentionPeriodValue", 0)) if period.get("RetentionPeriodUnit", "DAYS") == "DAYS" else 0
    return RecycleBinRule(
        identifier=str(rule["Identifier"]),
        resource_type=resource_type,
        retention_days=days,
        status=str(rule.get("Status", "available")),
        resource_tags=tuple((t["ResourceTagKey"], t.get("ResourceTagValue", "")) for t in rule.get("ResourceTags", [])),
        exclude_tags=tuple(
            (t["ResourceTagKey"], t.get("ResourceTagValue", "")) for t in rule.get("ExcludeResourceTags", [])
        ),
        locked=rule.get("LockState") == "locked",
    )
