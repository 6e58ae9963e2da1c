"""What `make invoke` prints as ``estate``: what the run changed, in the dump's own shape (or the whole estate)."""

from __future__ import annotations

import copy
from typing import Any

from tools.sim.estate import changes, estate_report, simulated_aws
from tools.sim.model import parse_estate

ACCOUNT = {
    "id": "333333333333",
    "name": "payments-prod",
    "email": "aws-payments@acme.example",
    "ou": "Workloads/Prod",
    "tags": {"team": "payments"},
    "member_role": True,
}


def dumped(**resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "management": {"id": "111111111111", "name": "m", "email": "m@acme.example"},
        "regions": ["eu-west-1"],
        "ous": ["Workloads/Prod"],
        "accounts": [{**ACCOUNT, "regions": {"eu-west-1": resources}}],
    }


API = {"id": "i-1", "name": "api", "state": "running", "tags": {"schedule": "office-hours"}}
BATCH = {"id": "i-2", "name": "batch", "state": "running", "tags": {}}
EXPORT = {"id": "vol-1", "name": "old-export", "state": "available"}


def test_nothing_changed_is_a_few_lines():
    before = dumped(instances=[API, BATCH], volumes=[EXPORT])

    assert changes(before, copy.deepcopy(before)) == {
        "shows": "changes",
        "accounts": [],
        "created": [],
        "deleted": [],
        "unchanged": 3,
    }


def test_a_changed_state_and_tags_a_created_and_a_deleted_resource_are_shown_whole():
    before = dumped(instances=[API, BATCH], volumes=[EXPORT])
    stopped = {**API, "state": "stopped", "tags": {"schedule": "office-hours", "finops:stopped-by": "scheduler"}}
    snapshot = {"id": "snap-1", "name": "snap-1", "volume": "old-export"}
    after = dumped(instances=[stopped, BATCH], snapshots=[snapshot])

    shown = changes(before, after)

    assert shown["accounts"] == [
        {**ACCOUNT, "regions": {"eu-west-1": {"instances": [stopped], "snapshots": [snapshot]}}}
    ]
    assert shown["created"] == [
        {"account": "333333333333", "region": "eu-west-1", "kind": "snapshots", "id": "snap-1", "name": "snap-1"}
    ]
    assert shown["deleted"] == [
        {"account": "333333333333", "region": "eu-west-1", "kind": "volumes", "id": "vol-1", "name": "old-export"}
    ]
    assert shown["unchanged"] == 1  # batch


def test_an_account_whose_own_tags_changed_is_shown_without_resources():
    before = dumped(instances=[API])
    after = copy.deepcopy(before)
    after["accounts"][0]["tags"] = {"team": "data"}

    assert changes(before, after)["accounts"] == [{**ACCOUNT, "tags": {"team": "data"}, "regions": {}}]


def test_the_report_reads_moto_before_and_after(small_estate):
    # Given the small estate in moto, and the report taken before anything happens
    with simulated_aws(parse_estate(small_estate, source="test")) as sim:
        report = estate_report(sim, "changes")
        full = estate_report(sim, "full")
        # When the run stops the instance and deletes the unattached volume
        ec2 = sim.session("333333333333").client("ec2", region_name="eu-west-1")
        ec2.stop_instances(InstanceIds=[sim.id_of("333333333333", "eu-west-1", "instance", "api")])
        export = sim.id_of("333333333333", "eu-west-1", "volume", "old-export")
        ec2.delete_volume(VolumeId=export)
        shown, whole = report(), full()

    # Then `estate` holds the stopped instance, whole, and names the deleted volume; the attached one is left out
    regions = shown["accounts"][0]["regions"]
    assert [(i["name"], i["state"]) for i in regions["eu-west-1"]["instances"]] == [("api", "stopped")]
    assert "volumes" not in regions["eu-west-1"]
    assert [(d["kind"], d["id"], d["name"]) for d in shown["deleted"]] == [("volumes", export, "old-export")]
    assert shown["unchanged"] == 1
    # And the full form is the dump, as before
    assert {v["name"] for v in whole["accounts"][0]["regions"]["eu-west-1"]["volumes"]} == {"api-data"}
