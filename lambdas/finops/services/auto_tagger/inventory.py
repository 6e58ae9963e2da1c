"""The auto-tagger's read in one target: the resources an event created, as they are now, and the creator's IAM tags.

Resources are found by filters (``instance-id``, ``volume-id``, ...), which return what exists without failing for
what does not: a resource terminated before the event arrived is *missing*, not an error. A RunInstances' volumes are
the instances' EBS block devices; a CreateImage's snapshots are the image's. The creator's own tags
(``iam:ListRoleTags``/``ListUserTags``) are optional to the tagging: when they cannot be read, the reason is a note
and the creator and creation time are still written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.batch import in_batches
from finops.aws.errors import error_text
from finops.rules.auto_tag import (
    CLUSTER,
    DB,
    IMAGE,
    INSTANCE,
    SNAPSHOT,
    VOLUME,
    CreatedResource,
    Creation,
    Creator,
    Found,
)

PERMISSIONS: tuple[str, ...] = (
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "iam:ListRoleTags",
    "iam:ListUserTags",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
)
FILTER_BATCH = 200  # values per describe filter
_RDS_NOT_FOUND = {"DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault", "DBClusterNotFound"}
_NO_SUCH_ENTITY = "NoSuchEntity"


@dataclass(frozen=True, slots=True)
class Inventory:
    """What the read found: each created resource with its tags now (the derived ones too), those not found, and the
    creating principal's tags (None: not read, ``notes`` say why)."""

    found: tuple[Found, ...]
    missing: tuple[CreatedResource, ...]
    principal_tags: Mapping[str, str] | None
    notes: tuple[str, ...] = ()


def tags_of(listed: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in listed or ()}


def read_inventory(scope: Any, creation: Creation) -> Inventory:
    """The created resources in the scope's account and region (``scope``: an AccountScope through the member role)."""
    by_type: dict[str, list[CreatedResource]] = {}
    for resource in creation.resources:
        by_type.setdefault(resource.type, []).append(resource)
    found: list[Found] = []
    if by_type.keys() & {INSTANCE, VOLUME, SNAPSHOT, IMAGE}:
        ec2 = scope.client("ec2")
        instances, volume_ids = _instances(ec2, [r.id for r in by_type.get(INSTANCE, ())])
        found += instances
        derived_volumes = volume_ids if VOLUME in creation.derived else []
        found += _volumes(ec2, [*(r.id for r in by_type.get(VOLUME, ())), *derived_volumes])
        images, snapshot_ids = _images(ec2, [r.id for r in by_type.get(IMAGE, ())])
        found += images
        derived_snapshots = snapshot_ids if SNAPSHOT in creation.derived else []
        found += _snapshots(ec2, [*(r.id for r in by_type.get(SNAPSHOT, ())), *derived_snapshots])
    if by_type.keys() & {DB, CLUSTER}:
        rds = scope.client("rds")
        found += [f for r in by_type.get(DB, ()) if (f := _db(rds, r)) is not None]
        found += [f for r in by_type.get(CLUSTER, ()) if (f := _cluster(rds, r)) is not None]
    seen = {(f.type, f.id) for f in found}
    missing = tuple(r for r in creation.resources if (r.type, r.id) not in seen)
    principal_tags, note = read_principal_tags(scope, creation.creator, account=scope.account)
    return Inventory(tuple(found), missing, principal_tags, (note,) if note else ())


def current_tags(scope: Any, resources: Sequence[tuple[str, str, str | None]]) -> dict[tuple[str, str], dict[str, str]]:
    """The tags of (type, id, arn) resources now, by (type, id); a resource that is gone is absent. For the apply's
    fresh look before it tags and its verification after."""
    ec2_ids = {t: [i for kind, i, _ in resources if kind == t] for t in (INSTANCE, VOLUME, SNAPSHOT, IMAGE)}
    found: list[Found] = []
    if any(ec2_ids.values()):
        ec2 = scope.client("ec2")
        found += _instances(ec2, ec2_ids[INSTANCE])[0]
        found += _volumes(ec2, ec2_ids[VOLUME])
        found += _images(ec2, ec2_ids[IMAGE])[0]
        found += _snapshots(ec2, ec2_ids[SNAPSHOT])
    rds_resources = [CreatedResource(i, kind, arn) for kind, i, arn in resources if kind in (DB, CLUSTER)]
    if rds_resources:
        rds = scope.client("rds")
        for resource in rds_resources:
            if (f := (_db if resource.type == DB else _cluster)(rds, resource)) is not None:
                found.append(f)
    return {(f.type, f.id): dict(f.tags) for f in found}


