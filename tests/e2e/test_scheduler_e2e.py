"""The scheduler end to end: whole Organization-wide runs through the engine on the simulated Organization.

Given the default estate (a believable non-prod fleet beside prod), When the Friday-evening and Monday-morning runs
happen, Then what a platform team checks: what stopped and started, what was never touched, what failed and says so.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finops.aws.clients import AccountScope, AwsClients
from finops.services.audit import read_trail
from finops.services.scheduler import MEMBER_PERMISSIONS
from tests.conftest import record_calls
from tools.demo_scheduler import at, enforcing
from tools.local_hub import LocalHub
from tools.sim.estate import simulated_aws

pytestmark = pytest.mark.slow

EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # Friday 19:00 in Berlin: office-hours stops
MORNING = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin: office-hours starts
STAGING, DEV, PROD = "444444444444", "555555555555", "333333333333"
MUTATING = ("Stop", "Start", "Create", "Delete", "Update", "Add", "Remove", "Modify", "Put", "Reboot", "Terminate")


@pytest.fixture
def estate():
    with simulated_aws() as sim:
        yield sim


@pytest.fixture
def scheduler_hub(estate, sink, config, tmp_path) -> LocalHub:
    hub = LocalHub(config, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
    return hub


@pytest.fixture
def member_calls(monkeypatch) -> Counter[str]:
    """Every API call made through an assumed member role, as service:Operation."""
    return record_calls(monkeypatch, AccountScope, Counter())


@pytest.fixture
def hub_calls(monkeypatch) -> Counter[str]:
    return record_calls(monkeypatch, AwsClients, Counter())


def instance(estate, account: str, name: str) -> dict[str, Any]:
    ec2 = estate.session(account).client("ec2", region_name="eu-west-1")
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"]
    return found[0]["Instances"][0]


def state(estate, account: str, name: str) -> str:
    return str(instance(estate, account, name)["State"]["Name"])


def group(estate, account: str, name: str) -> dict[str, Any]:
    autoscaling = estate.session(account).client("autoscaling", region_name="eu-west-1")
    return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def rds(estate, account: str):
    return estate.session(account).client("rds", region_name="eu-west-1")


def test_the_evening_stop_and_the_morning_start(estate, scheduler_hub, sink, config):
    enforce = enforcing(config)

    evening = scheduler_hub.run("scheduler", at(EVENING), config=enforce)

    # Stopped: staging and dev on office-hours, the group to zero, the Aurora cluster as a cluster.
    assert state(estate, STAGING, "payments-web-staging") == "stopped"
    assert state(estate, DEV, "jupyter-hub-dev") == "stopped"  # no schedule tag: environment=dev's default
    sizes = group(estate, STAGING, "payments-checkout-staging")
    assert (sizes["MinSize"], sizes["DesiredCapacity"], sizes["MaxSize"]) == (0, 0, 0)
    cluster = rds(estate, STAGING).describe_db_clusters(DBClusterIdentifier="payments-orders-staging")["DBClusters"][0]
    assert cluster["Status"] == "stopped"
    # Never touched: prod, opted out, overridden, protected, a replica and its source.
    assert state(estate, PROD, "payments-reporting") == "running"
    for name in ("payments-partner-demo", "payments-uat-staging", "payments-hsm-proxy-staging"):
        assert state(estate, STAGING, name) == "running", name
    databases = {
        d["DBInstanceIdentifier"]: d["DBInstanceStatus"]
        for d in rds(estate, DEV).describe_db_instances()["DBInstances"]
    }
    assert databases["analytics-dev"] == databases["analytics-dev-replica"] == "available"
    assert databases["feature-store-dev"] == "stopped"
    # The account without the member role is reported; every other target was done.
    assert evening["status"] == "completed with failures"
    assert {t["account"] for t in evening["failed_targets"]} == {"777777777777"}
    assert "AccessDenied" in evening["failed_targets"][0]["error"]
    assert evening["targets"]["done"] == evening["targets"]["total"] - 2
    # One digest per team channel, and the default channel names the unreachable account and the fix.
    channels = [p.channel for p in sink.posts]
    assert sorted(channels) == ["#data-oncall", "#finops-alerts", "#payments-oncall"]
    default = next(p for p in sink.posts if p.channel == "#finops-alerts")
    assert "sandbox-legacy (777777777777)" in json.dumps(default.payload)
    payments = json.dumps(next(p for p in sink.posts if p.channel == "#payments-oncall").payload)
    assert "payments-web-staging" in payments
    assert "Estimated saving" in payments

    morning = scheduler_hub.run("scheduler", at(MORNING), config=enforce)

    assert state(estate, STAGING, "payments-web-staging") == "running"
    sizes = group(estate, STAGING, "payments-checkout-staging")
    assert (sizes["MinSize"], sizes["DesiredCapacity"], sizes["MaxSize"]) == (1, 2, 4)  # exactly as before
    assert "finops:scheduler-sizes" not in {t["Key"] for t in sizes["Tags"]}
    cluster = rds(estate, STAGING).describe_db_clusters(DBClusterIdentifier="payments-orders-staging")["DBClusters"][0]
    assert cluster["Status"] == "available"
    # A start that fails is a failure, never a success, and the instance is still stopped.
    assert state(estate, STAGING, "payments-recon-staging") == "stopped"
    failed = [f for f in morning["failed"] if f["action"] == "start"]
    assert len(failed) == 1
    assert "InsufficientInstanceCapacity" in failed[0]["reason"]
    assert all("recon" not in a["resource"] for a in morning["acted"])
    payments_morning = json.dumps(
        sink.posts[-1].payload
        if sink.posts[-1].channel == "#payments-oncall"
        else next(p for p in reversed(sink.posts) if p.channel == "#payments-oncall").payload
    )
    assert "InsufficientInstanceCapacity" in payments_morning

    # Every mutation is in the audit trail with its before-state and the verified result.
    trail = [
        r for r in read_trail(scheduler_hub.dynamodb, scheduler_hub.audit_table) if r["action"].startswith("scheduler:")
    ]
    group_stop = next(
        r for r in trail if r["target"].endswith("/payments-checkout-staging") and r["action"] == "scheduler:stop"
    )
    assert (group_stop["before"]["min"], group_stop["before"]["desired"], group_stop["before"]["max"]) == (1, 2, 4)
    assert group_stop["after"]["verified"] is True
    recon = next(r for r in trail if "FAILED" in r["reason"])
    assert recon["after"]["verified"] is False
    assert "InsufficientInstanceCapacity" in recon["reason"]
    assert len(trail) == len(evening["acted"]) + len(morning["acted"]) + 1  # + the failed start


def test_report_mode_plans_what_enforce_does_and_mutates_nothing(estate, scheduler_hub, config, member_calls):
    since = {"since": (EVENING - timedelta(minutes=15)).isoformat()}  # both runs see the same transition
    report = scheduler_hub.run("scheduler", at(EVENING) | since)

    mutating = {c for c in member_calls if c.split(":")[1].startswith(MUTATING)}
    assert mutating == set()
    assert state(estate, STAGING, "payments-web-staging") == "running"

    enforce = scheduler_hub.run("scheduler", at(EVENING) | since, config=enforcing(config))

    def planned(document):
        return sorted(
            (r["target"]["account"], r["target"]["region"], json.dumps(r["planned"], sort_keys=True))
            for r in document["results"]
        )

    assert planned(report) == planned(enforce)
    assert report["counts"]["acted"] == len(enforce["acted"]) + len(
        [f for f in enforce["failed"] if f["action"] != "target"]
    )


def test_the_kill_switch_pauses_every_run_without_a_redeploy(estate, scheduler_hub, config, member_calls):
    scheduler_hub.run("scheduler", at(EVENING - timedelta(minutes=15)), config=enforcing(config))  # a quiet tick
    scheduler_hub.set_kill_switch("on")

    paused = scheduler_hub.run("scheduler", at(EVENING), config=enforcing(config))

    assert paused["status"] == "paused"
    assert paused["reason"] == "paused by kill switch (/finops/kill-switch = 'on')"
    assert not member_calls  # not even a read in any account
    assert state(estate, STAGING, "payments-web-staging") == "running"

    scheduler_hub.set_kill_switch("off")
    resumed = scheduler_hub.run("scheduler", at(EVENING + timedelta(minutes=15)), config=enforcing(config))
    assert resumed["status"].startswith("completed")  # the stop it held back is caught up by the next tick
    assert state(estate, STAGING, "payments-web-staging") == "stopped"


def test_a_quiet_tick_reads_no_account_and_a_missed_tick_is_caught_up(estate, scheduler_hub, config, member_calls):
    enforce = enforcing(config)
    quiet = scheduler_hub.run("scheduler", at(EVENING - timedelta(hours=1, minutes=45)), config=enforce)  # 16:15Z
    assert quiet["status"] == "nothing due"
    assert not member_calls

    # The 17:45 .. 18:15 ticks never ran; 18:30 acts on the 18:00 stop that happened since 16:15.
    caught_up = scheduler_hub.run("scheduler", at(EVENING + timedelta(minutes=30)), config=enforce)

    assert caught_up["kind"] == "tick"
    assert caught_up["since"] == (EVENING - timedelta(hours=1, minutes=45)).isoformat()
    assert state(estate, STAGING, "payments-web-staging") == "stopped"


def test_a_rerun_of_the_failed_targets_reaches_only_them(estate, scheduler_hub, config, member_calls):
    first = scheduler_hub.run("scheduler", at(EVENING))
    member_calls.clear()

    rerun = scheduler_hub.run("scheduler", {**at(EVENING), "targets": first["failed_targets"]})

    assert rerun["targets"]["total"] == 2
    assert {t["account"] for t in rerun["failed_targets"]} == {"777777777777"}
    assert not member_calls  # the role still cannot be assumed; nothing else was read


def test_the_worker_calls_exactly_what_the_member_role_grants(estate, scheduler_hub, config, member_calls, hub_calls):
    enforce = enforcing(config)
    scheduler_hub.run("scheduler", at(EVENING), config=enforce)
    scheduler_hub.run("scheduler", at(MORNING), config=enforce)

    # kms:CreateGrant is EC2's, on the caller's behalf, when it starts an instance with a customer-KMS volume.
    assert set(member_calls) == set(MEMBER_PERMISSIONS) - {"kms:CreateGrant"}
    hub_side = {c for c in hub_calls if c.split(":")[0] not in {"dynamodb", "sqs", "secretsmanager", "ssm", "sts"}}
    assert hub_side <= {"organizations:ListAccounts", "organizations:ListTagsForResource"}
