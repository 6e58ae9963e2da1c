"""The last step of a run: every target's result into one summary, per-team digests, metrics, the catch-up point.

On AWS the results come from the Distributed Map's ResultWriter in S3 (:func:`results_from_manifest`); a batch
whose worker invocation failed outright (after the Map's retries) is reported target by target as failed, with the
error the Map recorded, so no target silently drops out of the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.engine.model import RunContext, Target, TargetResult
from finops.engine.state import RunState
from finops.models.config import FinOpsConfig
from finops.models.summary import Item, RunSummary
from finops.notify.blocks import SlackMessage
from finops.notify.slack import Delivery

logger = Logger(child=True)
metrics = Metrics()

Deliver = Callable[[SlackMessage, str], Delivery]  # (message, once-only key) -> where it went
# A capability's run-level findings from every target's result (finops.runtime.run_conclusion), merged into the run
# document; the renderer gets them too ({} for a capability without them).
Conclude = Callable[[Sequence[TargetResult], RunContext], Mapping[str, Any]]
Render = Callable[[Sequence[TargetResult], RunContext, Mapping[str, Any]], list[SlackMessage]]
# The run document's own keys beside the summary's (a conclusion may add others, never these).
DOCUMENT_KEYS = frozenset(
    {"kind", "now", "since", "status", "targets", "failed_targets", "held_targets", "digests", "api_calls", "notes"}
    | {"results", "excluded", "reason", "summary_key"}
)


def summarize(ctx: RunContext, results: Sequence[TargetResult]) -> RunSummary:
    """Acted = verified done; failed = the action or the target failed; skipped = the notable skips."""
    summary = RunSummary(run_id=ctx.run_id, capability=ctx.capability, mode=str(ctx.mode))
    for result in results:
        where = {"account": result.target.account, "region": result.target.region}
        if result.status == "failed" and not result.outcomes:
            summary.add(
                "failed", Item(resource=result.target.label, action="target", reason=result.error or "", **where)
            )
            continue
        if result.status == "paused":
            for action in result.planned:
                reason = result.error or "paused"
                summary.add("skipped", Item(action.resource, action.action, reason, name=action.name, **where))
            continue
        if result.outcomes:
            for outcome in result.outcomes:
                action = outcome.action
                reason = outcome.error or action.reason
                item = Item(action.resource, action.action, reason, name=action.name, **where)
                summary.add("acted" if outcome.ok else "failed", item)
            if result.status == "failed":
                summary.add("failed", Item(result.target.label, "audit", result.error or "", **where))
        else:  # report mode: the plan is what would happen
            for action in result.planned:
                verb = f"would {action.action}"
                summary.add("acted", Item(action.resource, verb, action.reason, name=action.name, **where))
        for skip in result.skipped:
            if skip.notable:
                summary.add("skipped", Item(skip.resource, "skip", skip.reason, name=skip.name, **where))
    return summary


def aggregate(
    ctx: RunContext,
    results: Sequence[TargetResult],
    *,
    config: FinOpsConfig,
    render: Render,
    deliver: Deliver,
    state: RunState,
    complete: bool = True,
    notes: Sequence[str] = (),
    conclude: Conclude | None = None,
) -> dict[str, Any]:
    """The run's document. ``complete`` moves the catch-up point to this run's time (not for re-runs of targets).
    ``conclude`` (once, with every result) adds the capability's run-level keys to it, and goes to ``render``."""
    summary = summarize(ctx, results)
    failed_targets = [r for r in results if r.status == "failed" and not r.outcomes]
    paused = [r for r in results if r.status == "paused"]
    concluded = dict(conclude(results, ctx)) if conclude is not None else {}
    clash = sorted(set(concluded) & {*summary.to_json(), *DOCUMENT_KEYS})
    if clash:  # a bug of the capability: fail before anything is posted or the catch-up point moves
        raise ValueError(f"{ctx.capability}'s conclusion would overwrite the run document's {clash}")
    deliveries = []
    for message in render(results, ctx, concluded):
        delivery = deliver(message, f"{ctx.capability}#{ctx.run_id}#{message.channel}")
        deliveries.append({"channel": delivery.channel, "status": delivery.status, "reason": delivery.reason})
    if complete:
        state.complete(ctx.capability, ctx.now, ctx.run_id)
    calls: dict[str, int] = {}
    for result in results:
        for operation, count in result.calls.items():
            calls[operation] = calls.get(operation, 0) + count
    for name, value in (
        ("TargetsFailed", len(failed_targets)),
        ("TargetsPaused", len(paused)),
        ("TargetsHeld", sum(bool(r.holds) for r in results)),
        ("ActionsDone", len(summary.acted)),
        ("ActionsFailed", len(summary.failed) - len(failed_targets)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    document = {
        **summary.to_json(),
        "kind": ctx.kind,
        "now": ctx.now.isoformat(),
        "since": ctx.since.isoformat() if ctx.since else None,
        "status": _status(results, failed_targets, paused),
        "targets": {
            "total": len(results),
            "done": sum(r.status == "done" for r in results),
            "failed": len(failed_targets),
            "paused": len(paused),
        },
        "failed_targets": [
            {"account": r.target.account, "region": r.target.region, "error": r.error} for r in failed_targets
        ],
        # a safety net held part of the plan there (circuit breaker, no Recycle Bin rule): done, not all of it
        "held_targets": [
            {"account": r.target.account, "region": r.target.region, "holds": list(r.holds)} for r in results if r.holds
        ],
        "digests": deliveries,
        "api_calls": dict(sorted(calls.items())),
        "notes": list(notes),
    }
    document |= {**concluded, "results": [r.to_json() for r in results]}
    logger.info("run aggregated", run_id=ctx.run_id, counts=summary.counts(), status=document["status"])
    return document


MAX_LISTED = 50


def compact(document: dict[str, Any], *, summary_key: str | None = None) -> dict[str, Any]:
    """The document without per-target results and with lists cut to ``MAX_LISTED``: what fits in a state's output
    (256 KiB); the whole document is in S3 at ``summary_key``."""
    small = {k: v for k, v in document.items() if k != "results"}
    for key in ("acted", "skipped", "failed", "failed_targets", "held_targets", "noncompliant"):
        if len(small.get(key, [])) > MAX_LISTED:
            small[f"{key}_not_listed"] = small.get(f"{key}_not_listed", 0) + len(small[key]) - MAX_LISTED
            small[key] = small[key][:MAX_LISTED]
    if summary_key:
        small["summary_key"] = summary_key
    return small


def _status(results: Sequence[TargetResult], failed: Sequence[TargetResult], paused: Sequence[TargetResult]) -> str:
    if paused and len(paused) == len(results):
        return "paused by kill switch"
    if failed or any(not o.ok for r in results for o in r.outcomes) or any(r.status == "failed" for r in results):
        return "completed with failures"
    return "completed"


def lost_batch(items: Sequence[dict[str, Any]], ctx: RunContext, error: str) -> list[TargetResult]:
    """The targets of a batch whose worker never returned (the Map recorded only an error), as failed results."""
    return _failed(items, ctx, f"worker failed: {error}")


def with_missing_targets(
    results: Sequence[TargetResult], listed: Sequence[dict[str, Any]], ctx: RunContext
) -> list[TargetResult]:
    """``results`` plus a failed result for every target of ``listed`` (the run's targets file) that has none."""
    seen = {(r.target.account, r.target.region) for r in results}
    missing = [item for item in listed if (item["account"], item["region"]) not in seen]
    lost = _failed(missing, ctx, "the Map recorded no result for this target")
    return sorted([*results, *lost], key=lambda r: r.target)


def _failed(items: Sequence[dict[str, Any]], ctx: RunContext, error: str) -> list[TargetResult]:
    return [TargetResult(Target.from_json(item), "failed", ctx.mode, error=error) for item in items]


def results_from_manifest(s3: Any, bucket: str, manifest_key: str, ctx: RunContext) -> list[TargetResult]:
    """Read the Map's ResultWriter output: ``manifest.json`` lists SUCCEEDED and FAILED result files; each holds
    the child executions with their ``Input`` (the batch) and ``Output`` (the worker's result) or ``Error``."""
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    results: list[TargetResult] = []
    files = manifest.get("ResultFiles", {})
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for entry in files.get(status, []):
            executions = json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
            for execution in executions:
                results += _from_execution(execution, ctx)
    return sorted(results, key=lambda r: r.target)


def _from_execution(execution: dict[str, Any], ctx: RunContext) -> list[TargetResult]:
    batch = json.loads(execution.get("Input") or "{}")
    items = batch.get("Items", [])
    if execution.get("Status") == "SUCCEEDED" and execution.get("Output"):
        output = json.loads(execution["Output"])
        return [TargetResult.from_json(r) for r in output.get("results", [])]
    error = f"{execution.get('Error', execution.get('Status', 'unknown'))}: {execution.get('Cause', '')}".strip()
    return lost_batch(items, ctx, error)
