"""Replaying a CloudTrail event in the simulated Organization, for `make invoke FN=auto_tagger EVENT=...`.

A sample event names resources that moto never created. :func:`replay` first performs the call the event records, in
the event's account and region, through the member role (RunInstances with its ``tagSpecificationSet``,
CreateVolume, CreateSnapshot(s), CreateImage, CreateDBInstance with its ``tags``, ...), then returns the event with
the ids moto gave the new resources, so the auto-tagger finds what it is told was created. An event whose account is
not one of the simulated Organization's moves to one of its non-prod member accounts, and a region outside
``organization.regions`` to its first; both moves are said on ``log`` (stderr). The creating IAM role or user is
created (untagged) when the account has none by that name, as the call could not have been made without it.

An event that is not a call the auto-tagger reads, a failed call, or a malformed one is returned unchanged: the
handler says what is wrong with it.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from botocore.exceptions import ClientError

from finops.models.cloudtrail import InvalidCloudTrailEvent, parse_cloudtrail_event
from finops.models.config import FinOpsConfig
from finops.rules.auto_tag import CLUSTER, DB, Creation, creation_of
from tools.sim.ec2 import BASE_IMAGE_ID
from tools.sim.estate import SimulatedOrganization

_PASSWORD = "simulated-only-1"  # noqa: S105 - moto requires one; nothing real is behind it
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def replay(
    sim: SimulatedOrganization, event: dict[str, Any], *, config: FinOpsConfig, log: TextIO | None = None
) -> dict[str, Any]:
    """``event`` with its created resources' ids replaced by those of the same call, made now in the simulation;
    what it did goes to ``log`` (default: stderr)."""
    log = log or sys.stderr
    try:
        call = parse_cloudtrail_event(event)
    except InvalidCloudTrailEvent:
        return event
    created = creation_of(call)
    if not isinstance(created, Creation):
        return event
    event = _moved(sim, event, created, config, log)
    creation = creation_of(parse_cloudtrail_event(event))
    assert isinstance(creation, Creation)  # the move changed ids only
    session = sim.session(creation.account, creation.region)
    record = event["detail"]
    _principal(session, record.get("userIdentity") or {}, creation.account)
    name = creation.event_name
    if any(r.type in (DB, CLUSTER) for r in creation.resources):
        ids = _rds(session.client("rds"), record, creation)
    else:
        ids = _ec2(session.client("ec2"), record, creation)
    print(
        f"replayed {name} in {creation.account} {creation.region}: "
        + ", ".join(f"{old} -> {new}" for old, new in ids.items()),
        file=log,
    )
    return event


# -- where ------------------------------------------------------------------------------------------------------------


def _moved(
    sim: SimulatedOrganization, event: dict[str, Any], creation: Creation, config: FinOpsConfig, log: TextIO
) -> dict[str, Any]:
    text = json.dumps(event)
    known = {a.id for a in sim.estate.accounts} | {sim.management_id}
    if creation.account not in known:
        account = _stand_in_account(sim)
        print(
            f"the event's account {creation.account} is not in the simulated Organization: replaying it in "
            f"{account.id} ({account.name})",
            file=log,
        )
        text = text.replace(creation.account, account.id)
    if creation.region not in config.organization.regions:
        region = config.organization.regions[0]
        print(
            f"the event's region {creation.region} is not in organization.regions: replaying it in {region}", file=log
        )
        text = text.replace(creation.region, region)
    moved: dict[str, Any] = json.loads(text)
    return moved


def _stand_in_account(sim: SimulatedOrganization) -> Any:
    """The first member account (by id) the member role reached that is not prod by its account tag."""
    for account in sorted(sim.estate.accounts, key=lambda a: a.id):
        environment = {k.lower(): v for k, v in account.tags.items()}.get("environment", "")
        if account.member_role and environment.lower() not in ("prod", "production"):
            return account
    raise ValueError("the simulated Organization has no non-prod member account with the member role to replay in")


def _principal(session: Any, identity: dict[str, Any], account: str) -> None:
    """The IAM role or user that made the call, in its account, created without tags if it is not there."""
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    iam = session.client("iam")
    try:
        if (
            identity.get("type") == "AssumedRole"
            and issuer.get("type") == "Role"
            and issuer.get("accountId") == account
        ):
            path = "/" + "/".join(issuer["arn"].split(":role/", 1)[1].split("/")[:-1]) + "/"
            iam.create_role(RoleName=issuer["userName"], Path=path.replace("//", "/"), AssumeRolePolicyDocument=_TRUST)
        elif identity.get("type") == "IAMUser" and identity.get("accountId") == account:
            iam.create_user(UserName=identity["userName"])
        elif identity.get("type") == "FederatedUser" and issuer.get("type") == "IAMUser":
            iam.create_user(UserName=issuer["userName"])
    except (ClientError, KeyError, IndexError):  # already there, or a record that does not name it: nothing to add
        pass


# -- what -------------------------------------------------------------------------------------------------------------


def _tag_specifications(request: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    specs = []
    for spec in (request.get("tagSpecificationSet") or {}).get("items", []):
        if spec.get("resourceType") in types and spec.get("tags"):
            tags = [{"Key": t["key"], "Value": t.get("value") or ""} for t in spec["tags"]]
            specs.append({"ResourceType": spec["resourceType"], "Tags": tags})
    return specs


def _zone(request: dict[str, Any], region: str) -> str:
    zone = request.get("zone") or request.get("availabilityZone")
    return str(zone) if isinstance(zone, str) and zone.startswith(region) else f"{region}a"


def _instances(ec2: Any, request: dict[str, Any], count: int, region: str) -> list[str]:
    items = (request.get("instancesSet") or {}).get("items") or [{}]
    launched = ec2.run_instances(
        ImageId=items[0].get("imageId") or BASE_IMAGE_ID,
        InstanceType=request.get("instanceType") or "t3.micro",
        MinCount=count,
        MaxCount=count,
        Placement={"AvailabilityZone": f"{region}a"},
        TagSpecifications=_tag_specifications(request, "instance", "volume"),
    )["Instances"]
    return [i["InstanceId"] for i in launched]


def _snapshot(ec2: Any, request: dict[str, Any], region: str, size: int) -> tuple[str, str]:
    volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=size)["VolumeId"]
    snapshot = ec2.create_snapshot(
        VolumeId=volume,
        Description=str(request.get("description") or "replayed by the simulation"),
        TagSpecifications=_tag_specifications(request, "snapshot"),
    )["SnapshotId"]
    return volume, snapshot


def _ec2(ec2: Any, record: dict[str, Any], creation: Creation) -> dict[str, str]:
    """Make the call in the simulation; rewrite the record's ids in place; return old id -> new id."""
    request = record.get("requestParameters") or {}
    response = record["responseElements"]
    name, region = creation.event_name, creation.region
    ids: dict[str, str] = {}
    if name == "RunInstances":
        items = response["instancesSet"]["items"]
        for item, new in zip(items, _instances(ec2, request, len(items), region), strict=True):
            ids[item["instanceId"]], item["instanceId"] = new, new
    elif name == "CreateVolume":
        new = ec2.create_volume(
            AvailabilityZone=_zone(request, region),
            Size=int(request.get("size") or response.get("size") or 8),
            VolumeType=str(request.get("volumeType") or "gp3"),
            TagSpecifications=_tag_specifications(request, "volume"),
        )["VolumeId"]
        ids[response["volumeId"]], response["volumeId"] = new, new
    elif name in ("CreateSnapshot", "CopySnapshot"):
        volume, new = _snapshot(ec2, request, region, int(response.get("volumeSize") or 8))
        ids[response["snapshotId"]], response["snapshotId"] = new, new
        if "volumeId" in response:
            response["volumeId"] = request["volumeId"] = volume
    elif name == "CreateSnapshots":
        listed = (response.get("snapshotSet") or {}).get("items") or (
            (response.get("CreateSnapshotsResponse") or {}).get("snapshotSet", {}).get("item") or []
        )
        for item in listed if isinstance(listed, list) else [listed]:
            _, new = _snapshot(ec2, request, region, 8)
            ids[item["snapshotId"]], item["snapshotId"] = new, new
    elif name in ("CreateImage", "CopyImage"):
        [instance] = _instances(ec2, {}, 1, region)
        new = ec2.create_image(InstanceId=instance, Name=str(request.get("name") or f"replayed-{instance}"))["ImageId"]
        ids[response["imageId"]], response["imageId"] = new, new
    return ids


