"""What the storage clean-up reads in one target: volumes, snapshots, what backs AMIs, and the Recycle Bin rules.

``finops.services.cleanup.inventory.read_inventory`` builds these from the describe calls; the pure planner
(:mod:`finops.rules.cleanup_plan`) turns them into actions. Nothing here talks to AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RecycleBinType = Literal["EBS_VOLUME", "EBS_SNAPSHOT"]


@dataclass(frozen=True, slots=True)
class Volume:
    id: str
    state: str  # creating | available | in-use | deleting | deleted | error
    size_gb: int
    volume_type: str
    zone: str
    created: datetime
    tags: Mapping[str, str]
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    multi_attach: bool = False
    attached_to: tuple[str, ...] = ()
    snapshot_id: str | None = None  # created from this snapshot

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    state: str  # pending | completed | error | recoverable | recovering
    started: datetime
    volume_size_gb: int
    tags: Mapping[str, str]
    description: str = ""
    volume_id: str | None = None
    full_size_bytes: int | None = None  # FullSnapshotSizeInBytes, where EC2 reports it
    storage_tier: str = "standard"  # standard | archive
    encrypted: bool = False
    # None: not looked up (only snapshots that could be marked or deleted are); () not shared; else account ids
    # (and "all" when public) from DescribeSnapshotAttribute createVolumePermission
    shared_with: tuple[str, ...] | None = None

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")


@dataclass(frozen=True, slots=True)
class RecycleBinRule:
    """One Recycle Bin retention rule of the region (GetRule): it retains resources of ``resource_type`` that carry
    one of ``resource_tags`` (all of them when there are none) and none of ``exclude_tags``."""

    identifier: str
    resource_type: RecycleBinType
    retention_days: int
    status: str = "available"
    resource_tags: tuple[tuple[str, str], ...] = ()
    exclude_tags: tuple[tuple[str, str], ...] = ()
    locked: bool = False

    def retains(self, tags: Mapping[str, str]) -> bool:
        if self.status != "available":
            return False
        if any(tags.get(key) == value or (value == "" and key in tags) for key, value in self.exclude_tags):
            return False
        if not self.resource_tags:
            return True
        return any(tags.get(key) == value or (value == "" and key in tags) for key, value in self.resource_tags)


@dataclass(frozen=True, slots=True)
class RecycleBin:
    rules: tuple[RecycleBinRule, ...] = ()
    error: str | None = None  # ListRules/GetRule failed: nothing can be shown to be retained

    def retaining(self, resource_type: RecycleBinType, tags: Mapping[str, str]) -> RecycleBinRule | None:
        """The longest-retaining rule that keeps a deleted resource of this type with these tags, if any."""
        matching = [r for r in self.rules if r.resource_type == resource_type and r.retains(tags)]
        return max(matching, key=lambda r: (r.retention_days, r.identifier), default=None)


@dataclass(frozen=True, slots=True)
class StorageInventory:
    """One target's storage, read a moment ago; sorted by id so the same estate gives the same plan."""

    volumes: tuple[Volume, ...] = ()
    snapshots: tuple[Snapshot, ...] = ()
    # snapshot id -> the AMIs of the account whose block device mappings use it (incl. disabled and deprecated),
    # each as "ami-0abc (disabled)" / "ami-0abc (deprecated)" / "ami-0abc"
    image_snapshots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    recycle_bin: RecycleBin = RecycleBin()
    details: Mapping[str, Any] = field(default_factory=dict)
