"""The clean-up's read, plan and apply against moto: real boto3 calls, one account, the clock moved forward."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.model import RunContext, Target
from finops.engine.worker import run_target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_tags import AFTER_TAG, FINAL_OF_TAG, RECORD_TAG, VOLUME_SPEC_TAG, parse_volume_spec
from finops.services.audit import MemoryAuditTrail
from finops.services.cleanup_run import CleanupCapability
from tools.sim import _moto_internals

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def _config(config: FinOpsConfig, **cleanup: Any) -> FinOpsConfig:
    data = config.model_dump(mode="json")
    data["capabilities"]["ebs_cleanup"] = {"mode": "enforce", "require_recycle_bin": False, **cleanup}
    return FinOpsConfig.model_validate(data)


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # else ~1,300 public-AMI snapshots in the account
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _volume(ec2: Any, name: str, *, size: int = 10, kind: str = "gp3", **tags: str) -> str:
    tag_list = [{"Key": "Name", "Value": name}, *({"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items())]
    return str(
        ec2.create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=size,
            VolumeType=kind,
            TagSpecifications=[{"ResourceType": "volume", "Tags": tag_list}],
        )["VolumeId"]
    )


def _run(config: FinOpsConfig, now: datetime, mode: Mode = Mode.ENFORCE, run_id: str = "run-1") -> Any:
    audit = MemoryAuditTrail(clock=lambda: now)
    ctx = RunContext(run_id, "ebs_cleanup", "sweep", now, mode)
    result = run_target(
        CleanupCapability(config, sleep=lambda _: None),
        Target(ACCOUNT, REGION, name="sandbox", team="data"),
        ctx,
        scopes=AwsClients(region=REGION),
        role_name="FinOpsMemberRole",
        kill_switch=NoKillSwitch(),
        audit=audit,
        actor="test",
    )
    return result, audit


def test_marks_then_deletes_after_the_grace_period_with_a_final_snapshot(ec2: Any, config: FinOpsConfig) -> None:
    config = _config(config, max_deletion_percent=100)
    old = _volume(ec2, "old-data", size=20, team="payments")
    attached = _volume(ec2, "attached")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=attached, InstanceId=instance, Device="/dev/sdf")
    protected = _volume(ec2, "keep-me", finops_protect="true")
    day_30 = datetime.now(UTC) + timedelta(days=30)

    first, _ = _run(config, day_30)
    assert first.status == "done", first.error
    assert {(a.resource, a.action) for a in first.planned} == {(old, "mark")}
    assert [s.resource for s in first.skipped if s.notable] == [protected]
    tags = {t["Key"]: t["Value"] for t in ec2.describe_volumes(VolumeIds=[old])["Volumes"][0]["Tags"]}
    assert tags[AFTER_TAG] == (day_30 + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first.calls.get("ec2:CreateTags") == 1

    early, _ = _run(config, day_30 + timedelta(days=3), run_id="run-2")
    assert early.planned == ()

    sweep, audit = _run(config, day_30 + timedelta(days=8), run_id="run-3")
    assert [(a.resource, a.action) for a in sweep.planned] == [(old, "delete")]
    (outcome,) = sweep.outcomes
    assert outcome.ok, outcome.error
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [old]}])["Volumes"] == []
    final = ec2.describe_snapshots(SnapshotIds=[outcome.after["final_snapshot"]])["Snapshots"][0]
    final_tags = {t["Key"]: t["Value"] for t in final["Tags"]}
    assert final_tags[FINAL_OF_TAG] == old
    assert final_tags[RECORD_TAG] == outcome.after["record_id"] == f"run-3/{ACCOUNT}/{REGION}/{old}"
    assert final_tags["team"] == "payments"
    assert final_tags["Name"] == "old-data"
    assert parse_volume_spec(final_tags[VOLUME_SPEC_TAG])["size"] == "20"
    assert old in final["Description"]
    assert "20 GiB" in final["Description"]
    (record,) = audit.items
    assert record["id"] == outcome.after["record_id"]
    assert record["before"]["size_gb"] == 20
    assert record["before"]["tags"]["team"] == "payments"
    assert record["after"]["final_snapshot"] == final["SnapshotId"]


def test_report_mode_plans_the_same_and_changes_nothing(ec2: Any, config: FinOpsConfig) -> None:
    config = _config(config, grace_days=0, max_deletion_percent=100)
    volumes = [_volume(ec2, f"v{i}") for i in range(3)]
    later = datetime.now(UTC) + timedelta(days=30)
    report, _ = _run(config, later, Mode.REPORT)
    assert report.outcomes == ()
    assert len(ec2.describe_volumes()["Volumes"]) == 3
    enforce, _ = _run(config, later, Mode.ENFORCE)
    assert [a.to_json() for a in enforce.planned] == [a.to_json() for a in report.planned]
    assert all(o.ok for o in enforce.outcomes)
    assert len(enforce.outcomes) == len(volumes)
    assert ec2.describe_volumes()["Volumes"] == []


def test_a_marked_volume_attached_again_is_unmarked(ec2: Any, config: FinOpsConfig) -> None:
    config = _config(config, max_deletion_percent=100)
    volume = _volume(ec2, "comes-back")
    later = datetime.now(UTC) + timedelta(days=30)
    _run(config, later)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    result, _ = _run(config, later + timedelta(days=8), run_id="run-2")
    assert [(a.resource, a.action) for a in result.planned] == [(volume, "unmark")]
    assert result.planned[0].reason.startswith("no longer eligible: in-use")
    tags = {t["Key"] for t in ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Tags"]}
    assert AFTER_TAG not in tags


def test_the_breaker_holds_every_deletion_and_keeps_the_marks(ec2: Any, config: FinOpsConfig) -> None:
    config = _config(config, grace_days=0, max_deletions_per_target=2)
    for i in range(3):
        _volume(ec2, f"v{i}")
    result, _ = _run(config, datetime.now(UTC) + timedelta(days=30))
    assert result.holds
    assert "Circuit breaker tripped" in result.holds[0]
    assert {a.action for a in result.planned} == {"mark"}
    assert len(ec2.describe_volumes()["Volumes"]) == 3
    assert all(AFTER_TAG in {t["Key"] for t in v["Tags"]} for v in ec2.describe_volumes()["Volumes"])


def test_snapshots_backing_an_ami_or_young_stay(ec2: Any, config: FinOpsConfig) -> None:
    config = _config(config, grace_days=0, max_deletion_percent=100, volumes={"enabled": False})
    volume = _volume(ec2, "source")
    orphan = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    backing = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.register_image(
        Name="base",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": backing}}],
    )["ImageId"]
    _moto_internals.back_image_with_snapshot(ACCOUNT, REGION, image, backing)  # moto ignores the mapping
    young = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    result, _ = _run(config, datetime.now(UTC) + timedelta(days=100))
    assert {o.action.resource for o in result.outcomes if o.ok} == {orphan, young}  # young at day 100 is old too
    assert [s.reason for s in result.skipped if s.resource == backing] == [f"backs AMI {image}"]


def test_amis_are_read_with_disabled_and_deprecated_ones(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto lists disabled AMIs whatever is asked; real EC2 hides them unless IncludeDisabled: assert the request."""
    from finops.aws.clients import AccountScope

    requests: list[dict[str, Any]] = []
    make = AccountScope.client

    def recording(self: AccountScope, service: str) -> Any:
        client = make(self, service)
        client.meta.events.register(
            "provide-client-params.ec2.DescribeImages", lambda params, **_: requests.append(dict(params))
        )
        return client

    monkeypatch.setattr(AccountScope, "client", recording)
    _run(_config(config), datetime.now(UTC))
    assert requests
    assert all(r["IncludeDisabled"] and r["IncludeDeprecated"] and r["Owners"] == ["self"] for r in requests)


