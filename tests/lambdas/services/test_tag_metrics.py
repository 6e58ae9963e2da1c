"""The KPIs as CloudWatch metrics: the EMF documents printed to stdout, as CloudWatch Logs reads them.

What a dashboard and the bill depend on: the dimensions (team, type, none; never an account or a resource, never
the emitting function), the values, and that a figure without resources is not sent as 0.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from finops.services.tag_metrics import (
    COMPLIANCE_PERCENT,
    MAX_TEAMS,
    NAMESPACE,
    NONCOMPLIANT,
    SPEND_PERCENT,
    emit_kpi_metrics,
)
from stacks.constructs.lambda_function import METRICS_NAMESPACE

KPIS: dict[str, Any] = {
    "resources": {"total": 40, "compliant": 30, "percent": 75.0},
    "by_account": {
        "333333333333": {"total": 25, "compliant": 20, "percent": 80.0},
        "444444444444": {"total": 15, "compliant": 10, "percent": 66.7},
    },
    "by_team": {
        "payments": {"total": 20, "compliant": 18, "percent": 90.0},
        "data": {"total": 15, "compliant": 10, "percent": 66.7},
        "": {"total": 5, "compliant": 2, "percent": 40.0},
    },
    "by_type": {
        "ec2:instance": {"total": 30, "compliant": 24, "percent": 80.0},
        "rds:db": {"total": 10, "compliant": 6, "percent": 60.0},
        "ec2:snapshot": {"total": 0, "compliant": 0, "percent": None},
    },
    "spend": {"percent_attributable": 64.7, "total_usd": 3000.0},
}


def documents(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def metrics_of(out: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(metric name, its dimensions) -> value, from every EMF document printed."""
    found = {}
    for doc in documents(out):
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        (dimension_set,) = directive["Dimensions"] or [[]]
        dimensions = tuple((name, doc[name]) for name in dimension_set)
        for metric in directive["Metrics"]:
            (value,) = doc[metric["Name"]]  # Powertools writes each value as a one-element list
            found[(metric["Name"], dimensions)] = value
    return found


@pytest.fixture(autouse=True)
def as_in_the_aggregate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function factory sets these on every function; the KPI metrics must not carry the service."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "engine_aggregate")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FinOps")
    for key in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV"):
        monkeypatch.delenv(key, raising=False)


def test_compliance_per_team_and_type_and_the_spend_share_without_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    emitted = emit_kpi_metrics(KPIS)

    metrics = metrics_of(capsys.readouterr().out)
    assert metrics == {
        (COMPLIANCE_PERCENT, ()): 75.0,
        (NONCOMPLIANT, ()): 10.0,
        (COMPLIANCE_PERCENT, (("team", "data"),)): 66.7,
        (NONCOMPLIANT, (("team", "data"),)): 5.0,
        (COMPLIANCE_PERCENT, (("team", "none"),)): 40.0,  # the resources without a team
        (NONCOMPLIANT, (("team", "none"),)): 3.0,
        (COMPLIANCE_PERCENT, (("team", "payments"),)): 90.0,
        (NONCOMPLIANT, (("team", "payments"),)): 2.0,
        (COMPLIANCE_PERCENT, (("type", "ec2:instance"),)): 80.0,
        (NONCOMPLIANT, (("type", "ec2:instance"),)): 6.0,
        (COMPLIANCE_PERCENT, (("type", "rds:db"),)): 60.0,
        (NONCOMPLIANT, (("type", "rds:db"),)): 4.0,
        (SPEND_PERCENT, ()): 64.7,
    }
    assert emitted == len(metrics) == 13


def test_no_metric_names_an_account_a_resource_or_the_emitting_function(capsys: pytest.CaptureFixture[str]) -> None:
    emit_kpi_metrics(KPIS)

    docs = documents(capsys.readouterr().out)
    dimension_names = {name for doc in docs for d in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for name in d}
    assert dimension_names == {"team", "type"}
    assert not any("333333333333" in json.dumps(doc) for doc in docs)
    assert not any("service" in doc for doc in docs)


def test_a_failed_spend_kpi_and_a_type_without_resources_send_nothing_rather_than_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kpis = {**KPIS, "spend": {"error": "AccessDenied: not authorized", "notes": []}}

    emit_kpi_metrics(kpis)

    metrics = metrics_of(capsys.readouterr().out)
    assert not any(name == SPEND_PERCENT for name, _ in metrics)
    assert not any(dims == (("type", "ec2:snapshot"),) for _, dims in metrics)


def test_team_values_beyond_the_cap_share_one_dimension_value(capsys: pytest.CaptureFixture[str]) -> None:
    """A team tag typed a hundred ways must not mint a hundred metrics at $0.30 a month each."""
    by_team = {f"team-{i:03}": {"total": 100 - i, "compliant": 0} for i in range(MAX_TEAMS + 10)}

    emit_kpi_metrics({"by_team": by_team})

    teams = {dict(dims)["team"] for _, dims in metrics_of(capsys.readouterr().out)}
    assert len(teams) == MAX_TEAMS
    assert "other" in teams
    assert "team-000" in teams  # the largest keep their own
    assert f"team-{MAX_TEAMS + 9:03}" not in teams


def test_nothing_is_counted_when_metrics_are_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    assert emit_kpi_metrics(KPIS) == 0
    assert documents(capsys.readouterr().out) == []


def test_the_namespace_is_the_one_every_function_gets() -> None:
    assert NAMESPACE == METRICS_NAMESPACE
