"""The run's compliance figures, from every target's report (``TargetResult.report``, as the plan made it): pure.

- ``noncompliant``: every non-compliant resource the targets listed, sorted by account, region, type and id; a
  target lists at most what fits its share of a batch's output (:func:`finops.rules.tag_compliance.plan`), and
  ``noncompliant_not_listed`` counts the rest. The counts below always include every resource.
- ``kpis``: ``resources`` {total, compliant, percent} for the whole run, and the same ``by_account`` (with its
  name), ``by_team`` (the resource's owner tag, else its account's team; ``""`` for neither) and ``by_type``;
  ``targets`` {total, evaluated, not_evaluated}: a target that failed (role not assumable, a read refused) is in no
  figure, so a percent is of what was read. ``percent`` is None where nothing was counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finops.engine.model import TargetResult

__all__ = ["compliance_kpis", "counts", "run_findings"]


def counts(total: int, compliant: int) -> dict[str, Any]:
    return {
        "total": total,
        "compliant": compliant,
        "percent": round(100 * compliant / total, 1) if total else None,
    }


def _add(into: dict[str, list[int]], key: str, total: int, compliant: int) -> None:
    figures = into.setdefault(key, [0, 0])
    figures[0] += total
    figures[1] += compliant


def compliance_kpis(results: Sequence[TargetResult]) -> dict[str, Any]:
    everything = [0, 0]
    by_account: dict[str, list[int]] = {}
    by_team: dict[str, list[int]] = {}
    by_type: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    evaluated = 0
    for result in results:
        evaluated_here: Mapping[str, Any] | None = result.report.get("evaluated")
        if not isinstance(evaluated_here, Mapping):  # the target was not read
            continue
        evaluated += 1
        account = result.target.account
        if result.target.name:
            names[account] = result.target.name
        by_account.setdefault(account, [0, 0])
        for kind, teams in evaluated_here.items():
            for team, (total, compliant) in dict(teams).items():
                everything[0] += int(total)
                everything[1] += int(compliant)
                _add(by_account, account, int(total), int(compliant))
                _add(by_team, str(team), int(total), int(compliant))
                _add(by_type, str(kind), int(total), int(compliant))
    return {
        "resources": counts(*everything),
        "by_account": {
            account: {**({"name": names[account]} if account in names else {}), **counts(*figures)}
            for account, figures in sorted(by_account.items())
        },
        "by_team": {team: counts(*figures) for team, figures in sorted(by_team.items())},
        "by_type": {kind: counts(*figures) for kind, figures in sorted(by_type.items())},
        "targets": {"total": len(results), "evaluated": evaluated, "not_evaluated": len(results) - evaluated},
    }


def run_findings(results: Sequence[TargetResult]) -> tuple[list[dict[str, Any]], int]:
    """Every listed finding of every target, sorted; and how many the targets counted but did not list."""
    findings: list[dict[str, Any]] = []
    unlisted = 0
    for result in results:
        findings += [dict(f) for f in result.report.get("noncompliant", ())]
        unlisted += int(result.report.get("noncompliant_not_listed", 0))
    findings.sort(key=lambda f: (f["account"], f["region"], f["type"], f["id"]))
    return findings, unlisted
