"""The tag compliance KPIs as CloudWatch metrics (Powertools EMF), per team and per resource type only.

Each distinct metric (name x dimension values) costs about $0.30 a month, so the dimensions are few and bounded:
``team`` (the taxonomy's teams, at most :data:`MAX_TEAMS`; the rest share ``other``) and ``type`` (the five resource
types the capability evaluates), and the Organization's figures with no dimension. Never an account or a resource:
those figures live in the run summary and the digest. With three teams that is 2 x 3 + 2 x 5 + 3 = 19 metrics,
about $5.70 a month.

The metrics carry no ``service`` dimension (Powertools adds the function's name by default): a dashboard or alarm
on ``TagCompliancePercent`` for ``team=payments`` keeps working whichever function emits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

__all__ = [
    "COMPLIANCE_PERCENT",
    "MAX_TEAMS",
    "NAMESPACE",
    "NONCOMPLIANT",
    "NO_TEAM",
    "OTHER_TEAMS",
    "SPEND_PERCENT",
    "emit_kpi_metrics",
]

NAMESPACE = "FinOps"  # stacks.constructs.lambda_function.METRICS_NAMESPACE (a test keeps them equal)
COMPLIANCE_PERCENT = "TagCompliancePercent"
NONCOMPLIANT = "NonCompliantResources"
SPEND_PERCENT = "SpendAttributablePercent"
MAX_TEAMS = 50  # team dimension values; the smallest teams beyond it share OTHER_TEAMS
NO_TEAM = "none"  # the resources without an owning team (a dimension value cannot be empty)
OTHER_TEAMS = "other"


def emit_kpi_metrics(kpis: Mapping[str, Any]) -> int:
    """Print the KPIs' EMF documents to stdout (CloudWatch Logs turns them into metrics); returns how many metric
    values were emitted (0 when ``POWERTOOLS_METRICS_DISABLED`` says so). A figure without resources (or a spend KPI
    that failed) is left out, never sent as 0."""
    if is_metrics_disabled():
        return 0
    emitted = 0
    blobs: list[tuple[dict[str, str], Mapping[str, Any]]] = [({}, kpis.get("resources") or {})]
    blobs += [({"team": team}, counts) for team, counts in _teams(kpis.get("by_team") or {}).items()]
    blobs += [({"type": str(kind)}, counts) for kind, counts in sorted((kpis.get("by_type") or {}).items())]
    for dimensions, counts in blobs:
        values = _values(counts)
        if values:
            emitted += _emit(dimensions, values)
    spend = kpis.get("spend") or {}
    percent = spend.get("percent_attributable") if "error" not in spend else None
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        emitted += _emit({}, {SPEND_PERCENT: (MetricUnit.Percent, float(percent))})
    return emitted


def _values(counts: Mapping[str, Any]) -> dict[str, tuple[MetricUnit, float]]:
    total, compliant = _count(counts.get("total")), _count(counts.get("compliant"))
    if total is None or compliant is None or total == 0:
        return {}
    percent = counts.get("percent")
    if not isinstance(percent, int | float) or isinstance(percent, bool):
        percent = compliant / total * 100
    return {
        COMPLIANCE_PERCENT: (MetricUnit.Percent, round(float(percent), 1)),
        NONCOMPLIANT: (MetricUnit.Count, float(total - compliant)),
    }


def _teams(by_team: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``by_team`` with the empty team as :data:`NO_TEAM`, and beyond :data:`MAX_TEAMS` the smallest summed into
    :data:`OTHER_TEAMS` (a tag value typed many ways must not mint a metric each)."""
    named: dict[str, dict[str, int]] = {}
    for team, counts in by_team.items():
        total, compliant = _count(counts.get("total")), _count(counts.get("compliant"))
        if total is None or compliant is None:
            continue
        name = str(team).strip() or NO_TEAM
        into = named.setdefault(name, {"total": 0, "compliant": 0})
        into["total"] += total
        into["compliant"] += compliant
    ranked = sorted(named.items(), key=lambda kv: (-kv[1]["total"], kv[0]))
    kept: dict[str, Mapping[str, Any]] = dict(ranked[: MAX_TEAMS - 1] if len(ranked) > MAX_TEAMS else ranked)
    rest = ranked[MAX_TEAMS - 1 :] if len(ranked) > MAX_TEAMS else []
    if rest:
        kept[OTHER_TEAMS] = {
            "total": sum(c["total"] for _, c in rest),
            "compliant": sum(c["compliant"] for _, c in rest),
        }
    return dict(sorted(kept.items()))


def _emit(dimensions: Mapping[str, str], values: Mapping[str, tuple[MetricUnit, float]]) -> int:
    metrics = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="")  # "": no service dimension
    for dimension, dimension_value in dimensions.items():
        metrics.add_dimension(name=dimension, value=dimension_value)
    for name, (unit, value) in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()
    return len(values)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)
