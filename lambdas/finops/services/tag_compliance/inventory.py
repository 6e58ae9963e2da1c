"""Read what tag compliance evaluates in one target, with the tags each describe call returns.

The Resource Groups Tagging API lists only resources that have (or once had) a tag, so a resource that was never
tagged, the worst case, would never show there. Each service's own describe call lists every resource:
``DescribeInstances`` (not terminated), ``DescribeVolumes``, ``DescribeSnapshots`` (``OwnerIds=self``: the account's
own, not the public and shared ones), ``DescribeDBInstances`` and ``DescribeDBClusters`` (their ``TagList``), each
paginated at the largest page the API allows. One call a page, no per-resource tag reads.

An instance's creation time is the earliest of its launch time and the attach times of its primary network interface
and root volume: ``LaunchTime`` moves on every start, the attachments stay from the launch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from finops.aws.clients import AccountScope
from finops.aws.describe import pages as _pages
from finops.aws.describe import tag_dict as _tags
from finops.rules.tag_compliance import CLUSTER, DB, INSTANCE, SNAPSHOT, VOLUME, TaggedResource, TagInventory
from finops.services.scheduler.inventory import AUTOSCALING_GROUP_TAG, MANAGED_BY_TAGS

PERMISSIONS: tuple[str, ...] = (
    "ec2:DescribeInstances",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
)
INSTANCE_STATES = ("pending", "running", "stopping", "stopped")
INSTANCE_PAGE = 1000  # DescribeInstances MaxResults: 5-1,000
VOLUME_PAGE = 500  # DescribeVolumes MaxResults: 5-500
SNAPSHOT_PAGE = 1000  # DescribeSnapshots MaxResults: 5-1,000
RDS_PAGE = 100  # DescribeDBInstances / DescribeDBClusters MaxRecords: 20-100


def read_inventory(scope: AccountScope) -> TagInventory:
    ec2, rds = scope.client("ec2"), scope.client("rds")
    resources = [
        *(instance_of(i) for i in instances(ec2)),
        *(volume_of(v) for v in _pages(ec2, "describe_volumes", "Volumes", VOLUME_PAGE)),
        *(snapshot_of(s) for s in _pages(ec2, "describe_snapshots", "Snapshots", SNAPSHOT_PAGE, OwnerIds=["self"])),
        *(db_of(d) for d in _pages(rds, "describe_db_instances", "DBInstances", RDS_PAGE)),
        *(cluster_of(c) for c in _pages(rds, "describe_db_clusters", "DBClusters", RDS_PAGE)),
    ]
    return TagInventory(tuple(sorted(resources, key=lambda r: (r.kind, r.id))))


def instances(ec2: Any, ids: Iterable[str] | None = None) -> Iterator[Mapping[str, Any]]:
    """Every instance not terminated (or only ``ids``, by filter: one that is gone is simply not there)."""
    filters = [{"Name": "instance-state-name", "Values": list(INSTANCE_STATES)}]
    if ids is not None:
        filters.append({"Name": "instance-id", "Values": list(ids)})
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=filters, PaginationConfig={"PageSize": INSTANCE_PAGE}
    )
    for page in pages:
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])


def instance_of(described: Mapping[str, Any]) -> TaggedResource:
    tags = _tags(described.get("Tags"))
    return TaggedResource(
        kind=INSTANCE,
        id=str(described["InstanceId"]),
        tags=tags,
        created=instance_created(described),
        name=tags.get("Name"),
        state=str(described.get("State", {}).get("Name", "")),
        not_stoppable=not_stoppable(described, tags),
    )


def instance_created(described: Mapping[str, Any]) -> datetime | None:
    times = [described.get("LaunchTime")]
    root = described.get("RootDeviceName")
    for mapping in described.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            times.append(mapping.get("Ebs", {}).get("AttachTime"))
    for interface in described.get("NetworkInterfaces", []):
        attachment = interface.get("Attachment", {})
        if attachment.get("DeviceIndex") == 0:
            times.append(attachment.get("AttachTime"))
    known = [t for t in times if isinstance(t, datetime) and t.tzinfo is not None]
    return min(known) if known else None


def not_stoppable(described: Mapping[str, Any], tags: Mapping[str, str]) -> str | None:
    """Why stopping this instance for its tags would be wrong: another controller owns its life and would replace or
    restart it, or AWS cannot stop it."""
    group = tags.get(AUTOSCALING_GROUP_TAG)
    if group:
        return f"member of Auto Scaling group {group} (the group would replace it): tag the group's launch template"
    if described.get("RootDeviceType") == "instance-store":
        return "instance-store root volume: AWS cannot stop it"
    lifecycle = described.get("InstanceLifecycle")
    if lifecycle in ("spot", "scheduled", "capacity-block"):
        return f"a {lifecycle} instance: its request or fleet owns its life"
    owner = next((f"{key}={tags[key]}" for key in MANAGED_BY_TAGS if key in tags), None)
    if owner:
        return f"managed by another service ({owner}): tag it where it is launched"
    return None


def volume_of(described: Mapping[str, Any]) -> TaggedResource:
    tags = _tags(described.get("Tags"))
    return TaggedResource(
        kind=VOLUME,
        id=str(described["VolumeId"]),
        tags=tags,
        created=described.get("CreateTime"),
        name=tags.get("Name"),
        state=str(described.get("State", "")),
    )


def snapshot_of(described: Mapping[str, Any]) -> TaggedResource:
    tags = _tags(described.get("Tags"))
    return TaggedResource(
        kind=SNAPSHOT,
        id=str(described["SnapshotId"]),
        tags=tags,
        created=described.get("StartTime"),
        name=tags.get("Name"),
        state=str(described.get("State", "")),
    )


def db_of(described: Mapping[str, Any]) -> TaggedResource:
    identifier = str(described["DBInstanceIdentifier"])
    return TaggedResource(
        kind=DB,
        id=identifier,
        tags=_tags(described.get("TagList")),
        created=described.get("InstanceCreateTime"),
        name=identifier,
        arn=described.get("DBInstanceArn"),
        state=str(described.get("DBInstanceStatus", "")),
    )


def cluster_of(described: Mapping[str, Any]) -> TaggedResource:
    identifier = str(described["DBClusterIdentifier"])
    return TaggedResource(
        kind=CLUSTER,
        id=identifier,
        tags=_tags(described.get("TagList")),
        created=described.get("ClusterCreateTime"),
        name=identifier,
        arn=described.get("DBClusterArn"),
        state=str(described.get("Status", "")),
    )