def _rds(rds: Any, record: dict[str, Any], creation: Creation) -> dict[str, str]:
    request = record.get("requestParameters") or {}
    response = record["responseElements"]
    tags = [{"Key": t["key"], "Value": t.get("value") or ""} for t in request.get("tags") or []]
    [resource] = creation.resources
    identifier = resource.id
    if resource.type == DB:
        while _exists(rds.describe_db_instances, "DBInstanceIdentifier", identifier):
            identifier += "-replayed"
        created = rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            Engine=str(request.get("engine") or response.get("engine") or "postgres"),
            DBInstanceClass=str(request.get("dBInstanceClass") or "db.t4g.micro"),
            AllocatedStorage=int(request.get("allocatedStorage") or 20),
            MasterUsername=str(request.get("masterUsername") or "finops"),
            MasterUserPassword=_PASSWORD,
            Tags=tags,
        )["DBInstance"]
        response["dBInstanceIdentifier"] = created["DBInstanceIdentifier"]
        response["dBInstanceArn"] = created["DBInstanceArn"]
    else:
        while _exists(rds.describe_db_clusters, "DBClusterIdentifier", identifier):
            identifier += "-replayed"
        created = rds.create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine=str(request.get("engine") or response.get("engine") or "aurora-postgresql"),
            MasterUsername=str(request.get("masterUsername") or "finops"),
            MasterUserPassword=_PASSWORD,
            Tags=tags,
        )["DBCluster"]
        response["dBClusterIdentifier"] = created["DBClusterIdentifier"]
        response["dBClusterArn"] = created["DBClusterArn"]
    return {resource.id: identifier}


def _exists(describe: Any, key: str, identifier: str) -> bool:
    try:
        describe(**{key: identifier})
    except ClientError:
        return False
    return True
