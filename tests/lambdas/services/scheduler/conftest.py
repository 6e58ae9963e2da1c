"""Builders for the scheduler's service tests: one target in moto, reached through a real ``AccountScope``.

Resources are made directly with boto3 (not through tools/sim). ``hooks`` records every API call the code under
test makes and lets a test register botocore event handlers (faults, rewritten responses) on the clients the code
creates through ``AccountScope.client``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from finops.aws.clients import AccountScope
from finops.engine.model import Action
from finops.models.inventory import Resource

ACCOUNT = "123456789012"  # moto's default account for its default credentials
REGION = "eu-west-1"
IMAGE_ID = "ami-0abcdef1234567890"  # a public-looking base image (moto does not check it exists)
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
PASSWORD = "not-a-secret-0"


@dataclass
class Hooks:
    """Every call made through ``AccountScope.client`` (service, operation, API parameters), and extra handlers."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    handlers: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)

    def register(self, event: str, handler: Callable[..., Any]) -> None:
        self.handlers.append((event, handler))

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def count(self, operation: str) -> int:
        return sum(1 for _, name, _ in self.calls if name == operation)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for _, name, params in self.calls if name == operation]

    def by_operation(self) -> Counter[str]:
        return Counter(f"{service}:{name}" for service, name, _ in self.calls)

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def botocore_session() -> botocore.session.Session:
    """One botocore session for all these tests: its loader caches the service models (a second a test otherwise).
    Credentials are moto's fake keys, the same in every test."""
    return botocore.session.get_session()


@pytest.fixture
def session(aws: None, botocore_session: botocore.session.Session) -> boto3.Session:
    return boto3.Session(botocore_session=botocore_session, region_name=REGION)


@pytest.fixture
def scope(session: boto3.Session) -> AccountScope:
    return AccountScope(account=ACCOUNT, region=REGION, session=session)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Hooks:
    hooks = Hooks()
    original = AccountScope.client

    def client(self: AccountScope, service: str) -> Any:
        made = original(self, service)
        made.meta.events.register("before-parameter-build", hooks.record)
        for event, handler in hooks.handlers:
            made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(AccountScope, "client", client)
    return hooks


@pytest.fixture
def ec2(session: boto3.Session) -> Any:
    return session.client("ec2")


@pytest.fixture
def autoscaling(session: boto3.Session) -> Any:
    return session.client("autoscaling")


@pytest.fixture
def rds(session: boto3.Session) -> Any:
    return session.client("rds")


def no_sleep(seconds: float) -> None:
    """Tests do not wait: moto's instances change state at once."""


# -- building the estate -------------------------------------------------------------------------------------------


def launch(ec2: Any, count: int = 1, *, name: str | None = None, hibernation: bool = False, **tags: str) -> list[str]:
    """``count`` running instances; their ids."""
    all_tags = {**({"Name": name} if name else {}), **tags}
    kwargs: dict[str, Any] = {}
    if all_tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}
        ]
    if hibernation:
        kwargs["HibernationOptions"] = {"Configured": True}
    launched = ec2.run_instances(ImageId=IMAGE_ID, InstanceType="m6i.large", MinCount=count, MaxCount=count, **kwargs)
    return [i["InstanceId"] for i in launched["Instances"]]


def state_of(ec2: Any, *ids: str) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def create_group(
    ec2: Any, autoscaling: Any, name: str, *, min_size: int, desired: int, max_size: int, **tags: str
) -> None:
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-template", LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.small"}
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=min_size,
        DesiredCapacity=desired,
        MaxSize=max_size,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[
            {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": True}
            for k, v in tags.items()
        ],
    )


def group_of(autoscaling: Any, name: str) -> dict[str, Any]:
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {
        "sizes": (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]),
        "tags": {t["Key"]: t["Value"] for t in group["Tags"]},
        "instances": len(group["Instances"]),
    }


def create_db(rds: Any, identifier: str, *, engine: str = "postgres", **tags: str) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine=engine,
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="finops",
        MasterUserPassword=PASSWORD,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def create_cluster(rds: Any, identifier: str, *, members: int = 2, **tags: str) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="finops",
        MasterUserPassword=PASSWORD,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    for n in range(1, members + 1):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{n}",
            DBClusterIdentifier=identifier,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )


def db_status(rds: Any, identifier: str) -> str:
    return str(rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]["DBInstanceStatus"])


def cluster_status(rds: Any, identifier: str) -> str:
    return str(rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]["Status"])


def action(resource: str, verb: str, kind: str = "ec2:instance", **before: Any) -> Action:
    return Action(resource=resource, kind=kind, action=verb, reason=f"test: {verb}", before=before)


def action_for(resource: Resource, verb: str) -> Action:
    """The action a planner would make from this inventory entry."""
    return Action(
        resource=resource.id,
        kind=resource.kind,
        action=verb,
        reason=f"schedule says {verb}",
        before={"state": resource.state, "tags": dict(resource.tags), **resource.details},
        name=resource.name,
    )


def api_error(code: str, message: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` handler returns to make the call fail with ``code`` without reaching moto."""
    return AWSResponse("https://fault.invalid", status, {}, None), {"Error": {"Code": code, "Message": message}}
