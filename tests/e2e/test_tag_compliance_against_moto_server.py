"""`make run FN=tag_compliance` as a user runs it, against a moto server on 127.0.0.1: the scheduler test's Organization
(its own account ids from CreateAccount, the member role `AcmeFinOpsAccess` made through each account's
OrganizationAccountAccessRole, instances in two regions) plus one instance tagged as the taxonomy asks. moto cannot
backdate an instance, so the runs' clock (the event's time) is a month ahead instead, and the stop run 8 days later.

Report mode changes nothing (the tags are read back); enforce in the config with ENFORCE=yes marks the non-prod
non-compliant instances; the run after the grace period stops exactly those, and leaves the prod account's, the
protected, the prod-tagged and the compliant instance running.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_cleanup_against_moto_server import _env
from tests.e2e.test_run_against_moto_server import MANAGEMENT, REGIONS, ROLE, Estate, Instance, Run, estate, moto_server

pytestmark = pytest.mark.slow
__all__ = ["estate", "moto_server"]  # the fixtures, shared with the scheduler's test

ROOT = Path(__file__).parents[2]
MARK_TIME = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
STOP_TIME = MARK_TIME + timedelta(days=8)
MARK_TAG = "finops:tag-deadline"
COMPLIANT = {"team": "data", "environment": "dev", "cost-center": "CC-0107"}
# In the configured regions of the member accounts: non-prod and non-compliant (no team, no cost-center).
ENFORCED = {"sandbox-dev", "sandbox-always-on", "sandbox-untagged", "analytics-dev", "analytics-dev-frankfurt"}
NEVER = {"payments-prod-dev", "sandbox-protected", "sandbox-prod-tagged", "sandbox-compliant"}
UNSEEN = {"sandbox-us-east-1", "management-dev"}  # a region not configured; the management account


@pytest.fixture(scope="module")
def tagged(estate: Estate) -> Estate:
    """The Organization with one more instance in the sandbox: tagged as the taxonomy asks."""
    sandbox = estate.accounts["sandbox"]
    ec2 = estate.api.client("ec2", sandbox, "eu-west-1")
    [launched] = ec2.run_instances(
        ImageId="ami-12345678",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in {"Name": "sandbox-compliant", **COMPLIANT}.items()],
            }
        ],
    )["Instances"]
    instances = {
        **estate.instances,
        "sandbox-compliant": Instance("sandbox-compliant", sandbox, "eu-west-1", launched["InstanceId"]),
    }
    return Estate(estate.api, estate.accounts, instances)


@pytest.fixture(scope="module")
def files(tagged: Estate, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("tag-compliance")
    config = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(
        management_account_id=MANAGEMENT,
        automation_account_id=tagged.accounts["sandbox"],
        member_role_name=ROLE,
        regions=list(REGIONS),
    )
    known = set(tagged.accounts.values())  # the shipped ids belong to the simulated Organization, not this one
    notifications = config["notifications"]
    notifications["account_teams"] = {k: v for k, v in notifications.get("account_teams", {}).items() if k in known}
    assert config["capabilities"]["tag_enforcement"]["mode"] == "report"  # as shipped
    paths = {"report": work / "report.yaml", "enforce": work / "enforce.yaml"}
    paths["report"].write_text(yaml.safe_dump(config))
    config["capabilities"]["tag_enforcement"]["mode"] = "enforce"
    paths["enforce"].write_text(yaml.safe_dump(config))
    for name, when in (("mark", MARK_TIME), ("stop", STOP_TIME)):
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps({"capability": "tag_compliance", "time": when.isoformat(), "digest": True}))
    return paths


def marks(estate: Estate) -> dict[str, str | None]:
    """Every seeded instance's mark, read back through DescribeInstances."""
    found: dict[str, str | None] = {}
    for account, region in {(i.account, i.region) for i in estate.instances.values()}:
        for reservation in estate.api.client("ec2", account, region).describe_instances()["Reservations"]:
            for described in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
                found[tags["Name"]] = tags.get(MARK_TAG)
    return found


def run(estate: Estate, tmp_path: Path, event: Path, config: Path, *, enforce: bool = False) -> Run:
    """`make run FN=tag_compliance ...` with only credentials and the endpoint in its environment; one attempt per
    call: moto answers 500 for the Cost Explorer call it lacks (ListCostAllocationTags), not worth eight retries."""
    args = ["run", "FN=tag_compliance", f"EVENT={event}", f"CONFIG={config}", *(["ENFORCE=yes"] if enforce else [])]
    env = {**_env(estate, tmp_path), "AWS_MAX_ATTEMPTS": "1"}
    done = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(done.returncode, done.stdout, done.stderr)


def names(estate: Estate, findings: list[dict[str, Any]]) -> set[str]:
    by_id = {(i.account, i.region, i.id): i.name for i in estate.instances.values()}
    return {by_id[f["account"], f["region"], f["id"]] for f in findings if f["type"] == "ec2:instance"}


def test_report_changes_nothing_enforce_marks_and_after_the_grace_period_stops_only_the_non_prod_non_compliant(
    tagged: Estate, files: dict[str, Path], tmp_path: Path
) -> None:
    estate = tagged
    estate.given()
    unmarked = dict.fromkeys(estate.instances)

    report = run(estate, tmp_path, files["mark"], files["report"])

    document = report.document
    assert document["result"]["mode"] == "report"
    assert document["noncompliant"] == document["result"]["noncompliant"]
    assert names(estate, document["noncompliant"]) == ENFORCED | NEVER - {"sandbox-compliant"}
    exempt = {
        names(estate, [f]).pop(): f["exempt"]
        for f in document["noncompliant"]
        if f.get("exempt") and f["type"] == "ec2:instance"
    }
    assert exempt == {
        "payments-prod-dev": "prod account (account tag environment=prod)",
        "sandbox-protected": "protected (finops:protect=true)",
        "sandbox-prod-tagged": "prod (environment=prod)",
    }
    assert document["kpis"]["by_account"].keys() == set(estate.accounts.values())
    assert document["kpis"]["targets"] == {"total": 6, "evaluated": 6, "not_evaluated": 0}
    assert document["audit"] == []
    assert marks(estate) == unmarked

    marking = run(estate, tmp_path, files["mark"], files["enforce"], enforce=True)

    assert marking.document["result"]["status"] == "completed", marking.document["result"]["failed"]
    deadline = (MARK_TIME + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert marks(estate) == {**unmarked, **dict.fromkeys(ENFORCED, deadline)}
    assert estate.states() == dict.fromkeys(estate.instances, "running")

    stopping = run(estate, tmp_path, files["stop"], files["enforce"], enforce=True)

    result = stopping.document["result"]
    assert result["status"] == "completed", result["failed"]
    stopped = {a["resource"] for a in result["acted"] if a["action"] == "stop"}
    assert stopped == {estate.instances[name].id for name in ENFORCED}
    assert estate.states() == {**dict.fromkeys(estate.instances, "running"), **dict.fromkeys(ENFORCED, "stopped")}
    audit = {
        r["target"].rsplit("/", 1)[1]: r for r in stopping.document["audit"] if r["action"] == "tag_compliance:stop"
    }
    assert set(audit) == stopped
    assert all(r["after"]["verified"] for r in audit.values())
    assert not UNSEEN & names(estate, stopping.document["noncompliant"])
