"""Seeding: the default estate, reachable through Organizations and sts:AssumeRole the way the runtime reaches it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from finops.models.config import load_config
from tools.sim.estate import SimulatedOrganization

REPO = Path(__file__).resolve().parents[2]
MEMBER_ROLE = load_config(REPO / "finops.yaml").organization.member_role_name


def _as_runtime(account: str, region: str) -> boto3.Session:
    """What the runtime does: assume the member role named in finops.yaml, from the default credentials."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _names(described: list[dict[str, Any]]) -> set[str]:
    return {t["Value"] for item in described for t in item.get("Tags", []) if t["Key"] == "Name"}


def test_default_credentials_are_the_management_accounts(default_sim: SimulatedOrganization) -> None:
    assert boto3.client("sts").get_caller_identity()["Account"] == "111111111111"
    organization = boto3.client("organizations").describe_organization()["Organization"]
    assert organization["MasterAccountId"] == "111111111111"
    assert organization["MasterAccountEmail"] == "aws-management@acme.example"


def test_accounts_have_the_ids_names_and_emails_the_estate_gives(default_sim: SimulatedOrganization) -> None:
    pages = boto3.client("organizations").get_paginator("list_accounts").paginate()
    accounts = {a["Id"]: (a["Name"], a["Email"]) for page in pages for a in page["Accounts"]}

    assert accounts == {
        "111111111111": ("acme-management", "aws-management@acme.example"),
        "222222222222": ("shared-services", "aws-shared-services@acme.example"),
        "333333333333": ("payments-prod", "aws-payments-prod@acme.example"),
        "444444444444": ("payments-staging", "aws-payments-staging@acme.example"),
        "555555555555": ("data-dev", "aws-data-dev@acme.example"),
        "666666666666": ("sandbox-untagged", "aws-sandbox@acme.example"),
        "777777777777": ("sandbox-legacy", "aws-sandbox-legacy@acme.example"),
    }


@pytest.mark.parametrize(
    ("account", "ou_path"),
    [
        ("222222222222", ["Infrastructure"]),
        ("333333333333", ["Workloads", "Prod"]),
        ("444444444444", ["Workloads", "NonProd"]),
        ("555555555555", ["Workloads", "NonProd"]),
        ("666666666666", ["Sandbox"]),
        ("777777777777", ["Sandbox"]),
    ],
)
def test_accounts_sit_in_their_ou(default_sim: SimulatedOrganization, account: str, ou_path: list[str]) -> None:
    org = boto3.client("organizations")
    direct_parent = org.list_parents(ChildId=account)["Parents"][0]["Id"]
    names, child = [], account
    while (parent := org.list_parents(ChildId=child)["Parents"][0])["Type"] != "ROOT":
        names.insert(
            0, org.describe_organizational_unit(OrganizationalUnitId=parent["Id"])["OrganizationalUnit"]["Name"]
        )
        child = parent["Id"]

    assert names == ou_path
    assert default_sim.ou_ids["/".join(ou_path)] == direct_parent


@pytest.mark.parametrize(
    ("account", "tags"),
    [
        ("222222222222", {"team": "platform", "environment": "prod", "cost-center": "CC-0001"}),
        ("333333333333", {"team": "payments", "environment": "prod", "owner": "maria.garcia@acme.example"}),
        ("444444444444", {"team": "payments", "environment": "staging"}),
        ("555555555555", {"team": "data", "environment": "dev", "owner": "dana.kim@acme.example"}),
        ("666666666666", {}),
        ("777777777777", {"team": "platform", "environment": "dev"}),
    ],
)
def test_account_tags_are_readable_in_organizations(
    default_sim: SimulatedOrganization, account: str, tags: dict[str, str]
) -> None:
    listed = boto3.client("organizations").list_tags_for_resource(ResourceId=account)["Tags"]

    assert {t["Key"]: t["Value"] for t in listed} == tags


def test_member_role_exists_in_every_member_account_the_stackset_reached(default_sim: SimulatedOrganization) -> None:
    assert default_sim.member_role_name == MEMBER_ROLE
    reached = [a for a in default_sim.estate.accounts if a.member_role]
    assert [a.name for a in default_sim.estate.accounts if not a.member_role] == ["sandbox-legacy"]
    for account in reached:
        role = _as_runtime(account.id, "eu-west-1").client("iam").get_role(RoleName=MEMBER_ROLE)["Role"]
        assert role["Arn"] == f"arn:aws:iam::{account.id}:role/{MEMBER_ROLE}"


