"""Tag compliance's read, plan and apply in one target against moto, through the engine's worker (``run_target``): real
boto3 calls, the resources read back through the API as an operator would. moto cannot backdate an instance, so the
clock moves forward instead: the mark run is today, the stop run after the grace period."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from finops.aws.clients import AccountScope, AwsClients
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.model import Action, RunContext, Target, TargetResult
from finops.engine.worker import run_target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.rules.tag_compliance import MARK_TAG
from finops.services.audit import MemoryAuditTrail
from finops.services.tag_compliance import MEMBER_PERMISSIONS
from finops.services.tag_compliance.apply import apply
from finops.services.tag_compliance.inventory import read_inventory
from finops.services.tag_compliance_run import TagComplianceCapability
from tests.conftest import record_calls
from tests.stacks.template_helpers import config_with

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account for its default credentials
GOOD = {"team": "data", "environment": "dev", "cost-center": "CC-0107"}
MUTATING = ("Create", "Delete", "Add", "Remove", "Stop", "Start", "Modify")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        clients = AwsClients(region=REGION)  # one session: each service model is loaded once
        yield {"ec2": clients.client("ec2"), "rds": clients.client("rds"), "clients": clients}


@pytest.fixture
def enforcing(config: FinOpsConfig) -> FinOpsConfig:
    return config_with(config, capabilities={"tag_enforcement": {"mode": "enforce", "grace_days": 7}})


def launch(ec2: Any, name: str, **tags: str) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()]
    [created] = ec2.run_instances(
        ImageId="ami-12345678",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tag_list},
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in GOOD.items()]},
        ],
    )["Instances"]
    return str(created["InstanceId"])


def seed(aws: dict[str, Any]) -> dict[str, str]:
    """name -> id: instances of every case, an untagged volume and snapshot, an RDS instance and cluster."""
    ec2, rds = aws["ec2"], aws["rds"]
    ids = {
        "untagged": launch(ec2, "untagged"),
        "wrong-case": launch(ec2, "wrong-case", Team="data", environment="dev", **{"cost-center": "CC-0107"}),
        "compliant": launch(ec2, "compliant", **GOOD),
        "protected": launch(ec2, "protected", **{"finops:protect": "true"}),
        "prod-tagged": launch(ec2, "prod-tagged", environment="prod"),
    }
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    ids["volume"] = volume
    ids["snapshot"] = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    password = {"MasterUsername": "finops", "MasterUserPassword": "not-a-secret-0"}
    ids["db"] = rds.create_db_instance(
        DBInstanceIdentifier="catalog",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        Tags=[{"Key": k, "Value": v} for k, v in {**GOOD, "environment": "Dev"}.items()],
        **password,
    )["DBInstance"]["DBInstanceArn"]
    ids["cluster"] = rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        Tags=[{"Key": k, "Value": v} for k, v in GOOD.items()],
        **password,
    )["DBCluster"]["DBClusterArn"]
    return ids


def run(
    aws: dict[str, Any], config: FinOpsConfig, now: datetime, mode: Mode = Mode.ENFORCE
) -> tuple[TargetResult, MemoryAuditTrail]:
    audit = MemoryAuditTrail(clock=lambda: now)
    result = run_target(
        TagComplianceCapability(config, sleep=lambda _: None),
        Target(ACCOUNT, REGION, name="data-dev", team="data"),
        RunContext(f"run-{now:%Y%m%d}", "tag_compliance", "daily", now, mode),
        scopes=aws["clients"],
        role_name="FinOpsMemberRole",
        kill_switch=NoKillSwitch(),
        audit=audit,
        actor="test",
    )
    return result, audit


def ec2_tags(ec2: Any, resource: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def rds_tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def states(ec2: Any) -> dict[str, str]:
    found = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            name = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}["Name"]
            found[name] = instance["State"]["Name"]
    return found


def test_report_mode_reads_everything_and_changes_nothing(aws, config, monkeypatch):
    ids = seed(aws)
    calls = record_calls(monkeypatch, AccountScope, Counter())
    now = datetime.now(UTC)

    result, audit = run(aws, config, now, Mode.REPORT)

    assert result.status == "done", result.error
    report = result.report
    noncompliant = {f["name"] or f["id"]: f for f in report["noncompliant"]}
    assert set(noncompliant) == {
        "untagged",
        "wrong-case",
        "protected",
        "prod-tagged",
        ids["volume"],
        ids["snapshot"],
        "catalog",
    }
    assert noncompliant["wrong-case"]["invalid"] == {"Team": "data"}
    assert noncompliant["wrong-case"]["missing"] == []  # a key in another casing is not "missing"
    assert noncompliant["catalog"]["arn"] == ids["db"]
    assert noncompliant["protected"]["exempt"] == "protected (finops:protect=true)"
    assert noncompliant["prod-tagged"]["exempt"] == "prod (environment=prod)"
    # every instance's root volume was tagged at launch: compliant, as the cluster
    assert report["evaluated"]["ec2:volume"] == {"data": [6, 5]}
    assert report["evaluated"]["rds:cluster"] == {"data": [1, 1]}
    assert {a.resource for a in result.planned if a.action == "mark"} == {
        ids["untagged"],
        ids["wrong-case"],
        ids["volume"],
        ids["snapshot"],
        "catalog",
    }
    assert [c for c in calls if c.split(":")[1].startswith(MUTATING)] == []
    assert audit.items == []
    assert MARK_TAG not in ec2_tags(aws["ec2"], ids["untagged"])


def test_the_cycle_marks_then_stops_only_the_non_prod_non_compliant_instance(aws, enforcing, monkeypatch):
    ec2, rds = aws["ec2"], aws["rds"]
    ids = seed(aws)
    calls = record_calls(monkeypatch, AccountScope, Counter())
    marked_on = datetime.now(UTC).replace(microsecond=0)

    marking, audit = run(aws, enforcing, marked_on)

    assert marking.status == "done", marking.error
    assert all(o.ok for o in marking.outcomes), [o for o in marking.outcomes if not o.ok]
    deadline = (marked_on + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("untagged", "wrong-case", "volume", "snapshot"):
        assert ec2_tags(ec2, ids[name])[MARK_TAG] == deadline, name
    assert rds_tags(rds, ids["db"])[MARK_TAG] == deadline
    for name in ("compliant", "protected", "prod-tagged"):
        assert MARK_TAG not in ec2_tags(ec2, ids[name]), name
    assert {r["action"] for r in audit.items} == {"tag_compliance:mark"}
    assert states(ec2) == dict.fromkeys(("untagged", "wrong-case", "compliant", "protected", "prod-tagged"), "running")

    # Meanwhile an owner fixes the wrong-case key and the database's value: the next run lifts their marks.
    ec2.delete_tags(Resources=[ids["wrong-case"]], Tags=[{"Key": "Team"}])
    ec2.create_tags(Resources=[ids["wrong-case"]], Tags=[{"Key": "team", "Value": "data"}])
    rds.add_tags_to_resource(ResourceName=ids["db"], Tags=[{"Key": "environment", "Value": "dev"}])

    stopping, audit = run(aws, enforcing, marked_on + timedelta(days=8))

    assert stopping.status == "done", stopping.error
    done = {(o.action.action, o.action.resource): o for o in stopping.outcomes}
    assert set(done) == {("stop", ids["untagged"]), ("unmark", ids["wrong-case"]), ("unmark", "catalog")}
    assert all(o.ok for o in done.values())
    assert states(ec2) == {
        "untagged": "stopped",
        "wrong-case": "running",
        "compliant": "running",
        "protected": "running",
        "prod-tagged": "running",
    }
    assert MARK_TAG not in ec2_tags(ec2, ids["wrong-case"])
    assert MARK_TAG not in rds_tags(rds, ids["db"])
    # volumes and snapshots are marked and reported, never stopped or deleted
    assert ec2.describe_volumes(VolumeIds=[ids["volume"]])["Volumes"]
    assert ec2.describe_snapshots(SnapshotIds=[ids["snapshot"]])["Snapshots"]
    overdue = {f["id"] for f in stopping.report["noncompliant"] if f.get("overdue")}
    assert overdue == {ids["untagged"], ids["volume"], ids["snapshot"]}
    stop = next(r for r in audit.items if r["action"] == "tag_compliance:stop")
    assert stop["before"]["state"] == "running"
    assert stop["after"]["state"] in ("stopping", "stopped")

    # what the runs called through the member role is exactly what the capability declares
    assert set(calls) == set(MEMBER_PERMISSIONS)


def test_a_fix_between_the_plan_and_the_stop_keeps_the_instance_running(aws, enforcing):
    ec2 = aws["ec2"]
    instance = launch(ec2, "late-fix")
    now = datetime.now(UTC).replace(microsecond=0)
    run(aws, enforcing, now)
    later = now + timedelta(days=8)
    capability = TagComplianceCapability(enforcing, sleep=lambda _: None)
    target = Target(ACCOUNT, REGION)
    ctx = RunContext("run-2", "tag_compliance", "daily", later, Mode.ENFORCE)
    scope = aws["clients"].assume_role(ACCOUNT, REGION, role_name="FinOpsMemberRole", session_name="test")
    plan = capability.plan(capability.read(scope, ctx, target), target, ctx)
    assert [a.action for a in plan.actions] == ["stop"]

    ec2.create_tags(Resources=[instance], Tags=[{"Key": k, "Value": v} for k, v in GOOD.items()])
    [outcome] = capability.apply(scope, plan, ctx, target)

    assert not outcome.ok
    assert outcome.error == "not stopped: changed since the plan (compliant now)"
    assert states(ec2) == {"late-fix": "running"}


def test_a_mark_refused_for_one_resource_fails_that_one_alone(aws, enforcing, monkeypatch):
    ec2 = aws["ec2"]
    bad, good = launch(ec2, "bad"), launch(ec2, "good")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if bad in params.get("Resources", []):
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "CreateTags")

    make = AccountScope.client

    def with_fault(self: AccountScope, service: str) -> Any:
        client = make(self, service)
        client.meta.events.register("provide-client-params.ec2.CreateTags", refuse)
        return client

    monkeypatch.setattr(AccountScope, "client", with_fault)

    result, audit = run(aws, enforcing, datetime.now(UTC))

    outcomes = {o.action.resource: o for o in result.outcomes}
    assert outcomes[good].ok
    assert not outcomes[bad].ok
    assert outcomes[bad].error == "could not mark: UnauthorizedOperation: no"
    assert MARK_TAG in ec2_tags(ec2, good)
    assert MARK_TAG not in ec2_tags(ec2, bad)
    assert {r["target"].rsplit("/", 1)[1]: r["after"]["verified"] for r in audit.items} == {good: True, bad: False}


class _Scope:
    def __init__(self, clients: dict[str, Any]) -> None:
        self._clients = clients

    def client(self, service: str) -> Any:
        return self._clients[service]


def test_the_read_pages_through_each_describe_with_the_largest_pages_and_only_own_snapshots():
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    rds = boto3.client("rds", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    states = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    launched = datetime(2026, 1, 1, tzinfo=UTC)

    def reservation(instance_id: str) -> dict[str, Any]:
        return {"Instances": [{"InstanceId": instance_id, "State": {"Name": "running"}, "LaunchTime": launched}]}

    with Stubber(ec2) as e, Stubber(rds) as r:
        e.add_response(
            "describe_instances",
            {"Reservations": [reservation("i-1")], "NextToken": "page-2"},
            {"Filters": [states], "MaxResults": 1000},
        )
        e.add_response(
            "describe_instances",
            {"Reservations": [reservation("i-2")]},
            {"Filters": [states], "MaxResults": 1000, "NextToken": "page-2"},
        )
        e.add_response("describe_volumes", {"Volumes": []}, {"MaxResults": 500})
        e.add_response("describe_snapshots", {"Snapshots": []}, {"OwnerIds": ["self"], "MaxResults": 1000})
        r.add_response("describe_db_instances", {"DBInstances": []}, {"MaxRecords": 100})
        r.add_response("describe_db_clusters", {"DBClusters": []}, {"MaxRecords": 100})

        inventory = read_inventory(_Scope({"ec2": ec2, "rds": rds}))  # type: ignore[arg-type]

        e.assert_no_pending_responses()
        r.assert_no_pending_responses()
    assert [(x.kind, x.id, x.created) for x in inventory.resources] == [
        ("ec2:instance", "i-1", launched),
        ("ec2:instance", "i-2", launched),
    ]


def test_apply_refuses_a_plan_it_must_not_carry_out(aws, enforcing):
    scope = aws["clients"].assume_role(ACCOUNT, REGION, role_name="FinOpsMemberRole", session_name="test")
    ctx = RunContext("r", "tag_compliance", "daily", datetime.now(UTC), Mode.ENFORCE)
    for action, message in (
        (Action("vol-1", "ec2:volume", "stop", "x"), "stops EC2 instances only"),
        (Action("vol-1", "ec2:volume", "delete", "x"), "cannot 'delete'"),
        (Action("db-1", "rds:db", "mark", "x", details={"deadline": "2026-12-07T05:00:00Z"}), "without its ARN"),
    ):
        with pytest.raises(ValueError, match=message):
            apply(scope, [action], target=Target(ACCOUNT, REGION), ctx=ctx, config=enforcing)
