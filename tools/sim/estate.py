"""The simulated Organization: seed an estate file into moto, and read it back.

    with simulated_aws(load_estate("my-estate.yaml")) as sim:   # or simulated_aws() for default_estate.yaml
        ec2 = sim.session("333333333333").client("ec2", region_name="eu-west-1")
        ...                                                      # run the product; boto3 finds the Organization
        after = dump(sim)                                        # the estate as it is now, in the file's schema

:func:`seed` builds the Organization the way an operator would: the management account creates it, its OUs and its
member accounts (with the ids the estate gives), tags the accounts and moves them into their OUs; each member
account gets the member role (as the product's StackSet would deploy it), and every resource is created through
``sts:AssumeRole`` into that role, so the estate is reachable exactly the way the runtime reaches it.
:func:`dump` reads it back through the same describe calls. Only ``_moto_internals`` touches moto directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from moto import mock_aws, settings

from tools.sim import _moto_internals
from tools.sim._moto_internals import Dated
from tools.sim.model import (
    Account,
    AutoScalingGroup,
    DbInstance,
    Estate,
    EstateError,
    Image,
    Instance,
    ManagementAccount,
    RegionResources,
    Snapshot,
    Volume,
    default_estate,
    generate_estate,
    load_estate,
    parse_estate,
)

__all__ = [
    "BASE_IMAGE_ID",
    "DEFAULT_MEMBER_ROLE",
    "Estate",
    "EstateError",
    "SimulatedOrganization",
    "SimulationError",
    "default_estate",
    "dump",
    "generate_estate",
    "load_estate",
    "parse_estate",
    "seed",
    "simulated_aws",
]

DEFAULT_MEMBER_ROLE = "FinOpsMemberRole"
OPERATOR_USER = "finops-simulator"  # the management account's IAM user whose keys become the default credentials
BASE_IMAGE_ID = "ami-0abcdef1234567890"  # the public base image instances launch from; not owned by any account
_DB_MASTER_PASSWORD = "simulated-only-1"  # noqa: S105 - moto requires one; nothing real is behind it


class SimulationError(RuntimeError):
    """The simulation cannot be built in the current moto setup."""


@dataclass(frozen=True)
class SimulatedOrganization:
    """What :func:`seed` built: the estate, the Organization's ids and every resource's moto-assigned id."""

    estate: Estate
    organization_id: str
    root_id: str
    ou_ids: Mapping[str, str]  # OU path -> ou-xxxx
    member_role_name: str
    resource_ids: Mapping[tuple[str, str, Dated, str], str]  # (account, region, kind, name) -> id
    _sessions: dict[tuple[str, str | None], boto3.Session] = field(default_factory=dict, repr=False, compare=False)

    @property
    def management_id(self) -> str:
        return self.estate.management.id

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        """A session in ``account_id``: the default credentials for the management account, else the member role
        assumed from them (as the runtime does). Sessions share one model loader, so making clients is quick."""
        if account_id == self.management_id:
            return _session(region_name=region)
        key = (account_id, region)
        if key not in self._sessions:
            sts = _session().client("sts", region_name="us-east-1")
            self._sessions[key] = _assume(sts, account_id, self.member_role_name, region)
        return self._sessions[key]

    def id_of(self, account_id: str, region: str, kind: Dated, name: str) -> str:
        """The id moto gave a resource of the estate (for DB instances and groups, their identifier or name)."""
        try:
            return self.resource_ids[(account_id, region, kind, name)]
        except KeyError:
            raise KeyError(f"no {kind} named {name!r} in {account_id}/{region}") from None


# -- seeding -----------------------------------------------------------------------------------------------------------


@contextmanager
def simulated_aws(
    estate: Estate | None = None, *, member_role_name: str = DEFAULT_MEMBER_ROLE
) -> Iterator[SimulatedOrganization]:
    """Start moto, seed ``estate`` (default: ``default_estate.yaml``) and yield it; everything is undone on exit.

    Sets ``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` (see :func:`seed`) and, if unset, ``AWS_DEFAULT_REGION`` to the
    estate's first region, for the duration only.
    """
    estate = estate or default_estate()
    environment = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    if "AWS_DEFAULT_REGION" not in os.environ:
        environment["AWS_DEFAULT_REGION"] = estate.regions[0]
    with mock.patch.dict(os.environ, environment), mock_aws():
        yield seed(estate, member_role_name=member_role_name)


def seed(estate: Estate, *, member_role_name: str = DEFAULT_MEMBER_ROLE) -> SimulatedOrganization:
    """Build ``estate`` in the active ``moto.mock_aws()``; afterwards the default credentials are the management's.

    Needs ``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` in the environment (``simulated_aws`` sets it): otherwise moto fills
    every account and region with ~1,300 public AMIs, each with a snapshot that ``DescribeSnapshots
    OwnerIds=self`` returns, and takes about a second per account and region to do it.

    moto decides an account by the access key: the default credentials (``FOOBARKEY``) belong to its default account
    123456789012, and ``MOTO_ACCOUNT_ID`` would override even assumed-role keys, sending every member account's
    resources to the management account. So seed creates an IAM user in the management account and puts its keys in
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``; ``mock_aws`` restores both when it stops. Sessions and clients
    made before seed keep the old credentials.
    """
    if settings.ec2_load_default_amis():
        raise SimulationError(
            "set MOTO_EC2_LOAD_DEFAULT_AMIS=false before moto starts (or use tools.sim.estate.simulated_aws): "
            "moto's public AMIs would put ~1,300 snapshots in every account and region"
        )
    management = _become_management(estate.management)
    org = management.client("organizations", region_name="us-east-1")
    organization = org.create_organization(FeatureSet="ALL")["Organization"]
    _moto_internals.name_management_account(
        estate.management.id, name=estate.management.name, email=estate.management.email
    )
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids = _create_ous(org, root_id, estate.all_ou_paths())

    for account in estate.accounts:
        _create_account(org, account, root_id, ou_ids)
    _deploy_member_role(estate.accounts, member_role_name, organization["Id"])

    sts = management.client("sts", region_name="us-east-1")
    resource_ids: dict[tuple[str, str, Dated, str], str] = {}
    for account in estate.accounts:
        if account.regions:
            member = _assume(sts, account.id, member_role_name)
            for region, resources in account.regions.items():
                ids = _create_resources(member, account.id, region, resources)
                resource_ids.update({(account.id, region, kind, name): id_ for (kind, name), id_ in ids.items()})
    return SimulatedOrganization(
        estate=estate,
        organization_id=organization["Id"],
        root_id=root_id,
        ou_ids=ou_ids,
        member_role_name=member_role_name,
        resource_ids=resource_ids,
    )


class _InAccount:
    """A botocore hook that addresses moto's backend for ``account`` through its ``x-moto-account-id`` header.

    Used where AWS itself would act in an account without our credentials: bootstrapping the management account's
    operator user, and deploying the member role the way the product's StackSet does.
    """

    def __init__(self, account: str) -> None:
        self.account = account

    def __call__(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.account

    def session(self) -> boto3.Session:
        session = _session(region_name="us-east-1")
        session.events.register("before-sign", self)
        return session


def _become_management(management: ManagementAccount) -> boto3.Session:
    """Make the default credentials an IAM user's in the management account, and return a session with them."""
    iam = _InAccount(management.id).session().client("iam")
    try:
        iam.create_user(UserName=OPERATOR_USER, Tags=[{"Key": "purpose", "Value": "simulated operator"}])
    except iam.exceptions.EntityAlreadyExistsException:
        raise SimulationError(
            "this mock_aws() already holds a seeded Organization: seed once per mock (a nested mock_aws() "
            "shares and does not reset the outer one's state)"
        ) from None
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    os.environ["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    boto3.setup_default_session()
    return _session()


def _assume(sts: Any, account_id: str, role_name: str, region: str | None = None) -> boto3.Session:
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="finops-simulator"
    )["Credentials"]
    return _session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _session(**kwargs: Any) -> boto3.Session:
    """A boto3 session sharing one model loader: a fresh one re-reads the JSON models (~50 ms for EC2) each time."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.Session(botocore_session=core, **kwargs)


@cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _create_ous(org: Any, root_id: str, paths: list[str]) -> dict[str, str]:
    ou_ids: dict[str, str] = {}
    for path in paths:  # parents first
        parent, _, name = path.rpartition("/")
        created = org.create_organizational_unit(ParentId=ou_ids[parent] if parent else root_id, Name=name)
        ou_ids[path] = created["OrganizationalUnit"]["Id"]
    return ou_ids


def _create_account(org: Any, account: Account, root_id: str, ou_ids: Mapping[str, str]) -> None:
    with _moto_internals.next_account_id(account.id):
        status = org.create_account(AccountName=account.name, Email=account.email)["CreateAccountStatus"]
    if status["AccountId"] != account.id:
        raise SimulationError(f"moto gave account {account.name} the id {status['AccountId']}, not {account.id}")
    if account.tags:
        org.tag_resource(ResourceId=account.id, Tags=[{"Key": k, "Value": v} for k, v in account.tags.items()])
    if account.ou is not None:
        org.move_account(AccountId=account.id, SourceParentId=root_id, DestinationParentId=ou_ids[account.ou])


def _deploy_member_role(accounts: Iterable[Account], role_name: str, organization_id: str) -> None:
    """What the product's StackSet does: the member role in every member account, assumable from the Organization."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            }
        ],
    }
    target = _InAccount("")
    iam = target.session().client("iam")
    for account in accounts:
        target.account = account.id
        iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust), Description="FinOps member role (simulated)"
        )


