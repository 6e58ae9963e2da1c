"""Read what the scheduler may stop and start in one target: EC2 instances, Auto Scaling groups, RDS, Aurora.

One paginated describe per service, with tags from the describe outputs (no per-resource tag calls). Each resource
says why it must not be acted on by itself (``not_schedulable``) when AWS would refuse or another resource owns it:
a group's instances, a cluster's members, read replicas and their sources. The result is sorted by (kind, id) so
the same estate gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from finops.aws.clients import AccountScope
from finops.aws.describe import pages as _pages
from finops.aws.describe import tag_dict as _tags
from finops.models.inventory import PowerState, Resource
from finops.rules.scheduler_tags import SIZES_TAG, STOPPED_AT_TAG, GroupSizes

PERMISSIONS: tuple[str, ...] = (
    "autoscaling:DescribeAutoScalingGroups",
    "ec2:DescribeInstances",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
)

EC2_STATES: tuple[PowerState, ...] = ("pending", "running", "stopping", "stopped")
AUTOSCALING_GROUP_TAG = "aws:autoscaling:groupName"  # set by Auto Scaling on every instance it launches
_RDS_STATES: Mapping[str, PowerState] = {
    "available": "running",
    "stopped": "stopped",
    "starting": "pending",
    "stopping": "stopping",
}
_NOT_RDS_ENGINES = ("docdb", "neptune")  # DocumentDB and Neptune share the RDS describe calls
_UNSTOPPABLE_ENGINE_MODES = {
    "serverless": "Aurora Serverless v1",
    "multimaster": "Aurora multi-master",
    "parallelquery": "Aurora parallel query",
}


def read_inventory(scope: AccountScope) -> list[Resource]:
    """A fresh inventory of ``scope``'s account and region, sorted by (kind, id)."""
    rds = scope.client("rds")
    databases = [
        db
        for db in _pages(rds, "describe_db_instances", "DBInstances", page_size=100)
        if not str(db.get("Engine", "")).startswith(_NOT_RDS_ENGINES)
    ]
    clusters = [
        cluster
        for cluster in _pages(rds, "describe_db_clusters", "DBClusters", page_size=100)
        if str(cluster.get("Engine", "")).startswith("aurora")  # StopDBCluster applies to Aurora clusters only
    ]
    groups = _pages(scope.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups", page_size=100)
    member_classes = {db["DBInstanceIdentifier"]: db["DBInstanceClass"] for db in databases}
    resources = [
        *_instances(scope.client("ec2")),
        *(group_resource(group) for group in groups),
        *(db_resource(db) for db in databases),
        *(cluster_resource(cluster, member_classes) for cluster in clusters),
    ]
    return sorted(resources, key=lambda r: (r.kind, r.id))


# -- EC2 ---------------------------------------------------------------------------------------------------------------


def _instances(ec2: Any) -> Iterator[Resource]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": list(EC2_STATES)}],
        PaginationConfig={"PageSize": 1000},
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                yield instance_resource(
                    instance, arn_prefix=f"arn:{ec2.meta.partition}:ec2:{ec2.meta.region_name}:{reservation['OwnerId']}"
                )


def instance_resource(instance: Mapping[str, Any], *, arn_prefix: str) -> Resource:
    """``arn_prefix``: ``arn:<partition>:ec2:<region>:<owner account>``."""
    tags = _tags(instance.get("Tags"))
    raw = str(instance["State"]["Name"])
    instance_id = str(instance["InstanceId"])
    return Resource(
        kind="ec2:instance",
        id=instance_id,
        state=ec2_state(raw),
        tags=tags,
        name=tags.get("Name"),
        arn=f"{arn_prefix}:instance/{instance_id}",
        size=instance.get("InstanceType"),
        hibernation=bool(instance.get("HibernationOptions", {}).get("Configured", False)),
        not_schedulable=instance_not_schedulable(instance, tags),
        raw_state=raw,
    )


def ec2_state(raw: str) -> PowerState:
    for state in EC2_STATES:
        if raw == state:
            return state
    return "other"


def instance_not_schedulable(instance: Mapping[str, Any], tags: Mapping[str, str]) -> str | None:
    group = tags.get(AUTOSCALING_GROUP_TAG)
    if group:
        return f"member of Auto Scaling group {group} (the group is scheduled instead)"
    if instance.get("RootDeviceType") == "instance-store":
        return "instance-store root volume: AWS cannot stop it"
    if instance.get("InstanceLifecycle") in ("spot", "scheduled"):
        return f"a {instance['InstanceLifecycle']} instance: its fleet or request owns its life, not a schedule"
    owner = next((f"{key}={tags[key]}" for key in MANAGED_BY_TAGS if key in tags), None)
    if owner:
        return f"managed by another service ({owner}): its controller would start it again"
    return None


# Instances whose lifecycle another controller owns: stopping them fights it (EKS node groups, Karpenter, EMR,
# Spot Fleet and EC2 Fleet, Elastic Beanstalk, CloudFormation-managed ECS/Batch capacity shows as Auto Scaling groups).
MANAGED_BY_TAGS = (
    "eks:nodegroup-name",
    "eks:cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/provisioner-name",
    "aws:elasticmapreduce:job-flow-id",
    "aws:ec2spot:fleet-request-id",
    "aws:ec2:fleet-id",
    "elasticbeanstalk:environment-name",
)


# -- Auto Scaling ------------------------------------------------------------------------------------------------------


def group_resource(group: Mapping[str, Any]) -> Resource:
    """A group is running while it may have instances (desired or min above 0); stopping it records its sizes in
    the ``finops:scheduler-sizes`` tag, which is the count (``remembered``) while it is stopped."""
    tags = _tags(group.get("Tags"))
    sizes = GroupSizes(int(group["MinSize"]), int(group["DesiredCapacity"]), int(group["MaxSize"]))
    remembered: GroupSizes | None = None
    unreadable: str | None = None
    if SIZES_TAG in tags:
        try:
            remembered = GroupSizes.from_tag(tags[SIZES_TAG])
        except ValueError as err:
            unreadable = str(err)
    status = group.get("Status")  # only while the group is being deleted
    running = sizes.desired > 0 or sizes.min > 0
    state: PowerState = "other" if status else "running" if running else "stopped"
    details: dict[str, Any] = sizes.to_json()
    if remembered is not None:
        details["remembered"] = remembered.to_json()
    not_schedulable = None
    if status:
        not_schedulable = f"being deleted ({status})"
    elif unreadable is not None and sizes.zero:
        not_schedulable = f"tag {SIZES_TAG} is unreadable ({unreadable}): the sizes to restore are unknown"
    name = str(group["AutoScalingGroupName"])
    return Resource(
        kind="autoscaling:group",
        id=name,
        state=state,
        tags=tags,
        name=tags.get("Name", name),
        arn=group.get("AutoScalingGroupARN"),
        size=_group_instance_type(group),
        count=remembered.desired if remembered is not None and not running else sizes.desired,
        not_schedulable=not_schedulable,
        raw_state=str(status) if status else sizes.to_tag(),
        details=details,
    )


def _group_instance_type(group: Mapping[str, Any]) -> str | None:
    """The one instance type the group runs, from what DescribeAutoScalingGroups says (its instances, else its
    mixed-instances overrides); None when it runs several or only its launch template would tell."""
    types = {i["InstanceType"] for i in group.get("Instances", ()) if i.get("InstanceType")}
    if not types:
        overrides = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("Overrides", ())
        types = {o["InstanceType"] for o in overrides if o.get("InstanceType")}
    return types.pop() if len(types) == 1 else None


# -- RDS and Aurora ----------------------------------------------------------------------------------------------------


def db_resource(db: Mapping[str, Any]) -> Resource:
    tags = _tags(db.get("TagList"))
    identifier = str(db["DBInstanceIdentifier"])
    raw = str(db["DBInstanceStatus"])
    details: dict[str, Any] = {"engine": db.get("Engine"), "cluster": db.get("DBClusterIdentifier")}
    if STOPPED_AT_TAG in tags:
        details["stopped_at"] = tags[STOPPED_AT_TAG]
    return Resource(
        kind="rds:db",
        id=identifier,
        state=rds_state(raw),
        tags=tags,
        name=tags.get("Name", identifier),
        arn=db.get("DBInstanceArn"),
        size=db.get("DBInstanceClass"),
        not_schedulable=db_not_schedulable(db),
        raw_state=raw,
        details=details,
    )


def cluster_resource(cluster: Mapping[str, Any], member_classes: Mapping[str, str]) -> Resource:
    """An Aurora cluster; its size is its members' instance class (several, comma-separated, when they differ)."""
    tags = _tags(cluster.get("TagList"))
    identifier = str(cluster["DBClusterIdentifier"])
    raw = str(cluster["Status"])
    members = [str(m["DBInstanceIdentifier"]) for m in cluster.get("DBClusterMembers", ())]
    classes = sorted({member_classes[m] for m in members if m in member_classes})
    details: dict[str, Any] = {"engine": cluster.get("Engine"), "cluster": identifier, "members": members}
    if STOPPED_AT_TAG in tags:
        details["stopped_at"] = tags[STOPPED_AT_TAG]
    return Resource(
        kind="rds:cluster",
        id=identifier,
        state=rds_state(raw),
        tags=tags,
        name=tags.get("Name", identifier),
        arn=cluster.get("DBClusterArn"),
        size=",".join(classes) or cluster.get("DBClusterInstanceClass"),
        count=len(members),
        not_schedulable=cluster_not_schedulable(cluster),
        raw_state=raw,
        details=details,
    )


def rds_state(raw: str) -> PowerState:
    return _RDS_STATES.get(raw, "other")


def db_not_schedulable(db: Mapping[str, Any]) -> str | None:
    """Why StopDBInstance must not be called on ``db`` (as DescribeDBInstances gave it), or None."""
    cluster = db.get("DBClusterIdentifier")
    if cluster:
        if str(db.get("Engine", "")).startswith("aurora"):
            return f"member of Aurora cluster {cluster} (the cluster is scheduled)"
        return f"member of Multi-AZ DB cluster {cluster} (not scheduled: only Aurora clusters are)"
    source = db.get("ReadReplicaSourceDBInstanceIdentifier") or db.get("ReadReplicaSourceDBClusterIdentifier")
    if source:
        return f"read replica of {source}: AWS cannot stop read replicas"
    replicas = [*db.get("ReadReplicaDBInstanceIdentifiers", ()), *db.get("ReadReplicaDBClusterIdentifiers", ())]
    if replicas:
        return f"source of read replica(s) {', '.join(replicas)}: AWS cannot stop it"
    if str(db.get("Engine", "")).startswith("sqlserver") and db.get("MultiAZ"):
        return "SQL Server Multi-AZ: AWS cannot stop it"
    return None


def cluster_not_schedulable(cluster: Mapping[str, Any]) -> str | None:
    """Why StopDBCluster must not be called on ``cluster`` (as DescribeDBClusters gave it), or None."""
    source = cluster.get("ReplicationSourceIdentifier")
    if source:
        return f"read replica of {source}: AWS cannot stop read replicas"
    global_cluster = cluster.get("GlobalClusterIdentifier")
    if global_cluster:
        return f"in global database {global_cluster}: AWS cannot stop its clusters"
    mode = _UNSTOPPABLE_ENGINE_MODES.get(str(cluster.get("EngineMode", "")))
    if mode:
        return f"{mode} cluster: AWS cannot stop it"
    return None