@pytest.mark.parametrize(
    ("account", "region", "instances", "volumes"),
    [
        (
            "333333333333",
            "eu-west-1",
            {"payments-api-1", "payments-api-2", "payments-worker", "payments-batch", "payments-reporting"},
            5,
        ),
        ("333333333333", "us-east-1", {"payments-dr-standby"}, 2),
        ("444444444444", "us-east-1", {"payments-api-staging-us"}, 1),
        ("555555555555", "us-east-1", {"experiment-gpu", "dashboards-dev-us"}, 1),
        ("666666666666", "eu-west-1", {"test"}, 13),
        ("666666666666", "us-east-1", set(), 0),
    ],
)
def test_resources_are_in_their_account_and_region_only(
    default_sim: SimulatedOrganization, account: str, region: str, instances: set[str], volumes: int
) -> None:
    ec2 = _as_runtime(account, region).client("ec2")
    reservations = ec2.describe_instances()["Reservations"]
    described = [i for r in reservations for i in r["Instances"]]
    named = [i for i in described if not any(t["Key"] == "aws:autoscaling:groupName" for t in i.get("Tags", []))]

    assert _names(named) == instances
    assert len([v for v in ec2.describe_volumes()["Volumes"] if v.get("Tags")]) == volumes


def test_ids_in_the_simulation_point_at_the_named_resources(default_sim: SimulatedOrganization) -> None:
    volume_id = default_sim.id_of("333333333333", "eu-west-1", "volume", "payments-ledger-export")
    ec2 = default_sim.session("333333333333", "eu-west-1").client("ec2")

    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]

    assert volume["State"] == "available"
    assert (volume["Size"], volume["VolumeType"]) == (1000, "gp2")
    assert {t["Key"]: t["Value"] for t in volume["Tags"]} == {
        "Name": "payments-ledger-export",
        "team": "payments",
        "environment": "prod",
        "cost-center": "CC-0042",
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("account", "region", "kind", "name", "expected"),
    [
        ("333333333333", "eu-west-1", "instance", "payments-batch", "2026-02-02T01:00:00"),
        ("333333333333", "eu-west-1", "volume", "payments-ledger-export", "2025-09-14T11:20:00"),
        ("333333333333", "eu-west-1", "snapshot", "payments-db-pre-migration", "2025-05-02T22:00:00"),
        ("333333333333", "eu-west-1", "image", "payments-api-2026-11", "2026-11-01T04:00:00"),
        ("333333333333", "eu-west-1", "db_instance", "payments-ledger", "2025-05-03T06:00:00"),
        ("333333333333", "eu-west-1", "auto_scaling_group", "payments-workers", "2026-03-19T16:40:00"),
        ("222222222222", "us-east-1", "instance", "dns-resolver", "2024-12-02T12:00:00"),
    ],
)
def test_timestamps_are_the_estates(
    default_sim: SimulatedOrganization, account: str, region: str, kind: Any, name: str, expected: str
) -> None:
    session = default_sim.session(account, region)
    resource_id = default_sim.id_of(account, region, kind, name)
    ec2 = session.client("ec2")
    described = {
        "instance": lambda: ec2.describe_instances(InstanceIds=[resource_id])["Reservations"][0]["Instances"][0][
            "LaunchTime"
        ],
        "volume": lambda: ec2.describe_volumes(VolumeIds=[resource_id])["Volumes"][0]["CreateTime"],
        "snapshot": lambda: ec2.describe_snapshots(SnapshotIds=[resource_id])["Snapshots"][0]["StartTime"],
        "image": lambda: datetime.fromisoformat(
            ec2.describe_images(ImageIds=[resource_id])["Images"][0]["CreationDate"]
        ),
        "db_instance": lambda: session.client("rds").describe_db_instances(DBInstanceIdentifier=resource_id)[
            "DBInstances"
        ][0]["InstanceCreateTime"],
        "auto_scaling_group": lambda: session.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[resource_id]
        )["AutoScalingGroups"][0]["CreatedTime"],
    }[kind]()

    assert described == _when(expected)


def test_states_are_the_estates(default_sim: SimulatedOrganization) -> None:
    session = default_sim.session("444444444444", "eu-west-1")
    load_test = default_sim.id_of("444444444444", "eu-west-1", "instance", "payments-load-test")

    instance = session.client("ec2").describe_instances(InstanceIds=[load_test])["Reservations"][0]["Instances"][0]
    database = session.client("rds").describe_db_instances(DBInstanceIdentifier="payments-staging-db")["DBInstances"]

    assert instance["State"]["Name"] == "stopped"
    assert database[0]["DBInstanceStatus"] == "stopped"