def _tag_list(name: str | None, tags: Mapping[str, str]) -> list[dict[str, str]]:
    named = {"Name": name} if name is not None else {}
    return [{"Key": k, "Value": v} for k, v in {**named, **tags}.items()]


def _tag_spec(resource_type: str, name: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tag_list(name, tags)}]


def _create_resources(
    member: boto3.Session, account_id: str, region: str, resources: RegionResources
) -> dict[tuple[Dated, str], str]:
    """Create one account-region's resources in dependency order; return their ids by (kind, name)."""
    ec2 = member.client("ec2", region_name=region)
    zone = f"{region}a"
    ids: dict[tuple[Dated, str], str] = {}
    dates: list[tuple[Dated, str, datetime]] = []

    for instance in resources.instances:
        created = ec2.run_instances(
            ImageId=BASE_IMAGE_ID,
            InstanceType=instance.instance_type,
            MinCount=1,
            MaxCount=1,
            Placement={"AvailabilityZone": zone},
            TagSpecifications=_tag_spec("instance", instance.name, instance.tags),
        )["Instances"][0]
        ids[("instance", instance.name)] = created["InstanceId"]
        dates.append(("instance", created["InstanceId"], instance.launched_at))
    stopped = [ids[("instance", i.name)] for i in resources.instances if i.state == "stopped"]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)

    devices: dict[str, int] = {}
    for volume in resources.volumes:
        volume_id = ec2.create_volume(
            AvailabilityZone=zone,
            Size=volume.size_gb,
            VolumeType=volume.volume_type,
            TagSpecifications=_tag_spec("volume", volume.name, volume.tags),
        )["VolumeId"]
        ids[("volume", volume.name)] = volume_id
        dates.append(("volume", volume_id, volume.created_at))
        if volume.attached_to is not None:
            index = devices[volume.attached_to] = devices.get(volume.attached_to, 0) + 1
            instance_id = ids[("instance", volume.attached_to)]
            ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=f"/dev/sd{chr(ord('e') + index)}")

    for snapshot in resources.snapshots:
        snapshot_id = _create_snapshot(ec2, zone, snapshot, ids)
        ids[("snapshot", snapshot.name)] = snapshot_id
        dates.append(("snapshot", snapshot_id, snapshot.created_at))

    for image in resources.images:
        image_id = _create_image(ec2, image, ids)
        if image.snapshot is not None:
            _moto_internals.back_image_with_snapshot(account_id, region, image_id, ids[("snapshot", image.snapshot)])
        ids[("image", image.name)] = image_id
        dates.append(("image", image_id, image.created_at))

    rds = member.client("rds", region_name=region) if resources.db_instances else None
    for db in resources.db_instances:
        assert rds is not None
        rds.create_db_instance(
            DBInstanceIdentifier=db.identifier,
            Engine=db.engine,
            DBInstanceClass=db.instance_class,
            AllocatedStorage=db.storage_gb,
            MasterUsername="finops",
            MasterUserPassword=_DB_MASTER_PASSWORD,
            Tags=_tag_list(None, db.tags),
        )
        if db.status == "stopped":
            rds.stop_db_instance(DBInstanceIdentifier=db.identifier)
        ids[("db_instance", db.identifier)] = db.identifier
        dates.append(("db_instance", db.identifier, db.created_at))

    for group in resources.auto_scaling_groups:
        ids[("auto_scaling_group", group.name)] = group.name
        dates += _create_auto_scaling_group(member, region, zone, group)

    # Last, so nothing above (an attach, a stop) resets a time: the ages the estate file gives.
    for kind, resource_id, when in dates:
        _moto_internals.backdate(account_id, region, kind, resource_id, when)
    return ids