def test_one_failing_deletion_does_not_stop_the_others(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A per-item failure is that item's outcome, never reported as deleted; a failed tag batch is bisected."""
    from botocore.exceptions import ClientError

    from finops.aws.clients import AccountScope

    config = _config(config, grace_days=0, max_deletion_percent=100, volumes={"final_snapshot": False})
    volumes = [_volume(ec2, f"v{i}") for i in range(4)]
    refused, untaggable = volumes[1], volumes[2]
    make = AccountScope.client

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DeleteVolume" and params["VolumeId"] == refused:
            raise ClientError({"Error": {"Code": "VolumeInUse", "Message": f"{refused} is in use"}}, "DeleteVolume")
        if model.name == "CreateTags" and untaggable in params["Resources"]:
            raise ClientError({"Error": {"Code": "TagLimitExceeded", "Message": "50 tags"}}, "CreateTags")

    def faulty(self: AccountScope, service: str) -> Any:
        client = make(self, service)
        client.meta.events.register("before-parameter-build.ec2.*", refuse)
        return client

    monkeypatch.setattr(AccountScope, "client", faulty)
    result, audit = _run(config, datetime.now(UTC) + timedelta(days=30))
    outcomes = {o.action.resource: o for o in result.outcomes}
    assert not outcomes[refused].ok
    assert outcomes[refused].error.startswith("VolumeInUse")
    assert not outcomes[untaggable].ok
    assert outcomes[untaggable].error.startswith("could not mark: TagLimitExceeded")
    assert {v for v, o in outcomes.items() if o.ok} == {volumes[0], volumes[3]}
    left = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert left == {refused, untaggable}
    assert {r["target"].rsplit("/", 1)[1]: r["after"]["verified"] for r in audit.items} == {
        volumes[0]: True,
        refused: False,
        untaggable: False,
        volumes[3]: True,
    }
