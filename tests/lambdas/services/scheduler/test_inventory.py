"""Reading one target's schedulable resources through real boto3 calls to moto."""

from __future__ import annotations

from finops.models.inventory import Resource
from finops.services.scheduler import read_inventory
from tests.lambdas.services.scheduler.conftest import (
    ACCOUNT,
    PASSWORD,
    REGION,
    create_cluster,
    create_db,
    create_group,
    launch,
)


def by_id(resources: list[Resource]) -> dict[str, Resource]:
    return {r.id: r for r in resources}


def test_instances_with_their_state_type_tags_and_hibernation(scope, ec2):
    (web,) = launch(ec2, name="web-1", team="payments")
    (batch,) = launch(ec2, name="batch-1", hibernation=True)
    (gone,) = launch(ec2, name="gone")
    ec2.stop_instances(InstanceIds=[batch])
    ec2.terminate_instances(InstanceIds=[gone])

    inventory = by_id(read_inventory(scope))

    assert set(inventory) == {web, batch}  # terminated instances are not read
    assert inventory[web] == Resource(
        kind="ec2:instance",
        id=web,
        state="running",
        tags={"Name": "web-1", "team": "payments"},
        name="web-1",
        arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{web}",
        size="m6i.large",
        raw_state="running",
    )
    assert inventory[batch].state == "stopped"
    assert inventory[batch].hibernation is True
    assert inventory[web].hibernation is False


def test_an_auto_scaling_groups_instances_are_left_to_the_group(scope, ec2, autoscaling):
    create_group(ec2, autoscaling, "web-asg", min_size=1, desired=2, max_size=4, team="payments")

    inventory = read_inventory(scope)

    members = [r for r in inventory if r.kind == "ec2:instance"]
    assert len(members) == 2
    assert {m.not_schedulable for m in members} == {
        "member of Auto Scaling group web-asg (the group is scheduled instead)"
    }
    (group,) = [r for r in inventory if r.kind == "autoscaling:group"]
    assert (group.id, group.state, group.count, group.size) == ("web-asg", "running", 2, "t3.small")
    assert group.details == {"min": 1, "desired": 2, "max": 4}
    assert group.tags == {"team": "payments"}
    assert group.not_schedulable is None
    assert group.arn is not None
    assert group.arn.endswith(":autoScalingGroupName/web-asg")


def test_a_group_we_stopped_counts_the_instances_it_will_come_back_with(scope, ec2, autoscaling):
    create_group(ec2, autoscaling, "api-asg", min_size=0, desired=0, max_size=0)
    autoscaling.create_or_update_tags(
        Tags=[
            {
                "ResourceId": "api-asg",
                "ResourceType": "auto-scaling-group",
                "Key": "finops:scheduler-sizes",
                "Value": "min=1,desired=3,max=6",
                "PropagateAtLaunch": False,
            }
        ]
    )
    create_group(ec2, autoscaling, "idle-asg", min_size=0, desired=0, max_size=3)

    inventory = by_id(read_inventory(scope))

    stopped = inventory["api-asg"]
    assert (stopped.state, stopped.count, stopped.raw_state) == ("stopped", 3, "min=0,desired=0,max=0")
    assert stopped.details == {"min": 0, "desired": 0, "max": 0, "remembered": {"min": 1, "desired": 3, "max": 6}}
    assert stopped.size is None  # no instances to tell, and the launch template would cost a call
    assert (inventory["idle-asg"].state, inventory["idle-asg"].count) == ("stopped", 0)


def test_a_stopped_group_whose_sizes_tag_is_unreadable_cannot_be_started(scope, ec2, autoscaling):
    create_group(ec2, autoscaling, "api-asg", min_size=0, desired=0, max_size=0, **{"finops:scheduler-sizes": "lots"})

    (group,) = [r for r in read_inventory(scope) if r.kind == "autoscaling:group"]

    assert group.not_schedulable is not None
    assert group.not_schedulable.startswith("tag finops:scheduler-sizes is unreadable")
    assert group.not_schedulable.endswith("the sizes to restore are unknown")


def test_databases_with_their_state_class_engine_and_tags(scope, rds):
    create_db(rds, "orders-db", team="payments")
    create_db(rds, "reports-db", engine="mysql")
    rds.stop_db_instance(DBInstanceIdentifier="reports-db")
    rds.add_tags_to_resource(
        ResourceName=f"arn:aws:rds:{REGION}:{ACCOUNT}:db:reports-db",
        Tags=[{"Key": "finops:scheduler-stopped-at", "Value": "2026-11-27T18:00:00Z"}],
    )

    inventory = by_id(read_inventory(scope))

    assert inventory["orders-db"] == Resource(
        kind="rds:db",
        id="orders-db",
        state="running",
        tags={"team": "payments"},
        name="orders-db",
        arn=f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db",
        size="db.t3.micro",
        raw_state="available",
        details={"engine": "postgres", "cluster": None},
    )
    reports = inventory["reports-db"]
    assert (reports.state, reports.raw_state) == ("stopped", "stopped")
    assert reports.details["stopped_at"] == "2026-11-27T18:00:00Z"