def _create_snapshot(ec2: Any, zone: str, snapshot: Snapshot, ids: Mapping[tuple[Dated, str], str]) -> str:
    tags = _tag_spec("snapshot", snapshot.name, snapshot.tags)
    if snapshot.volume is not None:
        return str(
            ec2.create_snapshot(
                VolumeId=ids[("volume", snapshot.volume)], Description=snapshot.description, TagSpecifications=tags
            )["SnapshotId"]
        )
    # A snapshot whose volume is gone: snapshot a volume, then delete the volume.
    gone = ec2.create_volume(AvailabilityZone=zone, Size=snapshot.size_gb or 8, VolumeType="gp3")["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=gone, Description=snapshot.description, TagSpecifications=tags)
    ec2.delete_volume(VolumeId=gone)
    return str(snapshot_id["SnapshotId"])


def _create_image(ec2: Any, image: Image, ids: Mapping[tuple[Dated, str], str]) -> str:
    if image.instance is not None:
        return str(
            ec2.create_image(
                InstanceId=ids[("instance", image.instance)],
                Name=image.name,
                TagSpecifications=_tag_spec("image", image.name, image.tags),
            )["ImageId"]
        )
    assert image.snapshot is not None  # the model allows exactly one of instance and snapshot
    image_id = str(
        ec2.register_image(
            Name=image.name,
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": ids[("snapshot", image.snapshot)]}}],
            VirtualizationType="hvm",
            Architecture="x86_64",
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=_tag_list(image.name, image.tags))  # RegisterImage takes no tags here
    return image_id


def _create_auto_scaling_group(
    member: boto3.Session, region: str, zone: str, group: AutoScalingGroup
) -> list[tuple[Dated, str, datetime]]:
    """The group, its launch template, and the instances it launches (dated when the group was created)."""
    ec2 = member.client("ec2", region_name=region)
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{group.name}-template",
        LaunchTemplateData={"ImageId": BASE_IMAGE_ID, "InstanceType": group.instance_type},
    )["LaunchTemplate"]
    autoscaling = member.client("autoscaling", region_name=region)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group.name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=group.min_size,
        MaxSize=group.max_size,
        DesiredCapacity=group.desired_capacity,
        AvailabilityZones=[zone],
        Tags=[
            {
                "ResourceId": group.name,
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": True,
            }
            for key, value in group.tags.items()
        ],
    )
    launched = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group.name])["AutoScalingGroups"]
    dates: list[tuple[Dated, str, datetime]] = [("auto_scaling_group", group.name, group.created_at)]
    dates += [("instance", i["InstanceId"], group.created_at) for i in launched[0]["Instances"]]
    return dates


