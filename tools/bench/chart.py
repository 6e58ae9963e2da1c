"""The bench's chart: API calls and own CPU against target size, ours beside Cloud Custodian's, one line per job.

``python -m tools.bench.chart RESULTS.json OUT.png`` runs in the bench's own virtualenv (``build/bench``, from
``requirements-bench.txt``: matplotlib is not a project dependency) and reads only the results file, so it imports
nothing of the product.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

STYLE = {"ours": "-", "custodian": "--"}
LABEL = {"ours": "ours", "custodian": "Cloud Custodian"}


def series(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(job, tool) -> [(resources, value)] of the per-target runs at 0 ms latency, sorted by size."""
    found: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        if row.get("latency_ms", 0) != 0 or row.get("returncode", 0) != 0:
            continue
        value = sum(row["calls"].values()) if metric == "calls" else row["cpu_seconds"]
        found[row["job"], row["tool"]].append((row["resources"], value))
    return {key: sorted(points) for key, points in found.items()}


def draw(results: dict[str, Any], out: Path) -> None:
    import matplotlib  # type: ignore[import-not-found]  # the bench's own venv, not the project's

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]
    from matplotlib.ticker import FuncFormatter  # type: ignore[import-not-found]

    plain = FuncFormatter(lambda value, _: f"{value:,.10g}")

    rows = results["per_target"]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    colours: dict[str, str] = {}
    for ax, metric, title in (
        (axes[0], "calls", "API calls (counted by the server)"),
        (axes[1], "cpu", "own CPU, user + sys (s)"),
    ):
        for (job, tool), points in sorted(series(rows, metric).items()):
            colour = colours.setdefault(job, f"C{len(colours)}")
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, STYLE[tool], marker="o", color=colour, label=f"{job}: {LABEL[tool]}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.yaxis.set_major_formatter(plain)
        ax.set_xlabel("resources in the target")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left")
    figure.suptitle(
        f"One target, dry runs (every read and decision, no change), moto on 127.0.0.1 ({results.get('date', '')})"
    )
    figure.savefig(out, dpi=110)


def main(argv: list[str]) -> int:
    results, out = Path(argv[0]), Path(argv[1])
    draw(json.loads(results.read_text()), out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