def test_read_replicas_and_their_sources_are_not_schedulable(scope, rds):
    create_db(rds, "orders-db")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders-db")

    inventory = by_id(read_inventory(scope))

    assert inventory["orders-replica"].not_schedulable == "read replica of orders-db: AWS cannot stop read replicas"
    # moto would stop the source; AWS refuses, so the inventory says so
    assert inventory["orders-db"].not_schedulable == "source of read replica(s) orders-replica: AWS cannot stop it"


def test_an_aurora_cluster_is_scheduled_and_its_members_are_not(scope, rds):
    create_cluster(rds, "ledger", members=2, team="payments")

    inventory = read_inventory(scope)

    (cluster,) = [r for r in inventory if r.kind == "rds:cluster"]
    assert (cluster.id, cluster.state, cluster.count, cluster.size) == ("ledger", "running", 2, "db.r6g.large")
    assert cluster.tags == {"team": "payments"}
    assert cluster.not_schedulable is None
    assert cluster.details["engine"] == "aurora-postgresql"
    members = [r for r in inventory if r.kind == "rds:db"]
    assert [m.id for m in members] == ["ledger-1", "ledger-2"]
    assert {m.not_schedulable for m in members} == {"member of Aurora cluster ledger (the cluster is scheduled)"}
    assert {m.details["cluster"] for m in members} == {"ledger"}


def test_replica_and_global_aurora_clusters_are_not_schedulable(scope, rds, session):
    source = session.client("rds", region_name="us-east-1").create_db_cluster(
        DBClusterIdentifier="ledger", Engine="aurora-postgresql", MasterUsername="finops", MasterUserPassword=PASSWORD
    )["DBCluster"]
    rds.create_db_cluster(
        DBClusterIdentifier="ledger-eu",
        Engine="aurora-postgresql",
        MasterUsername="finops",
        MasterUserPassword=PASSWORD,
        ReplicationSourceIdentifier=source["DBClusterArn"],
    )
    rds.create_global_cluster(GlobalClusterIdentifier="orders-global", Engine="aurora-postgresql")
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-postgresql",
        GlobalClusterIdentifier="orders-global",
        MasterUsername="finops",
        MasterUserPassword=PASSWORD,
    )

    inventory = by_id(read_inventory(scope))

    assert inventory["ledger-eu"].not_schedulable == (
        f"read replica of {source['DBClusterArn']}: AWS cannot stop read replicas"
    )
    assert inventory["orders"].not_schedulable == "in global database orders-global: AWS cannot stop its clusters"


def test_only_aurora_clusters_are_read_as_clusters(scope, rds):
    rds.create_db_cluster(
        DBClusterIdentifier="multi-az",
        Engine="mysql",
        MasterUsername="finops",
        MasterUserPassword=PASSWORD,
        DBClusterInstanceClass="db.m5d.large",
        AllocatedStorage=100,
        StorageType="io1",
        Iops=1000,
    )

    assert [r for r in read_inventory(scope) if r.kind == "rds:cluster"] == []


def test_sorted_by_kind_then_id_with_one_describe_per_service(scope, ec2, autoscaling, rds, hooks):
    launch(ec2, 3)
    create_group(ec2, autoscaling, "b-asg", min_size=1, desired=1, max_size=1)
    create_group(ec2, autoscaling, "a-asg", min_size=1, desired=1, max_size=1)
    create_db(rds, "z-db")
    create_cluster(rds, "ledger", members=1)

    inventory = read_inventory(scope)

    assert [(r.kind, r.id) for r in inventory] == sorted((r.kind, r.id) for r in inventory)
    assert [r.id for r in inventory if r.kind == "autoscaling:group"] == ["a-asg", "b-asg"]
    assert hooks.by_operation() == {
        "ec2:DescribeInstances": 1,
        "autoscaling:DescribeAutoScalingGroups": 1,
        "rds:DescribeDBInstances": 1,
        "rds:DescribeDBClusters": 1,
    }
    (describe,) = hooks.params("DescribeInstances")
    assert describe["MaxResults"] == 1000
    assert describe["Filters"] == [
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    ]
    assert hooks.params("DescribeAutoScalingGroups")[0]["MaxRecords"] == 100
    assert hooks.params("DescribeDBInstances")[0]["MaxRecords"] == 100
    assert hooks.params("DescribeDBClusters")[0]["MaxRecords"] == 100