# -- reading back ------------------------------------------------------------------------------------------------------


def dump(sim: SimulatedOrganization) -> dict[str, Any]:
    """The estate as it is now, read through describe calls, in the estate-file schema (with moto's ``id``s).

    Left out because they follow from something else in the file: each instance's root volume, the instances an
    Auto Scaling group launched, and the snapshot CreateImage made for an image of an instance still in the file.
    A resource without a Name tag gets its id as its name. Empty regions and resource lists are left out.
    """
    org = sim.session(sim.management_id).client("organizations", region_name="us-east-1")
    ou_paths = _ou_paths(org, sim.root_id)
    accounts = []
    for parent_id, path in ou_paths.items():
        for listed in _pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent_id):
            if listed["Id"] == sim.management_id or listed["Status"] != "ACTIVE":
                continue
            tags = _pages(org, "list_tags_for_resource", "Tags", ResourceId=listed["Id"])
            session = sim.session(listed["Id"])
            regions = {region: _dump_region(session, region) for region in sim.estate.regions}
            accounts.append(
                Account(
                    id=listed["Id"],
                    name=listed["Name"],
                    email=listed["Email"],
                    ou=path,
                    tags={t["Key"]: t["Value"] for t in tags},
                    regions={region: resources for region, resources in regions.items() if resources != _EMPTY},
                )
            )
    described = org.describe_account(AccountId=sim.management_id)["Account"]
    estate = Estate(
        management=ManagementAccount(id=described["Id"], name=described["Name"], email=described["Email"]),
        regions=sim.estate.regions,
        ous=_leaves(path for path in ou_paths.values() if path is not None),
        accounts=tuple(sorted(accounts, key=lambda a: a.id)),
    )
    data: dict[str, Any] = _without_empty_lists(estate.model_dump(mode="json"))
    return data


