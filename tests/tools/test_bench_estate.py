"""The bench's estate and its judging: the truth must be right, or every false positive and miss reported is wrong."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from finops.rules.cleanup_tags import AFTER_TAG
from tools.bench.compare import deleted, judge, marked, reported, stopped
from tools.bench.estate import MIX, advance, counts, seed_target, state
from tools.bench.tables import composition, real_pages, write_tables

ACCOUNT, REGION = "123456789012", "eu-west-1"  # moto's account for the default credentials


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@given(st.integers(min_value=0, max_value=100_000))
def test_each_kind_gets_its_share_and_the_groups_add_up_to_it(size: int) -> None:
    for share, groups in MIX.values():
        made = counts(size, share, groups)
        assert sum(made) == round(size * share)
        assert all(n >= 0 for n in made)


def test_the_truth_is_what_the_api_shows(ec2: Any) -> None:
    now = datetime.now(UTC)
    truth = seed_target(ACCOUNT, REGION, 1000, now=now)

    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    snapshots = {s["SnapshotId"]: s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert set(volumes) == {*truth.act["volume"], *truth.keep["volume"]}
    assert set(snapshots) == {*truth.act["snapshot"], *truth.keep["snapshot"]}
    assert len(instances) == len(truth.act["instance"]) + len(truth.keep["instance"]) == 100
    assert composition(1000) == {"instance": 100, "volume": len(volumes), "snapshot": len(snapshots)}

    # what must go is old, unattached and unguarded; what stays says why
    for volume_id in truth.act["volume"]:
        volume = volumes[volume_id]
        tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
        assert volume["State"] == "available"
        assert now - volume["CreateTime"] > timedelta(days=100)
        assert tags["environment"] == "dev"
        assert "finops:protect" not in tags
    reasons = Counter(truth.keep["snapshot"].values())
    assert reasons["backs an AMI"] == len(ec2.describe_images(Owners=["self"])["Images"]) == 45
    shared = next(s for s, why in truth.keep["snapshot"].items() if why == "shared with another account")
    permissions = ec2.describe_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission")
    assert permissions["CreateVolumePermissions"] == [{"UserId": "210987654321"}]
    attached = [v for v, why in truth.keep["volume"].items() if why == "attached"]
    assert all(volumes[v]["Attachments"] for v in attached)
    assert len(attached) == 100


def test_the_judges_count_misses_and_wrong_actions() -> None:
    assert judge(["a", "b"], ["c"], {"a", "c"}).to_json() == {
        "should": 2,
        "acted": 2,
        "misses": 1,
        "false_positives": 1,
    }
    truth = {
        "act": {"volume": ["v1"], "snapshot": ["s1"], "instance": ["i1"]},
        "keep": {"volume": {"v2": "prod"}, "snapshot": {"s2": "young"}, "instance": {"i2": "prod"}},
        "noncompliant": ["i2"],
    }
    after = {
        "volume": ["v2"],
        "snapshot": ["s1"],
        "instance": {"i1": "stopped", "i2": "running"},
        "tags": {"v2": {AFTER_TAG: "2026-12-10T00:00:00Z"}},
    }
    assert deleted(truth, after).to_json() == {"should": 2, "acted": 2, "misses": 1, "false_positives": 1}
    assert marked(truth, after).to_json() == {"should": 2, "acted": 1, "misses": 2, "false_positives": 1}
    assert stopped(truth, after).to_json() == {"should": 1, "acted": 1, "misses": 0, "false_positives": 0}
    counted = reported(truth, {"i2"}, counted=3)  # one listed, three counted: two beyond the truth's one
    assert (counted.should, counted.acted, counted.false_positives) == (1, 3, 0)


def test_advancing_ages_resources_and_marks_alike(ec2: Any) -> None:
    truth = seed_target(ACCOUNT, REGION, 100)
    volume = truth.act["volume"][0]
    ec2.create_tags(Resources=[volume], Tags=[{"Key": AFTER_TAG, "Value": "2026-12-10T06:00:00Z"}])
    before = ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["CreateTime"]

    assert advance(ACCOUNT, REGION, 8) == 1

    after = ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]
    assert before - after["CreateTime"] == timedelta(days=8)
    assert {t["Key"]: t["Value"] for t in after["Tags"]}[AFTER_TAG] == "2026-12-02T06:00:00Z"
    assert state(ACCOUNT, REGION)["tags"][volume][AFTER_TAG] == "2026-12-02T06:00:00Z"


def test_real_pages_are_the_documented_page_sizes() -> None:
    held = composition(50_000)
    assert real_pages(50_000, ("volume", "snapshot")) == -(-held["volume"] // 500) + -(-held["snapshot"] // 1000)


def test_the_tables_render_a_report(tmp_path: Path) -> None:
    def row(tool: str, job: str, cpu: float, **extra: Any) -> dict[str, Any]:
        return {
            "job": job,
            "tool": tool,
            "resources": 1000,
            "latency_ms": 0.0,
            "returncode": 0,
            "cpu_seconds": cpu,
            "wall_seconds": 2.0,
            "max_rss_mib": 100.0,
            "server_cpu_seconds": 1.0,
            "calls": {"ec2:DescribeVolumes": 1},
            "throttled": {},
            "judgement": {"should": 1, "acted": 1, "misses": 0, "false_positives": 0},
            **extra,
        }

    report = {
        "date": "2026-12-03",
        "imports": [{"module": "finops.handlers.scheduler_worker", "median_ms": 47.4, "min_ms": 45.0, "max_ms": 50.1}],
        "per_target": [row("ours", "cleanup", 1.0), row("custodian", "cleanup", 2.0)],
        "side_by_side": [row("ours", "stop", 1.0), row("custodian", "stop", 4.0)],
        "two_runs": [row("ours", "cleanup, mark run", 1.0)],
        "organization": [row("ours", "stop", 3.0, accounts=10, targets=20, status="completed")],
    }
    write_tables(report, tmp_path / "results.md")
    text = (tmp_path / "results.md").read_text()
    assert "| cleanup | 1,000 | **ratio** | 1.00 |  | **0.50** |" in text
    assert "| stop | 0 | **ratio** | 1.00 |  | **0.25** |" in text
    assert "| finops.handlers.scheduler_worker | 47.4 | 45 | 50.1 |" in text
