"""What the storage clean-up needs from the simulated Organization: volumes' provisioned performance and stack tags,
snapshots' system tags and sharing, disabled, deprecated and deregistered AMIs, the Recycle Bin (which moto lacks),
and DeleteVolume / DeleteSnapshot faults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tools.sim.estate import SimulatedOrganization, SimulationError, dump, seed, simulated_aws
from tools.sim.model import EstateError, RecycleBinRule, parse_estate

ACCOUNT, OTHER = "333333333333", "444444444444"
REGION, SECOND = "eu-west-1", "us-east-1"
OLD = "2026-01-05T10:00:00Z"
BACKUP_ARN = "arn:aws:ec2:eu-west-1:333333333333:volume/vol-0a1b2c3d4e5f60718"
DLM_DESCRIPTION = "Created for policy: policy-0123456789abcdef0 schedule: Default Schedule"


def _storage(small_estate: dict[str, Any]) -> dict[str, Any]:
    """The small estate with every storage field the clean-up reads, in two accounts and two regions."""
    small_estate["regions"] = [REGION, SECOND]
    region = small_estate["accounts"][0]["regions"][REGION]
    region["volumes"] += [
        {"name": "fast", "size_gb": 100, "iops": 6000, "throughput": 500, "created_at": OLD},
        {"name": "db", "size_gb": 200, "volume_type": "io1", "iops": 4000, "created_at": OLD},
        {"name": "stacked", "size_gb": 5, "tags": {"aws:cloudformation:stack-name": "etl"}, "created_at": OLD},
        {
            "name": "stuck",
            "size_gb": 5,
            "volume_type": "gp2",
            "delete_error": "UnauthorizedOperation",
            "created_at": OLD,
        },
    ]
    region["snapshots"] = [
        {
            "name": "backup",
            "size_gb": 50,
            "description": "This snapshot is created by the AWS Backup service.",
            "tags": {"aws:backup:source-resource": BACKUP_ARN},
            "created_at": OLD,
        },
        {
            "name": "dlm",
            "volume": "api-data",
            "description": DLM_DESCRIPTION,
            "tags": {"aws:dlm:lifecycle-policy-id": "policy-0123456789abcdef0", "team": "payments"},
            "created_at": OLD,
        },
        {"name": "shared", "size_gb": 8, "shared_with": ["555555555555", OTHER], "created_at": OLD},
        {"name": "public", "size_gb": 8, "shared_with": ["all"], "created_at": OLD},
        {"name": "stuck-snapshot", "size_gb": 8, "delete_error": "InvalidSnapshot.InUse", "created_at": OLD},
        {"name": "root-disabled", "size_gb": 8, "created_at": OLD},
        {"name": "root-deprecated", "size_gb": 8, "created_at": OLD},
        {"name": "root-left-behind", "size_gb": 8, "created_at": OLD},
    ]
    region["images"] = [
        {"name": "base-disabled", "snapshot": "root-disabled", "disabled": True, "created_at": OLD},
        {
            "name": "base-deprecated",
            "snapshot": "root-deprecated",
            "deprecated_at": "2026-09-01T00:00:00Z",
            "created_at": OLD,
        },
        {"name": "base-deregistered", "snapshot": "root-left-behind", "deregistered": True, "created_at": OLD},
    ]
    region["recycle_bin_rules"] = [
        {"resource_type": "EBS_VOLUME", "retention_days": 7, "exclude_tags": {"keep": "no"}, "locked": True},
        {"resource_type": "EBS_SNAPSHOT", "retention_days": 30, "resource_tags": {"team": "payments"}},
    ]
    small_estate["accounts"].append(
        {
            "id": OTHER,
            "name": "payments-staging",
            "email": "aws-payments-staging@acme.example",
            "regions": {
                REGION: {
                    "recycle_bin_rules": [
                        {"resource_type": "EBS_SNAPSHOT", "retention_days": 90, "description": "staging snapshots"}
                    ]
                }
            },
        }
    )
    return small_estate


@pytest.fixture
def storage_estate(small_estate: dict[str, Any]) -> dict[str, Any]:
    return _storage(small_estate)


@pytest.fixture
def storage_sim(storage_estate: dict[str, Any]) -> Iterator[SimulatedOrganization]:
    with simulated_aws(parse_estate(storage_estate, source="storage")) as sim:
        yield sim


def _ec2(sim: SimulatedOrganization) -> Any:
    return sim.session(ACCOUNT, REGION).client("ec2")


def _tags(described: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def _region(data: dict[str, Any], account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
    resources: dict[str, Any] = next(a for a in data["accounts"] if a["id"] == account)["regions"][region]
    return resources


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


# -- the estate file ---------------------------------------------------------------------------------------------------

SNAPSHOTS = ("accounts", 0, "regions", REGION, "snapshots")
VOLUMES = ("accounts", 0, "regions", REGION, "volumes")
IMAGES = ("accounts", 0, "regions", REGION, "images")
RULES = ("accounts", 0, "regions", REGION, "recycle_bin_rules")


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def test_snapshots_may_carry_aws_backup_and_dlm_tags_and_volumes_a_stack_name(storage_estate: dict[str, Any]) -> None:
    estate = parse_estate(storage_estate, source="storage")

    [resources] = estate.account(ACCOUNT).regions.values()
    snapshots = {s.name: s for s in resources.snapshots}
    assert snapshots["backup"].tags == {"aws:backup:source-resource": BACKUP_ARN}
    assert snapshots["dlm"].tags["aws:dlm:lifecycle-policy-id"] == "policy-0123456789abcdef0"
    assert next(v for v in resources.volumes if v.name == "stacked").tags == {"aws:cloudformation:stack-name": "etl"}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            (*SNAPSHOTS, 0, "tags"),
            {"aws:foo": "x"},
            f"accounts[0].regions.{REGION}.snapshots[0].tags: tag 'aws:foo': the aws: prefix is reserved for AWS "
            "(allowed here: aws:backup:*, aws:dlm:*)",
        ),
        (
            (*SNAPSHOTS, 0, "tags"),
            {"aws:cloudformation:stack-name": "etl"},
            "snapshots[0].tags: tag 'aws:cloudformation:stack-name': the aws: prefix is reserved for AWS",
        ),
        (
            (*VOLUMES, 0, "tags"),
            {"aws:backup:source-resource": "x"},
            "volumes[0].tags: tag 'aws:backup:source-resource': the aws: prefix is reserved for AWS (allowed here: "
            "aws:cloudformation:stack-name)",
        ),
        ((*VOLUMES, 0, "tags"), {"AWS:cloudformation:stack-name": "x"}, "volumes[0].tags: tag 'AWS:cloudformation"),
        (
            (*IMAGES, 0, "tags"),
            {"aws:backup:x": "y"},
            "images[0].tags: tag 'aws:backup:x': the aws: prefix is reserved",
        ),
        ((*VOLUMES, 5, "iops"), 3000, "volumes[5].iops: gp2 volumes take none (only gp3, io1, io2 do)"),
        ((*VOLUMES, 5, "throughput"), 250, "volumes[5].throughput: gp2 volumes take none (only gp3 do)"),
        ((*VOLUMES, 5, "volume_type"), "io2", "volumes[5].iops: io2 volumes need it (100-256000)"),
        ((*VOLUMES, 2, "iops"), 1000, "volumes[2].iops: 1000 is out of range for gp3 (3000-80000)"),
        (
            (*VOLUMES, 5, "delete_error"),
            "not a code",
            "volumes[5].delete_error: expected an EC2 error code (got 'not a code')",
        ),
        ((*SNAPSHOTS, 4, "delete_error"), "oops", "snapshots[4].delete_error: expected an EC2 error code (got 'oops')"),
        (
            (*SNAPSHOTS, 2, "shared_with"),
            ["everyone"],
            "snapshots[2].shared_with[0]: expected an account id, or all (public) (got 'everyone')",
        ),
        ((*SNAPSHOTS, 2, "shared_with"), [OTHER, OTHER], f"snapshots[2].shared_with: {OTHER} listed twice"),
        (
            (*SNAPSHOTS, 2, "shared_with"),
            [ACCOUNT],
            f"accounts[0].regions.{REGION}.snapshots[2].shared_with: {ACCOUNT} is the snapshot's own account",
        ),
        (
            (*IMAGES, 2, "disabled"),
            True,
            "images[2].deregistered: a deregistered image is gone, so it is neither disabled nor deprecated",
        ),
        (
            (*IMAGES, 2),
            {"name": "gone", "instance": "api", "deregistered": True, "created_at": OLD},
            "images[2].deregistered: give the image a `snapshot` (the one it leaves behind), not an `instance`",
        ),
        ((*IMAGES, 1, "deprecated_at"), "2026-09-01", "images[1].deprecated_at: timestamps need a timezone"),
        ((*RULES, 0, "retention_days"), 8, "recycle_bin_rules[0].retention_days: EBS_VOLUME rules retain 1-7 days"),
        ((*RULES, 1, "retention_days"), 366, "recycle_bin_rules[1].retention_days: EBS_SNAPSHOT rules retain 1-365"),
        ((*RULES, 1, "resource_type"), "EC2_IMAGE", "recycle_bin_rules[1].resource_type: Input should be"),
        ((*RULES, 1, "locked"), True, "recycle_bin_rules[1].locked: only a Region-level rule (no resource_tags)"),
        ((*RULES, 1, "exclude_tags"), {"a": "b"}, "recycle_bin_rules[1].exclude_tags: only a Region-level rule"),
        ((*RULES, 1, "Identifier"), "x", "recycle_bin_rules[1].Identifier: unknown key"),
    ],
)
def test_storage_mistakes_name_their_key_path(
    storage_estate: dict[str, Any], path: tuple[str | int, ...], value: Any, expected: str
) -> None:
    _set(storage_estate, path, value)

    with pytest.raises(EstateError) as raised:
        parse_estate(storage_estate, source="estate.yaml")

    assert expected in str(raised.value)


def test_a_gp3_volume_left_without_performance_has_the_baseline(storage_estate: dict[str, Any]) -> None:
    [resources] = parse_estate(storage_estate, source="storage").account(ACCOUNT).regions.values()

    volumes = {v.name: v for v in resources.volumes}
    assert (volumes["old-export"].iops, volumes["old-export"].throughput) == (3000, 125)
    assert (volumes["fast"].iops, volumes["fast"].throughput) == (6000, 500)
    assert (volumes["db"].iops, volumes["db"].throughput) == (4000, None)
    assert (volumes["stuck"].iops, volumes["stuck"].throughput) == (None, None)


def test_shared_with_is_kept_sorted(storage_estate: dict[str, Any]) -> None:
    [resources] = parse_estate(storage_estate, source="storage").account(ACCOUNT).regions.values()

    assert next(s for s in resources.snapshots if s.name == "shared").shared_with == (OTHER, "555555555555")


# -- seeded, as the runtime reads it -----------------------------------------------------------------------------------


def test_volumes_have_their_type_iops_throughput_and_stack_tag(storage_sim: SimulatedOrganization) -> None:
    ids = {name: storage_sim.id_of(ACCOUNT, REGION, "volume", name) for name in ("fast", "db", "stacked")}

    described = {v["VolumeId"]: v for v in _ec2(storage_sim).describe_volumes(VolumeIds=list(ids.values()))["Volumes"]}

    fast, db, stacked = (described[ids[name]] for name in ("fast", "db", "stacked"))
    assert (fast["VolumeType"], fast["Iops"], fast["Throughput"]) == ("gp3", 6000, 500)
    assert (db["VolumeType"], db["Iops"]) == ("io1", 4000)
    assert _tags(stacked) == {"Name": "stacked", "aws:cloudformation:stack-name": "etl"}


def test_snapshots_have_their_system_tags_descriptions_and_sharing(storage_sim: SimulatedOrganization) -> None:
    ec2 = _ec2(storage_sim)
    snapshots = {_tags(s)["Name"]: s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    assert _tags(snapshots["backup"])["aws:backup:source-resource"] == BACKUP_ARN
    assert snapshots["backup"]["Description"] == "This snapshot is created by the AWS Backup service."
    assert _tags(snapshots["dlm"])["aws:dlm:lifecycle-policy-id"] == "policy-0123456789abcdef0"
    assert snapshots["dlm"]["Description"] == DLM_DESCRIPTION

    def permissions(name: str) -> list[dict[str, str]]:
        attribute = ec2.describe_snapshot_attribute(
            SnapshotId=snapshots[name]["SnapshotId"], Attribute="createVolumePermission"
        )
        return sorted(attribute["CreateVolumePermissions"], key=str)

    assert permissions("shared") == [{"UserId": OTHER}, {"UserId": "555555555555"}]
    assert permissions("public") == [{"Group": "all"}]
    assert permissions("backup") == []


def test_disabled_and_deprecated_images_are_listed_to_their_owner(storage_sim: SimulatedOrganization) -> None:
    ec2 = _ec2(storage_sim)

    # When the clean-up lists the account's AMIs the way AWS needs it to (IncludeDisabled)
    images = ec2.describe_images(Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True)["Images"]

    # Then the disabled and the deprecated one are there, each backed by its snapshot; the deregistered one is gone
    by_name = {i["Name"]: i for i in images}
    assert set(by_name) == {"base-disabled", "base-deprecated"}
    assert by_name["base-disabled"]["State"] == "disabled"
    assert by_name["base-deprecated"]["State"] == "available"
    assert by_name["base-deprecated"]["DeprecationTime"] == "2026-09-01T00:00:00.000Z"
    root = storage_sim.id_of(ACCOUNT, REGION, "snapshot", "root-disabled")
    assert [m["Ebs"]["SnapshotId"] for m in by_name["base-disabled"]["BlockDeviceMappings"]] == [root]
    # moto 5.2.5 ignores IncludeDisabled: it lists disabled AMIs without it too (AWS does not; see tools/sim/ec2.py)
    assert {i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]} == set(by_name)


def test_a_deregistered_image_leaves_its_snapshot_unused(storage_sim: SimulatedOrganization) -> None:
    ec2 = _ec2(storage_sim)
    gone = storage_sim.id_of(ACCOUNT, REGION, "image", "base-deregistered")

    assert ec2.describe_images(ImageIds=[gone])["Images"] == []
    # Then its snapshot can be deleted, while a disabled image's is still in use
    with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
        ec2.delete_snapshot(SnapshotId=storage_sim.id_of(ACCOUNT, REGION, "snapshot", "root-disabled"))
    ec2.delete_snapshot(SnapshotId=storage_sim.id_of(ACCOUNT, REGION, "snapshot", "root-left-behind"))


def test_every_storage_field_dumps_back(storage_estate: dict[str, Any]) -> None:
    with simulated_aws(parse_estate(storage_estate, source="storage")) as sim:
        data = dump(sim)
        served = [r.identifier for r in sim.recycle_bin.rules_in(ACCOUNT, REGION)]

    # Then the dump describes the same estate, and each new field reads back as the file gave it
    assert parse_estate(data, source="dump").comparable() == parse_estate(storage_estate, source="file").comparable()
    region = _region(data)
    volumes = _by_name(region["volumes"])
    assert (volumes["fast"]["iops"], volumes["fast"]["throughput"]) == (6000, 500)
    assert (volumes["old-export"]["iops"], volumes["old-export"]["throughput"]) == (3000, 125)
    assert (volumes["db"]["iops"], volumes["db"]["throughput"]) == (4000, None)
    assert volumes["stacked"]["tags"] == {"aws:cloudformation:stack-name": "etl"}
    assert volumes["stuck"]["delete_error"] == "UnauthorizedOperation"
    snapshots = _by_name(region["snapshots"])
    assert snapshots["backup"]["tags"] == {"aws:backup:source-resource": BACKUP_ARN}
    assert snapshots["dlm"]["description"] == DLM_DESCRIPTION
    assert snapshots["shared"]["shared_with"] == [OTHER, "555555555555"]
    assert snapshots["public"]["shared_with"] == ["all"]
    assert snapshots["stuck-snapshot"]["delete_error"] == "InvalidSnapshot.InUse"
    assert snapshots["root-left-behind"]["volume"] is None  # the deregistered image's snapshot stays
    images = _by_name(region["images"])
    assert set(images) == {"base-disabled", "base-deprecated"}  # a deregistered image is not dumped back
    assert images["base-disabled"]["disabled"] is True
    assert images["base-deprecated"]["deprecated_at"] == "2026-09-01T00:00:00Z"
    rules = region["recycle_bin_rules"]
    assert [(r["resource_type"], r["retention_days"], r["locked"]) for r in rules] == [
        ("EBS_VOLUME", 7, True),
        ("EBS_SNAPSHOT", 30, False),
    ]
    assert rules[0]["exclude_tags"] == {"keep": "no"}
    assert rules[1]["resource_tags"] == {"team": "payments"}
    assert [r["id"] for r in rules] == served
    assert _region(data, OTHER)["recycle_bin_rules"][0]["description"] == "staging snapshots"

    # And seeded again, it dumps the same
    with simulated_aws(parse_estate(data, source="dump")) as again:
        assert parse_estate(dump(again), source="again").comparable() == parse_estate(data, source="d").comparable()


# -- the Recycle Bin ---------------------------------------------------------------------------------------------------


def _assumed(sim: SimulatedOrganization, account: str) -> boto3.Session:
    """A plain boto3 session from sts:AssumeRole of the member role, as the runtime makes one."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{sim.member_role_name}", RoleSessionName="finops-cleanup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_list_rules_answers_for_the_account_and_region_of_the_caller(storage_sim: SimulatedOrganization) -> None:
    prod = _assumed(storage_sim, ACCOUNT).client("rbin", region_name=REGION)
    staging = _assumed(storage_sim, OTHER).client("rbin", region_name=REGION)

    prod_volumes = prod.list_rules(ResourceType="EBS_VOLUME")["Rules"]
    prod_snapshots = prod.list_rules(ResourceType="EBS_SNAPSHOT")["Rules"]
    staging_snapshots = staging.list_rules(ResourceType="EBS_SNAPSHOT")["Rules"]

    [volume_rule] = prod_volumes
    assert volume_rule["RetentionPeriod"] == {"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}
    assert volume_rule["LockState"] == "locked"
    assert volume_rule["RuleArn"] == f"arn:aws:rbin:{REGION}:{ACCOUNT}:rule/{volume_rule['Identifier']}"
    assert [r["RetentionPeriod"]["RetentionPeriodValue"] for r in prod_snapshots] == [30]
    assert "LockState" not in prod_snapshots[0]  # never locked: AWS reports no lock state
    assert [(r["RetentionPeriod"]["RetentionPeriodValue"], r["Description"]) for r in staging_snapshots] == [
        (90, "staging snapshots")
    ]
    assert staging.list_rules(ResourceType="EBS_VOLUME")["Rules"] == []
    assert (
        _assumed(storage_sim, ACCOUNT)
        .client("rbin", region_name=SECOND)
        .list_rules(ResourceType="EBS_SNAPSHOT")["Rules"]
        == []
    )
    assert prod.list_rules(ResourceType="EBS_VOLUME", LockState="locked")["Rules"] == prod_volumes
    assert prod.list_rules(ResourceType="EBS_VOLUME", LockState="unlocked")["Rules"] == []
    assert prod.list_rules(ResourceType="EBS_SNAPSHOT", LockState="unlocked")["Rules"] == []  # never locked: no state


def test_get_rule_returns_the_rule_in_full(storage_sim: SimulatedOrganization) -> None:
    rbin = _assumed(storage_sim, ACCOUNT).client("rbin", region_name=REGION)
    volume_id, snapshot_id = (r.identifier for r in storage_sim.recycle_bin.rules_in(ACCOUNT, REGION))

    volume_rule = rbin.get_rule(Identifier=volume_id)
    snapshot_rule = rbin.get_rule(Identifier=snapshot_id)

    assert {k: v for k, v in volume_rule.items() if k != "ResponseMetadata"} == {
        "Identifier": volume_id,
        "ResourceType": "EBS_VOLUME",
        "RetentionPeriod": {"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"},
        "ResourceTags": [],
        "ExcludeResourceTags": [{"ResourceTagKey": "keep", "ResourceTagValue": "no"}],
        "Status": "available",
        "LockConfiguration": {"UnlockDelay": {"UnlockDelayValue": 7, "UnlockDelayUnit": "DAYS"}},
        "LockState": "locked",
        "RuleArn": f"arn:aws:rbin:{REGION}:{ACCOUNT}:rule/{volume_id}",
    }
    assert snapshot_rule["ResourceTags"] == [{"ResourceTagKey": "team", "ResourceTagValue": "payments"}]
    assert "LockState" not in snapshot_rule
    assert "LockConfiguration" not in snapshot_rule


def test_another_accounts_rule_is_not_found(storage_sim: SimulatedOrganization) -> None:
    [staging_rule] = storage_sim.recycle_bin.rules_in(OTHER, REGION)
    rbin = _assumed(storage_sim, ACCOUNT).client("rbin", region_name=REGION)

    with pytest.raises(rbin.exceptions.ResourceNotFoundException) as raised:
        rbin.get_rule(Identifier=staging_rule.identifier)

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["Reason"] == "RULE_NOT_FOUND"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_rules_pages(storage_sim: SimulatedOrganization) -> None:
    for days in (1, 2, 3):
        storage_sim.recycle_bin.add(ACCOUNT, SECOND, RecycleBinRule(resource_type="EBS_SNAPSHOT", retention_days=days))
    rbin = storage_sim.session(ACCOUNT, SECOND).client("rbin")

    pages = list(
        rbin.get_paginator("list_rules").paginate(ResourceType="EBS_SNAPSHOT", PaginationConfig={"PageSize": 2})
    )

    assert [len(p["Rules"]) for p in pages] == [2, 1]
    assert [r["RetentionPeriod"]["RetentionPeriodValue"] for p in pages for r in p["Rules"]] == [1, 2, 3]


def test_other_rbin_operations_are_refused(storage_sim: SimulatedOrganization) -> None:
    rbin = storage_sim.session(ACCOUNT, REGION).client("rbin")

    with pytest.raises(ClientError) as raised:
        rbin.create_rule(
            ResourceType="EBS_VOLUME", RetentionPeriod={"RetentionPeriodValue": 1, "RetentionPeriodUnit": "DAYS"}
        )

    assert raised.value.response["Error"]["Code"] == "NotImplemented"
    assert "CreateRule is not simulated" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert len(storage_sim.recycle_bin.rules_in(ACCOUNT, REGION)) == 2


def test_seed_alone_refuses_an_estate_with_recycle_bin_rules(small_estate: dict[str, Any]) -> None:
    small_estate["accounts"][0]["regions"][REGION]["recycle_bin_rules"] = [
        {"resource_type": "EBS_VOLUME", "retention_days": 7}
    ]

    with (
        mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}),
        mock_aws(),
        pytest.raises(SimulationError, match=r"recycle_bin_rules, and moto has no Recycle Bin"),
    ):
        seed(parse_estate(small_estate, source="rules"))