_EMPTY = RegionResources()
_T = TypeVar("_T")


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def _leaves(paths: Iterable[str]) -> tuple[str, ...]:
    """The OU paths no other path runs through (``Workloads/Prod`` stands for ``Workloads`` too)."""
    every = set(paths)
    return tuple(sorted(p for p in every if not any(other.startswith(f"{p}/") for other in every)))


def _ou_paths(org: Any, root_id: str) -> dict[str, str | None]:
    """Every parent id (the root and each OU) with its OU path; the root's is None."""
    paths: dict[str, str | None] = {root_id: None}
    pending = [root_id]
    while pending:
        parent = pending.pop()
        for ou in _pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent):
            paths[ou["Id"]] = f"{paths[parent]}/{ou['Name']}" if paths[parent] else ou["Name"]
            pending.append(ou["Id"])
    return paths


def _name_and_tags(tags: list[dict[str, str]] | None, fallback: str) -> tuple[str, dict[str, str]]:
    as_dict = {t["Key"]: t["Value"] for t in tags or [] if not t["Key"].lower().startswith("aws:")}
    return as_dict.pop("Name", fallback), as_dict


def _dump_region(session: boto3.Session, region: str) -> RegionResources:
    ec2 = session.client("ec2", region_name=region)
    described = [
        i
        for reservation in _pages(ec2, "describe_instances", "Reservations")
        for i in reservation["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    in_groups = {
        i["InstanceId"] for i in described if any(t["Key"] == "aws:autoscaling:groupName" for t in i.get("Tags", []))
    }
    instances = [_dump_instance(i) for i in described if i["InstanceId"] not in in_groups]
    instance_names = {i.id: i.name for i in instances}
    root_volumes = {
        mapping["Ebs"]["VolumeId"]
        for i in described
        for mapping in i.get("BlockDeviceMappings", [])
        if mapping["DeviceName"] == i.get("RootDeviceName") and "Ebs" in mapping
    }
    volumes = [
        _dump_volume(v, instance_names)
        for v in _pages(ec2, "describe_volumes", "Volumes")
        if v["VolumeId"] not in root_volumes
    ]
    described_images = _pages(ec2, "describe_images", "Images", Owners=["self"])
    made_with_instance = {
        mapping["Ebs"]["SnapshotId"]
        for image in described_images
        if image.get("SourceInstanceId") in instance_names
        for mapping in image.get("BlockDeviceMappings", [])
        if "Ebs" in mapping
    }
    volume_names = {v.id: v.name for v in volumes}
    snapshots = [
        _dump_snapshot(s, volume_names)
        for s in _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"])
        if s["SnapshotId"] not in made_with_instance
    ]
    snapshot_names = {s.id: s.name for s in snapshots}
    images = [_dump_image(i, instance_names, snapshot_names) for i in described_images]
    rds = session.client("rds", region_name=region)
    autoscaling = session.client("autoscaling", region_name=region)
    return RegionResources(
        instances=_by_name(instances, lambda i: i.name),
        volumes=_by_name(volumes, lambda v: v.name),
        snapshots=_by_name(snapshots, lambda s: s.name),
        images=_by_name(images, lambda i: i.name),
        db_instances=_by_name(
            [_dump_db(d) for d in _pages(rds, "describe_db_instances", "DBInstances")], lambda d: d.identifier
        ),
        auto_scaling_groups=_by_name(
            [_dump_group(ec2, g) for g in _pages(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups")],
            lambda g: g.name,
        ),
    )


def _by_name(items: list[_T], key: Callable[[_T], str]) -> tuple[_T, ...]:
    return tuple(sorted(items, key=key))


def _dump_instance(described: dict[str, Any]) -> Instance:
    name, tags = _name_and_tags(described.get("Tags"), described["InstanceId"])
    return Instance(
        id=described["InstanceId"],
        name=name,
        instance_type=described["InstanceType"],
        state="running" if described["State"]["Name"] in ("pending", "running") else "stopped",
        tags=tags,
        launched_at=described["LaunchTime"],
    )


def _dump_volume(described: dict[str, Any], instance_names: Mapping[str | None, str]) -> Volume:
    name, tags = _name_and_tags(described.get("Tags"), described["VolumeId"])
    attached = [a["InstanceId"] for a in described.get("Attachments", []) if a["InstanceId"] in instance_names]
    return Volume(
        id=described["VolumeId"],
        name=name,
        size_gb=described["Size"],
        volume_type=described["VolumeType"],
        attached_to=instance_names[attached[0]] if attached else None,
        tags=tags,
        created_at=described["CreateTime"],
    )


def _dump_snapshot(described: dict[str, Any], volume_names: Mapping[str | None, str]) -> Snapshot:
    name, tags = _name_and_tags(described.get("Tags"), described["SnapshotId"])
    volume = volume_names.get(described.get("VolumeId"))
    return Snapshot(
        id=described["SnapshotId"],
        name=name,
        volume=volume,
        size_gb=None if volume else described.get("VolumeSize"),
        description=described.get("Description", ""),
        tags=tags,
        created_at=described["StartTime"],
    )


def _dump_image(
    described: dict[str, Any], instance_names: Mapping[str | None, str], snapshot_names: Mapping[str | None, str]
) -> Image:
    name, tags = _name_and_tags(described.get("Tags"), described.get("Name") or described["ImageId"])
    instance = instance_names.get(described.get("SourceInstanceId"))
    root = [m["Ebs"].get("SnapshotId") for m in described.get("BlockDeviceMappings", []) if "Ebs" in m]
    return Image(
        id=described["ImageId"],
        name=name,
        instance=instance,
        snapshot=None if instance else snapshot_names.get(root[0] if root else None),
        tags=tags,
        created_at=described["CreationDate"],
    )


def _dump_db(described: dict[str, Any]) -> DbInstance:
    return DbInstance(
        id=described.get("DbiResourceId"),
        identifier=described["DBInstanceIdentifier"],
        engine=described["Engine"],
        instance_class=described["DBInstanceClass"],
        storage_gb=described["AllocatedStorage"],
        status="stopped" if described["DBInstanceStatus"] in ("stopped", "stopping") else "available",
        tags={t["Key"]: t["Value"] for t in described.get("TagList", [])},
        created_at=described["InstanceCreateTime"],
    )


def _dump_group(ec2: Any, described: dict[str, Any]) -> AutoScalingGroup:
    instance_type = "t3.micro"
    template = described.get("LaunchTemplate")
    if template:
        versions = ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=[template.get("Version", "$Latest")]
        )["LaunchTemplateVersions"]
        instance_type = versions[0]["LaunchTemplateData"].get("InstanceType", instance_type)
    return AutoScalingGroup(
        id=described.get("AutoScalingGroupARN"),
        name=described["AutoScalingGroupName"],
        min_size=described["MinSize"],
        max_size=described["MaxSize"],
        desired_capacity=described["DesiredCapacity"],
        instance_type=instance_type,
        tags={t["Key"]: t["Value"] for t in described.get("Tags", []) if not t["Key"].startswith("aws:")},
        created_at=described["CreatedTime"],
    )


_RESOURCE_LISTS = frozenset(RegionResources.model_fields)


def _without_empty_lists(data: Any) -> Any:
    """Drop empty resource lists and regions so a dump reads like a hand-written file."""
    if isinstance(data, dict):
        return {
            k: _without_empty_lists(v)
            for k, v in data.items()
            if not (k in _RESOURCE_LISTS and v == []) and not (k == "regions" and v == {})
        }
    if isinstance(data, list):
        return [_without_empty_lists(v) for v in data]
    return data
