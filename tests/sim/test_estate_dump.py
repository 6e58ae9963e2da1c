"""dump: the estate read back through describe calls, in the estate file's own schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tools.sim.estate import dump, simulated_aws
from tools.sim.model import default_estate, load_estate, parse_estate


def test_default_estate_round_trips_through_dump_and_seed(tmp_path: Path) -> None:
    # Given the default estate, seeded and dumped
    with simulated_aws() as sim:
        first = dump(sim)
        ledger_id = sim.id_of("333333333333", "eu-west-1", "volume", "payments-ledger-export")

    # Then the dump describes the same estate (names, tags, states, links, timestamps), plus moto's ids
    assert parse_estate(first, source="dump").comparable() == default_estate().comparable()
    prod = next(a for a in first["accounts"] if a["id"] == "333333333333")
    volumes = {v["name"]: v for v in prod["regions"]["eu-west-1"]["volumes"]}
    assert volumes["payments-ledger-export"]["id"] == ledger_id
    assert volumes["payments-ledger-export"]["created_at"] == "2025-09-14T11:20:00Z"
    # including the scheduler's fleet: hibernation, the simulated faults, the Aurora cluster and the read replica
    accounts = {a["name"]: a for a in first["accounts"]}
    staging = accounts["payments-staging"]["regions"]["eu-west-1"]
    instances = {i["name"]: i for i in staging["instances"]}
    assert instances["payments-cache-staging"]["hibernation"] is True
    assert instances["payments-recon-staging"]["start_error"] == "InsufficientInstanceCapacity"
    assert instances["payments-web-staging"] | {"id": None} == {
        "id": None,
        "name": "payments-web-staging",
        "instance_type": "m6i.large",
        "state": "running",
        "hibernation": False,
        "tags": {"team": "payments", "environment": "staging", "cost-center": "CC-0042", "schedule": "office-hours"},
        "launched_at": "2026-10-20T08:00:00Z",
        "start_error": None,
    }
    assert accounts["sandbox-legacy"]["member_role"] is False
    assert accounts["payments-staging"]["member_role"] is True
    assert [c["identifier"] for c in staging["db_clusters"]] == ["payments-orders-staging"]
    databases = {d["identifier"]: d for d in accounts["data-dev"]["regions"]["eu-west-1"]["db_instances"]}
    assert databases["analytics-dev-replica"]["replica_of"] == "analytics-dev"

    # When the dump is written as a file, loaded and seeded again
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(first)), sort_keys=False), encoding="utf-8")
    with simulated_aws(load_estate(path)) as again:
        second = dump(again)

    # Then nothing but the ids changed
    assert parse_estate(second, source="again").comparable() == parse_estate(first, source="first").comparable()
    assert second != first


def _resources(data: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    region = data["accounts"][0]["regions"]["eu-west-1"]
    return {r["name"]: r for r in region.get(kind, [])}


def test_dump_shows_what_happened_since_seeding(small_estate: dict[str, Any]) -> None:
    with simulated_aws(parse_estate(small_estate, source="small")) as sim:
        # When someone stops the instance, deletes the old volume and creates an unnamed one
        ec2 = sim.session("333333333333", "eu-west-1").client("ec2")
        ec2.stop_instances(InstanceIds=[sim.id_of("333333333333", "eu-west-1", "instance", "api")])
        ec2.delete_volume(VolumeId=sim.id_of("333333333333", "eu-west-1", "volume", "old-export"))
        unnamed = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=5)["VolumeId"]
        after = dump(sim)

    # Then the dump says so, naming the unnamed volume by its id
    assert _resources(after, "instances")["api"]["state"] == "stopped"
    assert set(_resources(after, "volumes")) == {"api-data", unnamed}
    assert _resources(after, "volumes")["api-data"]["attached_to"] == "api"


def test_image_of_an_instance_is_dumped_by_its_instance_until_the_instance_goes(small_estate: dict[str, Any]) -> None:
    small_estate["accounts"][0]["regions"]["eu-west-1"]["images"] = [
        {"name": "api-image", "instance": "api", "created_at": "2026-10-01T00:00:00Z"}
    ]
    with simulated_aws(parse_estate(small_estate, source="small")) as sim:
        before = dump(sim)
        ec2 = sim.session("333333333333", "eu-west-1").client("ec2")
        ec2.terminate_instances(InstanceIds=[sim.id_of("333333333333", "eu-west-1", "instance", "api")])
        after = dump(sim)

    # While the instance exists, the image names it and the snapshot CreateImage made is implied
    assert _resources(before, "images")["api-image"]["instance"] == "api"
    assert _resources(before, "snapshots") == {}
    # Once it is gone, the image is dumped as registered from that snapshot, which is now listed by its id
    [snapshot_id] = _resources(after, "snapshots")
    assert _resources(after, "images")["api-image"] | {"id": None} == {
        "id": None,
        "name": "api-image",
        "instance": None,
        "snapshot": snapshot_id,
        "disabled": False,
        "deprecated_at": None,
        "deregistered": False,
        "tags": {},
        "created_at": "2026-10-01T00:00:00Z",
    }
    assert "api" not in _resources(after, "instances")


def test_dump_leaves_out_empty_lists_and_regions(small_estate: dict[str, Any]) -> None:
    small_estate["regions"] = ["eu-west-1", "us-east-1"]

    with simulated_aws(parse_estate(small_estate, source="small")) as sim:
        data = dump(sim)

    assert list(data["accounts"][0]["regions"]) == ["eu-west-1"]
    assert set(data["accounts"][0]["regions"]["eu-west-1"]) == {"instances", "volumes"}
    assert data["ous"] == ["Workloads/Prod"]


def test_a_group_the_scheduler_scaled_to_zero_round_trips_with_its_remembered_sizes(
    small_estate: dict[str, Any],
) -> None:
    small_estate["accounts"][0]["regions"]["eu-west-1"]["auto_scaling_groups"] = [
        {
            "name": "checkout",
            "min_size": 1,
            "max_size": 4,
            "desired_capacity": 2,
            "tags": {"schedule": "office-hours"},
            "created_at": "2026-09-01T09:00:00Z",
        }
    ]
    with simulated_aws(parse_estate(small_estate, source="small")) as sim:
        # When the scheduler remembers the sizes in a tag and scales the group to zero
        autoscaling = sim.session("333333333333", "eu-west-1").client("autoscaling")
        autoscaling.create_or_update_tags(
            Tags=[
                {
                    "ResourceId": "checkout",
                    "ResourceType": "auto-scaling-group",
                    "Key": "finops:scheduler-sizes",
                    "Value": "min=1,desired=2,max=4",
                    "PropagateAtLaunch": False,
                }
            ]
        )
        autoscaling.update_auto_scaling_group(AutoScalingGroupName="checkout", MinSize=0, MaxSize=0, DesiredCapacity=0)
        after = dump(sim)

    # Then the dump has the zero sizes and the tag, and seeds the same group again
    [group] = after["accounts"][0]["regions"]["eu-west-1"]["auto_scaling_groups"]
    assert (group["min_size"], group["desired_capacity"], group["max_size"]) == (0, 0, 0)
    assert group["tags"] == {"schedule": "office-hours", "finops:scheduler-sizes": "min=1,desired=2,max=4"}
    with simulated_aws(parse_estate(after, source="after")) as again:
        assert parse_estate(dump(again), source="again").comparable() == parse_estate(after, source="a").comparable()
