"""Region-level Recycle Bin retention rules: a deleted EBS snapshot or volume stays restorable for a while."""

from __future__ import annotations

from aws_cdk import aws_rbin as rbin
from constructs import Construct

from finops.models.cleanup_config import RecycleBinRules

DAYS = "DAYS"


class RecycleBinRetention(Construct):
    """One ``EBS_SNAPSHOT`` rule keeping every deleted snapshot of the region ``rules.snapshot_retention_days`` and one
    ``EBS_VOLUME`` rule keeping every deleted volume ``rules.volume_retention_days``.

    Region-level (no ``ResourceTags``, no exclusions): they retain whatever deleted the resource, the clean-up or
    anyone else. With ``rules.unlock_delay_days`` both are locked: neither can be changed or deleted until someone
    unlocks it (``aws rbin unlock-rule``) and that many days have passed. Unnamed, so one per region never collides.
    Exposes ``snapshot_rule`` and ``volume_rule``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, rules: RecycleBinRules) -> None:
        super().__init__(scope, construct_id)
        lock = (
            rbin.CfnRule.UnlockDelayProperty(unlock_delay_value=rules.unlock_delay_days, unlock_delay_unit=DAYS)
            if rules.unlock_delay_days is not None
            else None
        )
        self.snapshot_rule = rbin.CfnRule(
            self,
            "SnapshotRule",
            resource_type="EBS_SNAPSHOT",
            description=(
                f"FinOps: every deleted EBS snapshot in this region stays restorable for "
                f"{rules.snapshot_retention_days} days (aws ec2 restore-snapshot-from-recycle-bin)"
            ),
            retention_period=rbin.CfnRule.RetentionPeriodProperty(
                retention_period_value=rules.snapshot_retention_days, retention_period_unit=DAYS
            ),
            lock_configuration=lock,
        )
        self.volume_rule = rbin.CfnRule(
            self,
            "VolumeRule",
            resource_type="EBS_VOLUME",
            description=(
                f"FinOps: every deleted EBS volume in this region stays restorable for "
                f"{rules.volume_retention_days} days (aws ec2 restore-volume-from-recycle-bin)"
            ),
            retention_period=rbin.CfnRule.RetentionPeriodProperty(
                retention_period_value=rules.volume_retention_days, retention_period_unit=DAYS
            ),
            lock_configuration=lock,
        )
