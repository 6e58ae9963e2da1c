"""The bench's report as Markdown tables (``docs/benchmarks/results.md``), written by ``make bench``.

Ratios are ours over Custodian's for the same job, size and latency: below 1 is better for us. Real AWS pages are the
describe pages the EC2 API reference's page sizes need (moto answers every describe in one page, whatever
``MaxResults`` asks): DescribeVolumes 500, DescribeSnapshots, DescribeImages and DescribeInstances 1,000 a page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.bench.estate import MIX, counts

PAGE = {"volume": 500, "snapshot": 1000, "instance": 1000}


def composition(resources: int) -> dict[str, int]:
    """What a seeded target of ``resources`` holds, by kind (root volumes counted with the volumes)."""
    held = {kind: sum(counts(resources, share, groups)) for kind, (share, groups) in MIX.items()}
    held["volume"] += held["instance"]  # each instance's root volume
    return held


def real_pages(resources: int, kinds: Iterable[str]) -> int:
    held = composition(resources)
    return sum(math.ceil(held[k] / PAGE[k]) for k in kinds)


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".") or "0"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


def _calls(row: Mapping[str, Any]) -> int:
    return sum(row["calls"].values())


def _top(calls: Mapping[str, int], n: int = 6) -> str:
    ranked = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k.split(':', 1)[1]} {v:,}" for k, v in ranked[:n])
    return shown + (", ..." if len(ranked) > n else "")


def _judged(row: Mapping[str, Any]) -> str:
    j = row["judgement"]
    return f"{j['acted']:,}/{j['should']:,}, {j['misses']} missed, {j['false_positives']} wrong"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


DESCRIBES = {"cleanup": ("volume", "snapshot"), "stop": ("instance",), "tags": ("instance", "volume")}


def pairs(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """(ours, Custodian's on the same job, size and latency) for every row of ours."""
    theirs = {(r["job"], r["resources"], r["latency_ms"]): r for r in rows if r["tool"] == "custodian"}
    return [(r, theirs.get((r["job"], r["resources"], r["latency_ms"]))) for r in rows if r["tool"] == "ours"]


Row = Mapping[str, Any]


def compared(
    rows: Sequence[Row], cells: Callable[[Row, str, Row], list[Any]], ratio: Callable[[Row, Row], list[Any]]
) -> list[list[Any]]:
    """For each run of ours: its row, Custodian's on the same job, size and latency, then the ratio row."""
    out = []
    for ours, theirs in pairs(rows):
        out.append(cells(ours, "ours", ours))
        if theirs is not None:
            out += [cells(ours, "Custodian", theirs), ratio(ours, theirs)]
    return out


def growth(rows: Sequence[Row]) -> str:
    def cells(ours: Row, label: str, row: Row) -> list[Any]:
        size = ours["resources"]
        kinds = DESCRIBES.get(ours["job"].split("-")[0], ())
        return [
            ours["job"],
            f"{size:,}",
            label,
            f"{_calls(row):,}",
            f"{real_pages(size, kinds)} + the rest" if kinds else "",
            _n(row["cpu_seconds"]),
            _n(row["wall_seconds"]),
            _n(row["max_rss_mib"]),
            _n(row["server_cpu_seconds"]),
            _judged(row),
        ]

    def ratio(ours: Row, theirs: Row) -> list[Any]:
        return [
            ours["job"],
            f"{ours['resources']:,}",
            "**ratio**",
            _ratio(_calls(ours), _calls(theirs)),
            "",
            f"**{_ratio(ours['cpu_seconds'], theirs['cpu_seconds'])}**",
            _ratio(ours["wall_seconds"], theirs["wall_seconds"]),
            _ratio(ours["max_rss_mib"], theirs["max_rss_mib"]),
            "",
            "",
        ]

    header = [
        "Job",
        "Resources",
        "Tool",
        "Calls",
        "Real AWS describe pages",
        "Own CPU s",
        "Wall s",
        "Peak MiB",
        "Mock's CPU s",
        "Would act on (of should), missed, wrong",
    ]
    return table(header, compared(rows, cells, ratio))


def side_by_side(rows: Sequence[Row]) -> str:
    def cells(ours: Row, label: str, row: Row) -> list[Any]:
        throttled = sum(row.get("throttled", {}).values())
        return [
            ours["job"],
            _n(ours["latency_ms"]),
            label,
            f"{_calls(row):,} ({throttled:,} throttled)",
            _top(row["calls"]),
            _n(row["cpu_seconds"]),
            _n(row["wall_seconds"]),
            _judged(row),
        ]

    def ratio(ours: Row, theirs: Row) -> list[Any]:
        return [
            ours["job"],
            _n(ours["latency_ms"]),
            "**ratio**",
            _ratio(_calls(ours), _calls(theirs)),
            "",
            f"**{_ratio(ours['cpu_seconds'], theirs['cpu_seconds'])}**",
            f"**{_ratio(ours['wall_seconds'], theirs['wall_seconds'])}**",
            "",
        ]

    header = [
        "Job",
        "Latency ms",
        "Tool",
        "Calls",
        "Most called",
        "Own CPU s",
        "Wall s",
        "Acted (of should), missed, wrong",
    ]
    return table(header, compared(rows, cells, ratio))


def two_runs(rows: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ["Run", "Calls", "Most called", "Own CPU s", "Wall s", "Acted (of should), missed, wrong"],
        [
            [r["job"], f"{_calls(r):,}", _top(r["calls"]), _n(r["cpu_seconds"]), _n(r["wall_seconds"]), _judged(r)]
            for r in rows
        ],
    )


def organization(rows: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for r in rows:
        targets = r["targets"]
        out.append(
            [
                r["job"],
                f"{r['accounts']:,}",
                f"{targets:,}",
                _n(r["latency_ms"]),
                f"{_calls(r):,}",
                _n(_calls(r) / targets),
                _n(r["cpu_seconds"]),
                _n(1000 * r["cpu_seconds"] / targets),
                _n(r["wall_seconds"]),
                _n(r["max_rss_mib"]),
                r.get("status") or f"exit {r['returncode']}",
                _judged(r),
            ]
        )
    header = [
        "Job",
        "Accounts",
        "Targets",
        "Latency ms",
        "Calls",
        "Calls per target",
        "Own CPU s",
        "CPU ms per target",
        "Wall s",
        "Peak MiB",
        "Status",
        "Acted (of should), missed, wrong",
    ]
    return table(header, out)


def imports(rows: Sequence[Mapping[str, Any]]) -> str:
    keys = ("median_ms", "min_ms", "max_ms")
    return table(
        ["Handler module", "Import, median ms", "min", "max"],
        [[r["module"], *(_n(r[k]) for k in keys if k in r)] for r in rows],
    )


def cost(bill: Mapping[str, Any]) -> str:
    services = sorted(
        {k for t in bill["totals"] for k in t["by_service"]}, key=lambda k: -bill["totals"][-1]["by_service"].get(k, 0)
    )
    rows = [
        [
            f"{t['accounts']:,} x {t['regions']}",
            f"${t['total_usd']:,.2f}",
            f"${t['fixed_usd']:,.2f}",
            f"${t['total_after_free_tier_usd']:,.2f}",
            *(f"${t['by_service'].get(k, 0):,.2f}" for k in services),
        ]
        for t in bill["totals"]
    ]
    header = ["Accounts x regions", "Per month", "Of it fixed", "After the free tier", *services]
    return f"Inputs: {bill['measured']}\n\n" + table(header, rows)


def write_tables(report: Mapping[str, Any], path: Path) -> None:
    sections = [
        f"# Benchmark results ({report['date']})\n\nWritten by `make bench` (tools/bench/tables.py) from "
        "`build/bench-results/results.json`; read [../benchmarks.md](../benchmarks.md) for what each table means.",
        "## Handler imports (a fresh interpreter per sample)\n\n" + imports(report["imports"]),
        "## Growth with the target's size: dry runs, 0 ms\n\n" + growth(report["per_target"]),
        "## The same work side by side (enforce), EC2 throttling emulated\n\n" + side_by_side(report["side_by_side"]),
        "## Ours as shipped: mark, then sweep after the grace period\n\n" + two_runs(report["two_runs"]),
        "## Across an Organization (ours)\n\n" + organization(report["organization"]),
    ]
    if "cost" in report:
        sections.append("## The product's own AWS bill (tools/bench/cost.py)\n\n" + cost(report["cost"]))
    path.write_text("\n\n".join(sections) + "\n")