# -- simulated delete faults -------------------------------------------------------------------------------------------


def test_delete_errors_fail_delete_volume_and_delete_snapshot_with_their_code(
    storage_sim: SimulatedOrganization,
) -> None:
    ec2 = _ec2(storage_sim)
    stuck = storage_sim.id_of(ACCOUNT, REGION, "volume", "stuck")
    stuck_snapshot = storage_sim.id_of(ACCOUNT, REGION, "snapshot", "stuck-snapshot")

    with pytest.raises(ClientError) as volume_error:
        ec2.delete_volume(VolumeId=stuck)
    with pytest.raises(ClientError) as snapshot_error:
        ec2.delete_snapshot(SnapshotId=stuck_snapshot)

    # Then each call failed with the estate's code, and both are still there; the others delete as usual
    assert volume_error.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert snapshot_error.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"
    assert stuck_snapshot in snapshot_error.value.response["Error"]["Message"]
    assert ec2.describe_volumes(VolumeIds=[stuck])["Volumes"][0]["State"] == "available"
    assert ec2.describe_snapshots(SnapshotIds=[stuck_snapshot])["Snapshots"]
    ec2.delete_volume(VolumeId=storage_sim.id_of(ACCOUNT, REGION, "volume", "fast"))
    ec2.delete_snapshot(SnapshotId=storage_sim.id_of(ACCOUNT, REGION, "snapshot", "public"))