def test_attached_volumes_are_attached_to_their_instance(default_sim: SimulatedOrganization) -> None:
    ids = {name: default_sim.id_of("333333333333", "eu-west-1", "volume", name) for name in ("payments-api-1-data",)}
    ec2 = default_sim.session("333333333333", "eu-west-1").client("ec2")

    [volume] = ec2.describe_volumes(VolumeIds=[ids["payments-api-1-data"]])["Volumes"]

    assert volume["State"] == "in-use"
    assert volume["Attachments"][0]["InstanceId"] == default_sim.id_of(
        "333333333333", "eu-west-1", "instance", "payments-api-1"
    )


def test_snapshot_of_a_deleted_volume_keeps_its_size_and_loses_its_volume(default_sim: SimulatedOrganization) -> None:
    ec2 = default_sim.session("333333333333", "eu-west-1").client("ec2")
    snapshot_id = default_sim.id_of("333333333333", "eu-west-1", "snapshot", "payments-db-pre-migration")

    [snapshot] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]

    assert snapshot["VolumeSize"] == 500
    with pytest.raises(ClientError, match=r"InvalidVolume\.NotFound"):
        ec2.describe_volumes(VolumeIds=[snapshot["VolumeId"]])


def test_image_registered_from_a_snapshot_is_backed_by_it(default_sim: SimulatedOrganization) -> None:
    # Given the golden image registered from a named root snapshot
    ec2 = default_sim.session("222222222222", "eu-west-1").client("ec2")
    image_id = default_sim.id_of("222222222222", "eu-west-1", "image", "golden-al2023-2025-06")
    snapshot_id = default_sim.id_of("222222222222", "eu-west-1", "snapshot", "golden-root-2025-06")

    # Then the image's root device is that snapshot, no other snapshot was invented, and the snapshot is in use
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]] == [snapshot_id]
    owned = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert _names(owned) == {"golden-root-2025-06", "golden-root-2026-11", "ci-cache-weekly-2026-11-20"}
    assert len(owned) == 3
    with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
        ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_auto_scaling_group_launched_its_instances(default_sim: SimulatedOrganization) -> None:
    session = default_sim.session("333333333333", "eu-west-1")

    [group] = session.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["payments-workers"])[
        "AutoScalingGroups"
    ]

    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (2, 2, 6)
    assert len(group["Instances"]) == 2
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["team"] == "payments"


def test_no_public_images_fill_the_accounts(default_sim: SimulatedOrganization) -> None:
    ec2 = default_sim.session("666666666666", "eu-west-1").client("ec2")

    assert ec2.describe_images()["Images"] == []
    assert len(ec2.describe_snapshots()["Snapshots"]) == 1


# -- the non-prod fleet the scheduler works on ------------------------------------------------------------------


def _rds(sim: SimulatedOrganization, account: str) -> Any:
    return sim.session(account, "eu-west-1").client("rds")


def _tags(listed: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in listed}


def test_aurora_cluster_lists_its_members(default_sim: SimulatedOrganization) -> None:
    [cluster] = _rds(default_sim, "444444444444").describe_db_clusters(DBClusterIdentifier="payments-orders-staging")[
        "DBClusters"
    ]

    assert (cluster["Engine"], cluster["Status"]) == ("aurora-postgresql", "available")
    assert [(m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in cluster["DBClusterMembers"]] == [
        ("payments-orders-staging-1", True),
        ("payments-orders-staging-2", False),
    ]
    assert _tags(cluster["TagList"])["schedule"] == "office-hours"
    assert cluster["ClusterCreateTime"].isoformat() == "2026-06-01T09:00:00+00:00"


def test_cluster_members_take_the_clusters_engine_and_class(default_sim: SimulatedOrganization) -> None:
    members = _rds(default_sim, "444444444444").describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": ["payments-orders-staging"]}]
    )["DBInstances"]

    assert {(m["DBInstanceIdentifier"], m["Engine"], m["DBInstanceClass"]) for m in members} == {
        ("payments-orders-staging-1", "aurora-postgresql", "db.r6g.large"),
        ("payments-orders-staging-2", "aurora-postgresql", "db.r6g.large"),
    }
    assert {m["DBClusterIdentifier"] for m in members} == {"payments-orders-staging"}
    assert "schedule" not in _tags(members[0]["TagList"])  # the schedule is the cluster's


