"""Stopping and starting RDS databases and Aurora clusters, with the stopped-at tag the planner reads."""

from __future__ import annotations

from typing import Any

from finops.services.scheduler import apply
from tests.lambdas.services.scheduler.conftest import (
    NOW,
    action,
    api_error,
    cluster_status,
    create_cluster,
    create_db,
    db_status,
    no_sleep,
)

STOPPED_AT = "2026-11-27T18:00:00Z"  # NOW


def tags_of(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def db_arn(rds: Any, identifier: str) -> str:
    return str(rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]["DBInstanceArn"])


def test_a_database_stops_tagged_with_the_runs_clock_and_starts_again(scope, rds):
    create_db(rds, "orders-db", team="payments")

    (stopped,) = apply(scope, [action("orders-db", "stop", kind="rds:db")], now=NOW, sleep=no_sleep)

    assert stopped.ok, stopped.error
    assert db_status(rds, "orders-db") == "stopped"
    assert tags_of(rds, db_arn(rds, "orders-db")) == {"team": "payments", "finops:scheduler-stopped-at": STOPPED_AT}
    assert stopped.after == {"state": "stopped", "raw_state": "stopped", "stopped_at": STOPPED_AT}

    (started,) = apply(scope, [action("orders-db", "start", kind="rds:db")], now=NOW, sleep=no_sleep)

    assert started.ok, started.error
    assert db_status(rds, "orders-db") == "available"
    assert started.after == {"state": "running", "raw_state": "available"}


def test_an_aurora_cluster_stops_tagged_and_starts_again(scope, rds):
    create_cluster(rds, "ledger", members=2)
    cluster_arn = rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]["DBClusterArn"]

    (stopped,) = apply(scope, [action("ledger", "stop", kind="rds:cluster")], now=NOW, sleep=no_sleep)

    assert stopped.ok, stopped.error
    assert cluster_status(rds, "ledger") == "stopped"
    assert tags_of(rds, cluster_arn)["finops:scheduler-stopped-at"] == STOPPED_AT

    (started,) = apply(scope, [action("ledger", "start", kind="rds:cluster")], now=NOW, sleep=no_sleep)

    assert started.ok, started.error
    assert cluster_status(rds, "ledger") == "available"


def test_replicas_their_sources_and_cluster_members_are_refused_without_a_call(scope, rds, hooks):
    # Given a database with a read replica, and an Aurora cluster (moto would stop the source and the member)
    create_db(rds, "orders-db")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders-db")
    create_cluster(rds, "ledger", members=1)

    # When a plan asks to stop each of them by itself
    outcomes = apply(
        scope,
        [action(name, "stop", kind="rds:db") for name in ("orders-replica", "orders-db", "ledger-1")],
        now=NOW,
        sleep=no_sleep,
    )

    # Then each is refused with the reason, and all of them still run
    assert [(o.ok, o.error) for o in outcomes] == [
        (False, "refused: read replica of orders-db: AWS cannot stop read replicas"),
        (False, "refused: source of read replica(s) orders-replica: AWS cannot stop it"),
        (False, "refused: member of Aurora cluster ledger (the cluster is scheduled)"),
    ]
    assert hooks.count("StopDBInstance") == 0
    assert {db_status(rds, name) for name in ("orders-replica", "orders-db", "ledger-1")} == {"available"}


def test_an_api_refusal_is_a_failed_outcome_and_the_others_go_on(scope, rds):
    create_db(rds, "reports-db")
    rds.stop_db_instance(DBInstanceIdentifier="reports-db")  # stopped by someone since the read
    create_db(rds, "orders-db")

    reports, orders = apply(
        scope,
        [action("reports-db", "stop", kind="rds:db"), action("orders-db", "stop", kind="rds:db")],
        now=NOW,
        sleep=no_sleep,
    )

    assert (reports.ok, reports.error) == (
        False,
        "InvalidDBInstanceState: Instance reports-db is not in available state.",
    )
    assert orders.ok
    assert db_status(rds, "orders-db") == "stopped"


def test_a_database_stopped_but_not_tagged_is_reported_as_not_done(scope, rds, hooks):
    # Without the tag the planner would take RDS's own restart after 7 days for a person's start
    create_db(rds, "orders-db")
    hooks.register(
        "before-call.rds.AddTagsToResource",
        lambda **_: api_error("AccessDenied", "not authorized to perform: rds:AddTagsToResource"),
    )

    (outcome,) = apply(scope, [action("orders-db", "stop", kind="rds:db")], now=NOW, sleep=no_sleep)

    assert db_status(rds, "orders-db") == "stopped"
    assert not outcome.ok
    assert outcome.error == (
        "stopped, but tag finops:scheduler-stopped-at not written: "
        "AccessDenied: not authorized to perform: rds:AddTagsToResource"
    )
    assert outcome.after == {"state": "stopped", "raw_state": "stopped"}


def test_a_database_that_is_gone_is_a_failed_outcome(scope, rds):
    (outcome,) = apply(scope, [action("old-db", "start", kind="rds:db")], now=NOW, sleep=no_sleep)

    assert (outcome.ok, outcome.error) == (False, "DB instance old-db not found")