def test_a_delete_error_can_be_added_and_cleared_while_the_simulation_runs(storage_sim: SimulatedOrganization) -> None:
    ec2 = _ec2(storage_sim)
    fast = storage_sim.id_of(ACCOUNT, REGION, "volume", "fast")
    storage_sim.faults.delete_errors[(ACCOUNT, REGION, fast)] = "IncorrectState"

    with pytest.raises(ClientError, match="IncorrectState"):
        ec2.delete_volume(VolumeId=fast)
    assert _by_name(_region(dump(storage_sim))["volumes"])["fast"]["delete_error"] == "IncorrectState"

    storage_sim.faults.delete_errors.clear()
    ec2.delete_volume(VolumeId=fast)
    with pytest.raises(ClientError, match=r"InvalidVolume\.NotFound"):
        ec2.describe_volumes(VolumeIds=[fast])


def test_seed_alone_refuses_an_estate_with_delete_errors(small_estate: dict[str, Any]) -> None:
    small_estate["accounts"][0]["regions"][REGION]["volumes"][1]["delete_error"] = "UnauthorizedOperation"

    with (
        mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}),
        mock_aws(),
        pytest.raises(SimulationError, match=r"delete_error"),
    ):
        seed(parse_estate(small_estate, source="faulty"))


# -- the default estate's storage cases --------------------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _old_unattached(sim: SimulatedOrganization, account: str, region: str) -> tuple[set[str], int]:
    """The names of the volumes unattached for more than 14 days, and how many volumes there are (roots too)."""
    volumes = sim.session(account, region).client("ec2").describe_volumes()["Volumes"]
    old = {
        _tags(v).get("Name", v["VolumeId"])
        for v in volumes
        if v["State"] == "available" and v["CreateTime"] < NOW - timedelta(days=14)
    }
    return old, len(volumes)


