"""The storage clean-up's part of ``finops.yaml``: ``capabilities.ebs_cleanup``.

The keys are a public contract (acceptance tests and users' files write them); new keys may be added, none renamed.
What each switch means for safety is in README.md ("Storage clean-up") and docs/cleanup.md.
"""

from __future__ import annotations

from pydantic import Field

from finops.models.base import Mode, StrictModel

__all__ = ["EbsCleanupConfig", "Gp2ToGp3", "RecycleBinRules", "SnapshotCleanup", "VolumeCleanup"]


class VolumeCleanup(StrictModel):
    """Unattached (``available``) EBS volumes created at least ``min_age_days`` ago."""

    enabled: bool = True
    min_age_days: int = Field(default=14, ge=0, le=3650)
    final_snapshot: bool = Field(default=True, description="snapshot each volume (tags copied) before deleting it")


class SnapshotCleanup(StrictModel):
    """Snapshots the account owns, started more than ``retention_days`` ago, that nothing else needs."""

    enabled: bool = True
    retention_days: int = Field(default=90, ge=0, le=36500)
    include_shared: bool = Field(default=False, description="also delete snapshots shared with other accounts")


class RecycleBinRules(StrictModel):
    """The region-level Recycle Bin retention rules the regional member stack deploys (the last net)."""

    volume_retention_days: int = Field(default=7, ge=1, le=7, description="EBS_VOLUME rules allow 1 to 7 days")
    snapshot_retention_days: int = Field(default=30, ge=1, le=365)
    unlock_delay_days: int | None = Field(
        default=None, ge=7, le=30, description="lock the rules with this unlock delay (7-30 days); null: unlocked"
    )


class Gp2ToGp3(StrictModel):
    """Migrate gp2 volumes to gp3 (ModifyVolume), keeping at least the gp2 baseline IOPS and throughput."""

    enabled: bool = False


class EbsCleanupConfig(StrictModel):
    """``capabilities.ebs_cleanup``: mark, notify, wait ``grace_days``, re-check, snapshot, delete."""

    mode: Mode = Mode.REPORT
    paused: bool = False
    volumes: VolumeCleanup = VolumeCleanup()
    snapshots: SnapshotCleanup = SnapshotCleanup()
    grace_days: int = Field(default=7, ge=0, le=365, description="0: mark and act in the same run")
    final_snapshot_retention_days: int = Field(default=90, ge=1, le=36500)
    max_deletions_per_target: int = Field(default=50, ge=0, le=100_000, description="per account and region per run")
    max_deletion_percent: float = Field(
        default=25, ge=0, le=100, description="of the target's volumes (or snapshots) deleted in one run"
    )
    require_recycle_bin: bool = Field(default=True, description="refuse to delete where no Recycle Bin rule applies")
    recycle_bin_rules: RecycleBinRules = RecycleBinRules()
    gp2_to_gp3: Gp2ToGp3 = Gp2ToGp3()
    run_at: str = Field(
        default="06:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="the daily run's time (UTC, HH:MM) on EventBridge Scheduler",
    )
