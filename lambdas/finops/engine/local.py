"""The state machine's run, in one process: the same start, worker and aggregate functions with the same JSON in
and out, batches like the Map's ItemBatcher, concurrency bounded like its MaxConcurrency, and each batch's targets
run ``engine.target_concurrency`` at a time as the deployed worker runs them.

Used by ``make invoke`` (the simulated Organization), ``make run`` (the credentials' AWS) and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from finops.aws.organizations import Enumeration
from finops.engine.aggregate import Conclude, Deliver, Render, aggregate, lost_batch
from finops.engine.kill_switch import KillSwitch, NoKillSwitch
from finops.engine.model import Capability, Target, TargetResult
from finops.engine.request import RunRequest
from finops.engine.start import RunSpec, StartDecision, start_run
from finops.engine.state import RunState
from finops.engine.worker import run_batch
from finops.models.config import FinOpsConfig

logger = Logger(child=True)


def batches(targets: Sequence[Target], size: int) -> list[list[Target]]:
    return [list(targets[i : i + size]) for i in range(0, len(targets), size)]


def not_started(decision: StartDecision) -> dict[str, Any]:
    """The run's document when the start step decided not to fan out (paused, nothing due)."""
    ctx = decision.run
    return {
        "run_id": ctx.run_id,
        "capability": ctx.capability,
        "mode": str(ctx.mode),
        "kind": ctx.kind,
        "now": ctx.now.isoformat(),
        "since": ctx.since.isoformat() if ctx.since else None,
        "status": "could not start" if decision.failed else decision.status,
        "reason": decision.reason,
        "counts": {"acted": 0, "skipped": 0, "failed": 0},
        "targets": {"total": 0, "done": 0, "failed": 0, "paused": 0},
        "failed_targets": [],
        "held_targets": [],
        "digests": [],
        "notes": list(decision.notes),
    }


def run_locally(
    spec: RunSpec,
    capability: Capability,
    request: RunRequest,
    *,
    config: FinOpsConfig,
    run_id: str,
    state: RunState,
    kill_switch: KillSwitch | NoKillSwitch,
    enumerate_targets: Callable[[], Enumeration],
    worker_deps: dict[str, Any],
    render: Render,
    deliver: Deliver,
    allow_enforce: bool = True,
    conclude: Conclude | None = None,
) -> dict[str, Any]:
    decision = start_run(
        spec,
        request,
        config=config,
        run_id=run_id,
        state=state,
        kill_switch=kill_switch,
        enumerate_targets=enumerate_targets,
        allow_enforce=allow_enforce,
    )
    if not decision.fan_out:
        logger.info("run not started", reason=decision.reason, run_id=run_id)
        return not_started(decision)
    ctx = decision.run
    groups = batches(decision.targets, config.engine.targets_per_invocation)
    batch_input = {"run": ctx.to_json()}

    def work(group: list[Target]) -> list[TargetResult]:
        event = json.loads(json.dumps({"Items": [t.to_json() for t in group], "BatchInput": batch_input}))
        try:
            batch = run_batch(capability, event, concurrency=config.engine.target_concurrency, **worker_deps)
            output = json.loads(json.dumps(batch))
        except Exception as exc:  # the Map records a failed child execution and the run goes on
            logger.exception("worker batch failed", run_id=run_id)
            return lost_batch(event["Items"], ctx, f"{type(exc).__name__}: {exc}")
        return [TargetResult.from_json(r) for r in output["results"]]

    results: list[TargetResult] = []
    if groups:
        with ThreadPoolExecutor(max_workers=min(config.engine.max_concurrency, len(groups))) as pool:
            for done in pool.map(work, groups):
                results += done
    document = aggregate(
        ctx,
        results,
        config=config,
        render=render,
        deliver=deliver,
        state=state,
        complete=not ctx.params.get("rerun"),
        notes=decision.notes,
        conclude=conclude,
    )
    document["excluded"] = [dict(e) for e in decision.excluded]
    return document
