"""RDS in one account and region: DB instances, their read replicas, and Aurora clusters with their members.

Seeding creates the standalone DB instances, then their read replicas (CreateDBInstanceReadReplica), then stops the
stopped ones (after the replicas, which would otherwise copy the stopped status); then each Aurora cluster
(CreateDBCluster), its members (CreateDBInstance with DBClusterIdentifier) and, for a stopped cluster,
StopDBCluster.
"""

from __future__ import annotations

from typing import Any, Literal

import boto3

from tools.sim._common import Seeded, by_name, pages, tag_list, tags_of
from tools.sim.model import DbCluster, DbInstance, RegionResources

_DB_MASTER_PASSWORD = "simulated-only-1"  # noqa: S105 - moto requires one; nothing real is behind it
_MASTER = {"MasterUsername": "finops", "MasterUserPassword": _DB_MASTER_PASSWORD}
Status = Literal["available", "stopped"]


def seed(member: boto3.Session, region: str, resources: RegionResources, seeded: Seeded) -> None:
    if not resources.db_instances and not resources.db_clusters:
        return
    rds = member.client("rds", region_name=region)
    standalone = [db for db in resources.db_instances if db.cluster is None and db.replica_of is None]
    for db in standalone:
        rds.create_db_instance(
            DBInstanceIdentifier=db.identifier,
            Engine=db.engine,
            DBInstanceClass=db.instance_class,
            AllocatedStorage=db.storage_gb,
            Tags=tag_list(None, db.tags),
            **_MASTER,
        )
        seeded.add("db_instance", db.identifier, db.identifier, db.created_at)
    for db in resources.db_instances:
        if db.replica_of is not None:
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=db.identifier,
                SourceDBInstanceIdentifier=db.replica_of,
                DBInstanceClass=db.instance_class,
                Tags=tag_list(None, db.tags),  # given even when empty: moto would copy the source's
            )
            seeded.add("db_instance", db.identifier, db.identifier, db.created_at)
    for db in standalone:
        if db.status == "stopped":
            rds.stop_db_instance(DBInstanceIdentifier=db.identifier)

    for cluster in resources.db_clusters:
        rds.create_db_cluster(
            DBClusterIdentifier=cluster.identifier, Engine=cluster.engine, Tags=tag_list(None, cluster.tags), **_MASTER
        )
        seeded.add("db_cluster", cluster.identifier, cluster.identifier, cluster.created_at)
        for db in resources.db_instances:
            if db.cluster == cluster.identifier:
                rds.create_db_instance(
                    DBInstanceIdentifier=db.identifier,
                    DBClusterIdentifier=cluster.identifier,
                    Engine=cluster.engine,
                    DBInstanceClass=db.instance_class,
                    Tags=tag_list(None, db.tags),
                )
                seeded.add("db_instance", db.identifier, db.identifier, db.created_at)
        if cluster.status == "stopped":
            rds.stop_db_cluster(DBClusterIdentifier=cluster.identifier)


# -- reading back ------------------------------------------------------------------------------------------------------


def dump(session: boto3.Session, region: str) -> tuple[tuple[DbCluster, ...], tuple[DbInstance, ...]]:
    """The region's Aurora clusters and DB instances, as DescribeDBClusters and DescribeDBInstances show them."""
    rds = session.client("rds", region_name=region)
    described_clusters = pages(rds, "describe_db_clusters", "DBClusters")
    described = pages(rds, "describe_db_instances", "DBInstances")
    classes = {d["DBInstanceIdentifier"]: d["DBInstanceClass"] for d in described}
    clusters = [_dump_cluster(c, classes) for c in described_clusters]
    statuses = {c.identifier: c.status for c in clusters}
    return (
        by_name(clusters, lambda c: c.identifier),
        by_name([_dump_db(d, statuses) for d in described], lambda d: d.identifier),
    )


def _status(described: str) -> Status:
    return "stopped" if described in ("stopped", "stopping") else "available"


def _dump_cluster(described: dict[str, Any], classes: dict[str, str]) -> DbCluster:
    """The cluster's ``instance_class`` is its writer's (its first member's without one)."""
    members = sorted(described.get("DBClusterMembers", []), key=lambda m: not m.get("IsClusterWriter"))
    member_classes = [classes[m["DBInstanceIdentifier"]] for m in members if m["DBInstanceIdentifier"] in classes]
    return DbCluster(
        id=described.get("DbClusterResourceId"),
        identifier=described["DBClusterIdentifier"],
        engine=described["Engine"],
        instance_class=member_classes[0] if member_classes else DbCluster.model_fields["instance_class"].default,
        status=_status(described["Status"]),
        tags=tags_of(described.get("TagList")),
        created_at=described["ClusterCreateTime"],
    )


def _dump_db(described: dict[str, Any], cluster_statuses: dict[str, Status]) -> DbInstance:
    """A cluster member has no storage of its own, and its cluster's status (moto leaves members "available")."""
    cluster = described.get("DBClusterIdentifier")
    return DbInstance(
        id=described.get("DbiResourceId"),
        identifier=described["DBInstanceIdentifier"],
        engine=described["Engine"],
        instance_class=described["DBInstanceClass"],
        storage_gb=DbInstance.model_fields["storage_gb"].default if cluster else described["AllocatedStorage"],
        status=cluster_statuses.get(cluster, "available") if cluster else _status(described["DBInstanceStatus"]),
        cluster=cluster,
        replica_of=described.get("ReadReplicaSourceDBInstanceIdentifier"),
        tags=tags_of(described.get("TagList")),
        created_at=described["InstanceCreateTime"],
    )