def test_read_replica_and_its_source_name_each_other(default_sim: SimulatedOrganization) -> None:
    rds = _rds(default_sim, "555555555555")

    [source] = rds.describe_db_instances(DBInstanceIdentifier="analytics-dev")["DBInstances"]
    [replica] = rds.describe_db_instances(DBInstanceIdentifier="analytics-dev-replica")["DBInstances"]

    assert source["ReadReplicaDBInstanceIdentifiers"] == ["analytics-dev-replica"]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in source
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "analytics-dev"
    assert (replica["Engine"], replica["DBInstanceClass"], replica["AllocatedStorage"]) == (
        "postgres",
        "db.r6g.large",
        200,
    )
    assert _tags(replica["TagList"]) == {
        "team": "data",
        "environment": "dev",
        "cost-center": "CC-0107",
        "schedule": "office-hours",
    }
    assert replica["InstanceCreateTime"].isoformat() == "2026-03-09T09:00:00+00:00"


def _instance(sim: SimulatedOrganization, account: str, region: str, name: str) -> dict[str, Any]:
    instance_id = sim.id_of(account, region, "instance", name)
    ec2 = _as_runtime(account, region).client("ec2")
    described: dict[str, Any] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return described


def test_hibernation_is_configured_where_the_estate_says(default_sim: SimulatedOrganization) -> None:
    cache = _instance(default_sim, "444444444444", "eu-west-1", "payments-cache-staging")
    web = _instance(default_sim, "444444444444", "eu-west-1", "payments-web-staging")

    assert cache["HibernationOptions"] == {"Configured": True}
    assert web.get("HibernationOptions", {}).get("Configured", False) is False  # moto: {} where AWS says false


def test_an_instance_configured_for_hibernation_can_be_stopped_hibernating(default_sim: SimulatedOrganization) -> None:
    ec2 = _as_runtime("444444444444", "eu-west-1").client("ec2")
    cache = default_sim.id_of("444444444444", "eu-west-1", "instance", "payments-cache-staging")

    ec2.stop_instances(InstanceIds=[cache], Hibernate=True)  # moto accepts it, and stops it as a plain stop

    assert _instance(default_sim, "444444444444", "eu-west-1", "payments-cache-staging")["State"]["Name"] == "stopped"
    ec2.start_instances(InstanceIds=[cache])  # leave the shared estate as it was
    assert _instance(default_sim, "444444444444", "eu-west-1", "payments-cache-staging")["State"]["Name"] == "running"


@pytest.mark.parametrize(
    ("account", "region", "name", "schedule"),
    [
        ("444444444444", "eu-west-1", "payments-web-staging", "office-hours"),
        ("444444444444", "eu-west-1", "payments-partner-demo", "always-on"),
        ("444444444444", "us-east-1", "payments-api-staging-us", "us-office-hours"),
        ("555555555555", "us-east-1", "dashboards-dev-us", "us-office-hours"),
        ("555555555555", "eu-west-1", "jupyter-hub-dev", None),
        ("333333333333", "eu-west-1", "payments-reporting", "office-hours"),
    ],
)
def test_instances_carry_their_schedule_tags(
    default_sim: SimulatedOrganization, account: str, region: str, name: str, schedule: str | None
) -> None:
    described = _instance(default_sim, account, region, name)

    assert described["State"]["Name"] == "running"
    assert _tags(described["Tags"]).get("schedule") == schedule


def test_the_overridden_instance_says_until_when(default_sim: SimulatedOrganization) -> None:
    tags = _tags(_instance(default_sim, "444444444444", "eu-west-1", "payments-uat-staging")["Tags"])

    assert tags["schedule-override"] == "2026-11-30T20:00:00Z"


def test_the_instance_that_will_not_start_runs_until_stopped(default_sim: SimulatedOrganization) -> None:
    recon = default_sim.id_of("444444444444", "eu-west-1", "instance", "payments-recon-staging")

    assert _instance(default_sim, "444444444444", "eu-west-1", "payments-recon-staging")["State"]["Name"] == "running"
    assert default_sim.faults.start_errors == {("444444444444", "eu-west-1", recon): "InsufficientInstanceCapacity"}


def test_scheduled_auto_scaling_group_runs_two_of_four(default_sim: SimulatedOrganization) -> None:
    autoscaling = _as_runtime("444444444444", "eu-west-1").client("autoscaling")

    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["payments-checkout-staging"])[
        "AutoScalingGroups"
    ]

    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (1, 2, 4)
    assert len(group["Instances"]) == 2
    assert _tags(group["Tags"])["schedule"] == "office-hours"


def test_the_runtime_cannot_assume_into_the_legacy_sandbox(default_sim: SimulatedOrganization) -> None:
    with pytest.raises(ClientError) as raised:
        _as_runtime("777777777777", "eu-west-1")

    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert default_sim.estate.account("777777777777").regions["eu-west-1"].instances[0].name == "legacy-jenkins"
