"""`make invoke FN=tag_compliance EVENT=tests/events/tag_compliance.json` on the simulated Organization, in-process:
the printed document lists every non-compliant resource and the KPIs (in the run result and at its top level), the
weekly digest goes to each team's channel, and report mode (as shipped) changes nothing."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.conftest import EVENTS
from tools.cli import EXIT_FAILED, main

pytestmark = pytest.mark.slow

PAYMENTS_PROD, PAYMENTS_STAGING, DATA_DEV, SANDBOX = "333333333333", "444444444444", "555555555555", "666666666666"


def by_name(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in findings if f.get("name")}


def test_make_invoke_lists_every_non_compliant_resource_and_the_kpis_and_changes_nothing() -> None:
    out = io.StringIO()
    code = main(["invoke", "--function", "tag_compliance", "--event", str(EVENTS / "tag_compliance.json")], stdout=out)
    document = json.loads(out.getvalue())

    result = document["result"]
    # sandbox-legacy never got the member role (simulated): its two targets fail, every other one is evaluated
    assert code == EXIT_FAILED
    assert {(t["account"], t["region"]) for t in result["failed_targets"]} == {
        ("777777777777", "eu-west-1"),
        ("777777777777", "us-east-1"),
    }
    assert (result["mode"], result["kind"]) == ("report", "weekly")
    assert document["noncompliant"] == result["noncompliant"]
    assert document["kpis"] == result["kpis"]

    found = by_name(document["noncompliant"])
    # the estate's deliberate mistakes, each with what is wrong
    assert found["spark-driver"]["invalid"] == {"environment": "development"}
    assert found["spark-driver"]["problems"] == {"environment": "value not allowed: use one of prod, staging, dev"}
    assert found["etl-scratch"]["invalid"] == {"team": "Data"}
    assert found["data-catalog-dev"] == {
        **found["data-catalog-dev"],
        "type": "rds:db",
        "invalid": {"environment": "Dev"},
        "arn": f"arn:aws:rds:eu-west-1:{DATA_DEV}:db:data-catalog-dev",
    }
    assert found["payments-load-test"]["missing"] == ["team", "environment", "cost-center"]
    assert found["payments-worker"]["invalid"] == {"team": "Payments", "cost-center": "CC-42"}
    # prod is reported, never enforced
    assert found["payments-worker"]["exempt"] == "prod account (account tag environment=prod)"
    assert "deadline" not in found["payments-worker"]
    assert found["payments-load-test"]["deadline"] == "2026-12-07T05:00:00Z"  # would be marked: 7 days' grace
    # compliant resources are not listed
    assert not {"payments-api-staging", "notebook-alice", "payments-ledger"} & set(found)
    assert document["noncompliant"] == sorted(
        document["noncompliant"], key=lambda f: (f["account"], f["region"], f["type"], f["id"])
    )

    kpis = document["kpis"]
    resources = kpis["resources"]
    # every non-compliant resource listed, or counted where its target's share of the batch's output is spent
    # (64 KB of findings a batch of engine.targets_per_invocation targets: 6.4 KB a target as shipped)
    listed, unlisted = len(document["noncompliant"]), result.get("noncompliant_not_listed", 0)
    assert resources["total"] - resources["compliant"] == listed + unlisted
    assert unlisted <= 2
    assert resources["percent"] == round(100 * resources["compliant"] / resources["total"], 1)
    assert kpis["by_account"][SANDBOX]["percent"] == 0.0  # nothing there is tagged
    assert set(kpis["by_account"]) == {"222222222222", PAYMENTS_PROD, PAYMENTS_STAGING, DATA_DEV, SANDBOX}
    assert set(kpis["by_type"]) == {"ec2:instance", "ec2:volume", "ec2:snapshot", "rds:db", "rds:cluster"}
    assert sum(t["total"] for t in kpis["by_team"].values()) == resources["total"]
    assert kpis["targets"] == {"total": 12, "evaluated": 10, "not_evaluated": 2}
    assert "spend" in kpis

    # report mode: would mark, changed nothing
    assert {a["action"] for a in result["acted"]} == {"would mark"}
    assert document["audit"] == []
    estate = document["estate"]
    assert (estate["accounts"], estate["created"], estate["deleted"]) == ([], [], [])  # what the run changed: nothing
    channels = {m["channel"] for m in document["slack"]}
    assert {"#payments-oncall", "#data-oncall", "#finops-alerts"} <= channels  # the weekly digest
