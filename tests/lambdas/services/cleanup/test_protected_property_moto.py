"""The property in enforce mode, against moto: whatever the estate, no protected resource is marked or deleted.

Each example seeds a fresh moto account with volumes and snapshots of every protected class mixed with eligible
ones, runs the clean-up in enforce mode with grace_days 0 (mark and delete in one run, the most dangerous setting),
and reads back through the API what is left and how it is tagged.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.model import RunContext, Target
from finops.engine.worker import run_target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_tags import AFTER_TAG
from finops.services.audit import MemoryAuditTrail
from finops.services.cleanup_run import CleanupCapability
from tools.sim import _moto_internals

pytestmark = pytest.mark.slow

REGION, ACCOUNT = "eu-west-1", "123456789012"
PROTECTIONS = ("protect", "prod-tag", "backup-tag", "dlm-tag", "backup-description", "ami", "shared", "stack")
EXAMPLES = 25
CHECKED: Counter[str] = Counter()


@st.composite
def resources(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    """(kind, protection or None) for up to 10 resources."""
    return draw(
        st.lists(
            st.tuples(st.sampled_from(["volume", "snapshot"]), st.none() | st.sampled_from(PROTECTIONS)),
            max_size=10,
        )
    )


def _seed(ec2: Any, plan: list[tuple[str, str | None]]) -> tuple[set[str], set[str]]:
    protected: set[str] = set()
    everything: set[str] = set()
    source = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]  # attached below: never eligible
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=source, InstanceId=instance, Device="/dev/sdf")
    for index, (kind, protection) in enumerate(plan):
        tags = {"Name": f"r{index}"}
        if protection == "protect":
            tags["finops:protect"] = "true"
        elif protection == "prod-tag":
            tags["Environment"] = "Production"
        elif protection == "backup-tag":
            tags["aws:backup:source-resource"] = "arn"
        elif protection == "dlm-tag":
            tags["aws:dlm:lifecycle-policy-id"] = "policy-0123"
        elif protection == "stack" and kind == "volume":
            tags["aws:cloudformation:stack-name"] = "app"
        spec = [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if kind == "volume":
            resource = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=spec)["VolumeId"]
            guarded = protection in ("protect", "prod-tag", "backup-tag", "dlm-tag", "stack")
        else:
            description = (
                "This snapshot is created by the AWS Backup service." if protection == "backup-description" else ""
            )
            resource = ec2.create_snapshot(VolumeId=source, Description=description, TagSpecifications=spec)[
                "SnapshotId"
            ]
            guarded = protection is not None and protection != "stack"
            if protection == "ami":
                image = ec2.register_image(Name=f"ami-{index}", RootDeviceName="/dev/xvda")["ImageId"]
                _moto_internals.back_image_with_snapshot(ACCOUNT, REGION, image, resource)
                if index % 2:
                    ec2.disable_image(ImageId=image)
            elif protection == "shared":
                ec2.modify_snapshot_attribute(
                    SnapshotId=resource,
                    Attribute="createVolumePermission",
                    OperationType="add",
                    UserIds=["444455556666"],
                )
        everything.add(resource)
        if guarded:
            protected.add(resource)
            CHECKED[protection or "?"] += 1
    return everything, protected


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=resources())
def test_enforce_never_marks_or_deletes_a_protected_resource(
    config: FinOpsConfig, plan: list[tuple[str, str | None]]
) -> None:
    data = config.model_dump(mode="json")
    data["capabilities"]["ebs_cleanup"] = {
        "mode": "enforce",
        "grace_days": 0,
        "require_recycle_bin": False,
        "max_deletion_percent": 100,
        "max_deletions_per_target": 1000,
    }
    enforce = FinOpsConfig.model_validate(data)
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        everything, protected = _seed(ec2, plan)
        CHECKED["estates"] += 1
        now = datetime.now(UTC) + timedelta(days=200)
        result = run_target(
            CleanupCapability(enforce, sleep=lambda _: None),
            Target(ACCOUNT, REGION),
            RunContext("prop", "ebs_cleanup", "sweep", now, Mode.ENFORCE),
            scopes=AwsClients(region=REGION),
            role_name="FinOpsMemberRole",
            kill_switch=NoKillSwitch(),
            audit=MemoryAuditTrail(clock=lambda: now),
            actor="property",
        )
        assert result.status == "done", result.error
        volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
        snapshots = {s["SnapshotId"]: s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        for resource in protected:
            found = volumes.get(resource) or snapshots.get(resource)
            assert found is not None, f"protected {resource} was deleted"
            assert AFTER_TAG not in {t["Key"] for t in found.get("Tags", [])}, f"protected {resource} was marked"
        deleted = {o.action.resource for o in result.outcomes if o.ok and o.action.action == "delete"}
        assert deleted == everything - protected  # and everything else eligible went, in the same run