def _name(tags: Mapping[str, str]) -> str | None:
    return tags.get("Name") or None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def _instances(ec2: Any, ids: Sequence[str]) -> tuple[list[Found], list[str]]:
    found, volumes = [], []
    for batch in in_batches(sorted(set(ids)), FILTER_BATCH):
        for reservation in _pages(
            ec2, "describe_instances", "Reservations", Filters=[{"Name": "instance-id", "Values": batch}]
        ):
            for instance in reservation["Instances"]:
                if instance.get("State", {}).get("Name") in ("terminated", "shutting-down"):
                    continue
                tags = tags_of(instance.get("Tags"))
                found.append(Found(instance["InstanceId"], INSTANCE, tags, name=_name(tags)))
                volumes += [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", ()) if m.get("Ebs")]
    return found, volumes


def _volumes(ec2: Any, ids: Sequence[str]) -> list[Found]:
    found = []
    for batch in in_batches(sorted(set(ids)), FILTER_BATCH):
        for volume in _pages(ec2, "describe_volumes", "Volumes", Filters=[{"Name": "volume-id", "Values": batch}]):
            tags = tags_of(volume.get("Tags"))
            found.append(Found(volume["VolumeId"], VOLUME, tags, name=_name(tags)))
    return found


def _snapshots(ec2: Any, ids: Sequence[str]) -> list[Found]:
    found = []
    for batch in in_batches(sorted(set(ids)), FILTER_BATCH):
        for snapshot in _pages(
            ec2,
            "describe_snapshots",
            "Snapshots",
            OwnerIds=["self"],
            Filters=[{"Name": "snapshot-id", "Values": batch}],
        ):
            tags = tags_of(snapshot.get("Tags"))
            found.append(Found(snapshot["SnapshotId"], SNAPSHOT, tags, name=_name(tags)))
    return found


def _images(ec2: Any, ids: Sequence[str]) -> tuple[list[Found], list[str]]:
    found, snapshots = [], []
    for batch in in_batches(sorted(set(ids)), FILTER_BATCH):
        described = ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": batch}])["Images"]
        for image in described:
            tags = tags_of(image.get("Tags"))
            found.append(Found(image["ImageId"], IMAGE, tags, name=image.get("Name") or _name(tags)))
            mappings = image.get("BlockDeviceMappings", ())
            snapshots += [m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")]
    return found, snapshots


def _db(rds: Any, resource: CreatedResource) -> Found | None:
    try:
        [db] = rds.describe_db_instances(DBInstanceIdentifier=resource.id)["DBInstances"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _RDS_NOT_FOUND:
            return None
        raise
    if db.get("DBInstanceStatus") == "deleting":
        return None
    tags = tags_of(db.get("TagList"))
    return Found(db["DBInstanceIdentifier"], DB, tags, arn=db.get("DBInstanceArn") or resource.arn)


def _cluster(rds: Any, resource: CreatedResource) -> Found | None:
    try:
        [cluster] = rds.describe_db_clusters(DBClusterIdentifier=resource.id)["DBClusters"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _RDS_NOT_FOUND:
            return None
        raise
    if cluster.get("Status") == "deleting":
        return None
    tags = tags_of(cluster.get("TagList"))
    return Found(cluster["DBClusterIdentifier"], CLUSTER, tags, arn=cluster.get("DBClusterArn") or resource.arn)


def read_principal_tags(scope: Any, creator: Creator, *, account: str) -> tuple[dict[str, str] | None, str | None]:
    """The creating role's or user's IAM tags, or None and why not. Never raises for an AWS error: copying tags is
    the least of the auto-tagger's work, and the creator and creation time are written without it."""
    if creator.copy_note:
        return None, f"no tags copied from the creator: {creator.copy_note}"
    if creator.account and creator.account != account:
        return None, f"no tags copied from the creator: it belongs to account {creator.account}, not {account}"
    if creator.iam_role:
        what, operation, key = f"role {creator.iam_role}", "list_role_tags", {"RoleName": creator.iam_role}
    elif creator.iam_user:
        what, operation, key = f"user {creator.iam_user}", "list_user_tags", {"UserName": creator.iam_user}
    else:
        return None, "no tags copied from the creator: no IAM role or user to read them from"
    iam = scope.client("iam")
    try:
        return {t["Key"]: t["Value"] for t in _pages(iam, operation, "Tags", **key)}, None
    except ClientError as exc:
        if exc.response["Error"]["Code"] == _NO_SUCH_ENTITY:
            return None, f"no tags copied from the creator: its IAM {what} does not exist (any more)"
        return None, f"no tags copied from the creator: cannot read its IAM {what}'s tags ({error_text(exc)})"
    except BotoCoreError as exc:
        return None, f"no tags copied from the creator: cannot read its IAM {what}'s tags ({error_text(exc)})"
