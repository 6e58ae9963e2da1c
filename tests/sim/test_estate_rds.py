"""Aurora clusters, their members and read replicas of a small estate: seeded stopped, and dumped back.

How the default estate's cluster and replica look through DescribeDBClusters / DescribeDBInstances is in
``test_estate_seed.py``."""

from __future__ import annotations

from typing import Any

import pytest

from tools.sim.estate import dump, simulated_aws
from tools.sim.model import parse_estate

REGION = "eu-west-1"


def _region(estate: dict[str, Any]) -> dict[str, Any]:
    region: dict[str, Any] = estate["accounts"][0]["regions"][REGION]
    return region


@pytest.fixture
def database_estate(small_estate: dict[str, Any]) -> dict[str, Any]:
    _region(small_estate).update(
        db_clusters=[
            {"identifier": "orders", "engine": "aurora-mysql", "instance_class": "db.r6g.xlarge", "status": "stopped",
             "tags": {"schedule": "office-hours"}, "created_at": "2026-01-05T10:00:00Z"}
        ],
        db_instances=[
            {"identifier": "orders-1", "cluster": "orders", "created_at": "2026-01-05T10:10:00Z"},
            {"identifier": "reports", "instance_class": "db.t4g.medium", "storage_gb": 80, "status": "stopped",
             "created_at": "2026-02-01T00:00:00Z"},
            {"identifier": "reports-replica", "replica_of": "reports", "created_at": "2026-02-01T01:00:00Z"},
        ],
    )  # fmt: skip
    return small_estate


def test_stopped_cluster_and_stopped_source_are_seeded_stopped(database_estate: dict[str, Any]) -> None:
    with simulated_aws(parse_estate(database_estate, source="db")) as sim:
        rds = sim.session("333333333333", REGION).client("rds")
        [cluster] = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"]
        statuses = {
            d["DBInstanceIdentifier"]: d["DBInstanceStatus"] for d in rds.describe_db_instances()["DBInstances"]
        }

    assert (cluster["Engine"], cluster["Status"]) == ("aurora-mysql", "stopped")
    # The replica was made before its source stopped, and is available: a read replica cannot be stopped
    assert statuses["reports"] == "stopped"
    assert statuses["reports-replica"] == "available"


def test_clusters_members_and_replicas_round_trip(database_estate: dict[str, Any]) -> None:
    estate = parse_estate(database_estate, source="db")

    with simulated_aws(estate) as sim:
        data = dump(sim)

    # The dump spells out what the file left to the links, and describes the same estate
    region = _region(data)
    assert [c["identifier"] for c in region["db_clusters"]] == ["orders"]
    dumped = {d["identifier"]: d for d in region["db_instances"]}
    assert dumped["orders-1"] | {"id": None} == {
        "id": None,
        "identifier": "orders-1",
        "engine": "aurora-mysql",
        "instance_class": "db.r6g.xlarge",
        "storage_gb": 20,
        "status": "stopped",
        "cluster": "orders",
        "replica_of": None,
        "tags": {},
        "created_at": "2026-01-05T10:10:00Z",
    }
    assert (dumped["reports-replica"]["replica_of"], dumped["reports-replica"]["storage_gb"]) == ("reports", 80)
    assert parse_estate(data, source="dump").comparable() == estate.comparable()


def test_dump_shows_a_cluster_the_runtime_stopped(database_estate: dict[str, Any]) -> None:
    _region(database_estate)["db_clusters"][0]["status"] = "available"

    with simulated_aws(parse_estate(database_estate, source="db")) as sim:
        sim.session("333333333333", REGION).client("rds").stop_db_cluster(DBClusterIdentifier="orders")
        region = _region(dump(sim))

    assert region["db_clusters"][0]["status"] == "stopped"
    assert next(d for d in region["db_instances"] if d["identifier"] == "orders-1")["status"] == "stopped"