def test_the_default_estate_has_the_clean_ups_cases(default_sim: SimulatedOrganization) -> None:
    # The volume cases in payments-staging eu-west-1: few enough of all its volumes for the circuit breaker to hold
    old, total = _old_unattached(default_sim, "444444444444", REGION)
    assert {"staging-perf-scratch", "staging-etl-handover", "staging-db-benchmark", "load-test-results"} <= old
    assert {"staging-restore-test", "load-test-archive"}.isdisjoint(old)
    # sandbox-untagged eu-west-1: 12 of its 14 volumes are old and unattached, so the circuit breaker trips there
    old, total = _old_unattached(default_sim, "666666666666", REGION)
    assert (len(old), total) == (12, 14)
    # Recycle Bin rules where there are candidates, but not in payments-staging us-east-1
    for account, region in (("444444444444", REGION), ("555555555555", REGION), ("666666666666", REGION)):
        rbin = default_sim.session(account, region).client("rbin")
        days = [
            r["RetentionPeriod"]["RetentionPeriodValue"]
            for t in ("EBS_VOLUME", "EBS_SNAPSHOT")
            for r in rbin.list_rules(ResourceType=t)["Rules"]
        ]
        assert days == [7, 30], (account, region)
    rbin = default_sim.session("444444444444", SECOND).client("rbin")
    assert rbin.list_rules(ResourceType="EBS_VOLUME")["Rules"] == []
    assert "forgotten-test-volume" in _old_unattached(default_sim, "444444444444", SECOND)[0]
    # The snapshot cases in data-dev eu-west-1: the disabled and the deprecated AMI, the deregistered one gone
    ec2 = default_sim.session("555555555555", REGION).client("ec2")
    images = ec2.describe_images(Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True)["Images"]
    assert {(i["Name"], i["State"], i.get("DeprecationTime")) for i in images} == {
        ("data-notebook-base-2026-03", "disabled", None),
        ("data-notebook-base-2026-05", "available", "2026-09-01T00:00:00.000Z"),
    }
