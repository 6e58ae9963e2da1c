"""The per-target worker: reach the target through the member role, read, plan, and (in enforce mode) apply.

Whatever goes wrong in one target (the role cannot be assumed, a read fails after the client's own retries) becomes
that target's result, so the run completes for every other target and the aggregate names the failed ones.

A batch's targets run on a bounded thread pool (``engine.target_concurrency``): a target's time is mostly waiting on
API answers and on its starts or final snapshots, which threads overlap, so a batch takes about as long as its slowest
target instead of the sum of them. Each target has its own scope and clients (``AwsClients`` makes them under a lock);
its log lines carry its account and region in ``extra`` (never ``append_keys``, which every thread would share); the
kill switch is read once for all threads; the audit records are written by each target's thread as before.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AccountScope, AwsClients
from finops.aws.errors import error_text
from finops.engine.kill_switch import KillSwitch, NoKillSwitch
from finops.engine.model import Capability, Outcome, Plan, RunContext, Target, TargetResult
from finops.models.base import Mode
from finops.services.audit import AuditRecord, AuditTrail, MemoryAuditTrail, record_after_the_fact, record_id

logger = Logger(child=True)
WALL_NOW = "wall_now"  # ctx.params: the worker's wall clock when it began the target, for the capability's decision


def wall_now(ctx: RunContext) -> datetime | None:
    """The worker's wall clock as :func:`run_target` put it into ``ctx.params`` (None: a local replay or simulation,
    whose clock is the run's)."""
    value = ctx.params.get(WALL_NOW)
    return datetime.fromisoformat(str(value)) if value else None


class _Scopes(Protocol):
    def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope: ...


class CountingScope:
    """An AccountScope whose clients count their API calls by ``service:Operation`` (for results and the bench)."""

    def __init__(self, scope: AccountScope) -> None:
        self._scope = scope
        self.account, self.region = scope.account, scope.region
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()  # a capability may call from several threads of its own (the clean-up does)

    def client(self, service: str) -> Any:
        client = self._scope.client(service)
        prefix = client.meta.service_model.signing_name

        def count(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls[f"{prefix}:{model.name}"] += 1

        client.meta.events.register("before-call", count)
        return client

    def log_keys(self) -> dict[str, str]:
        return self._scope.log_keys()


def run_target(
    capability: Capability,
    target: Target,
    ctx: RunContext,
    *,
    scopes: _Scopes | AwsClients,
    role_name: str,
    kill_switch: KillSwitch | NoKillSwitch,
    audit: AuditTrail | MemoryAuditTrail,
    actor: str,
    wall_clock: Callable[[], datetime] | None = None,
) -> TargetResult:
    """``wall_clock`` (the deployed worker's): past the run's ``act_before`` the target stands down (paused) rather
    than act on a clock a newer run has overtaken; and its reading when the target begins goes to the capability in
    ``ctx.params`` (:func:`wall_now`), so a run whose ``time`` is in the future cannot act as if that time had come
    (the clean-up deletes only what is due by both clocks). Local runs replay past instants and pass none."""
    if wall_clock is not None:
        ctx = replace(ctx, params={**ctx.params, WALL_NOW: wall_clock().isoformat()})
    log: dict[str, object] = {
        "account": target.account,
        "region": target.region,
        "run_id": ctx.run_id,
        "capability": ctx.capability,
    }
    try:
        assumed = scopes.assume_role(
            target.account, target.region, role_name=role_name, session_name=f"finops-{ctx.capability}-{ctx.run_id}"
        )
    except (ClientError, BotoCoreError) as exc:
        reason = f"cannot assume {role_name}: {error_text(exc)}"
        logger.error("target failed", extra={**log, "reason": reason})
        return TargetResult(target, "failed", ctx.mode, error=reason)
    scope = CountingScope(assumed)
    try:
        inventory = capability.read(scope, ctx, target)
    except (ClientError, BotoCoreError) as exc:
        reason = f"inventory read failed: {error_text(exc)}"
        logger.error("target failed", extra={**log, "reason": reason})
        return TargetResult(target, "failed", ctx.mode, error=reason, calls=dict(scope.calls))
    plan: Plan = capability.plan(inventory, target, ctx)
    result = TargetResult(
        target, "done", ctx.mode, planned=plan.actions, skipped=plan.skipped, holds=plan.holds, report=plan.report
    )
    if ctx.mode is not Mode.ENFORCE or not plan.actions:
        logger.info("target planned", extra={**log, "actions": len(plan.actions), "mode": str(ctx.mode)})
        return _with_calls(result, scope)
    late = _too_late(ctx, wall_clock)
    if late:
        logger.warning("target stood down", extra={**log, "reason": late})
        return _with_calls(replace(result, status="paused", error=late), scope)
    switch = kill_switch.state()
    if switch.engaged:
        logger.warning("target paused", extra={**log, "reason": switch.reason})
        return _with_calls(replace(result, status="paused", error=switch.reason), scope)
    try:
        outcomes = tuple(capability.apply(scope, plan, ctx, target))
    except (ClientError, BotoCoreError) as exc:  # an apply returns its outcomes; this one lost them: say so loudly
        reason = f"apply failed, its outcomes lost (see the member account's CloudTrail): {error_text(exc)}"
        logger.error("target failed", extra={**log, "reason": reason})
        return _with_calls(replace(result, status="failed", error=reason), scope)
    unaudited = [o for o in outcomes if not _audit(audit, o, target, ctx, actor)]
    failed = sum(not o.ok for o in outcomes)
    logger.info("target applied", extra={**log, "actions": len(outcomes), "failed": failed})
    return _with_calls(
        replace(
            result,
            status="failed" if unaudited else "done",
            outcomes=outcomes,
            error=f"{len(unaudited)} action(s) done but not written to the audit trail" if unaudited else None,
        ),
        scope,
    )


def _too_late(ctx: RunContext, wall_clock: Callable[[], datetime] | None) -> str | None:
    deadline = ctx.params.get("act_before")
    if wall_clock is None or not deadline:
        return None
    now = wall_clock()
    if now <= datetime.fromisoformat(str(deadline)):
        return None
    return f"too late to act: this run is for {ctx.now:%Y-%m-%d %H:%M}Z and it is {now:%H:%M}Z; a newer run acts"


def _with_calls(result: TargetResult, scope: CountingScope) -> TargetResult:
    return replace(result, calls=dict(sorted(scope.calls.items())))


def _audit(audit: AuditTrail | MemoryAuditTrail, outcome: Outcome, target: Target, ctx: RunContext, actor: str) -> bool:
    action = outcome.action
    return record_after_the_fact(
        audit,
        AuditRecord(
            id=record_id(ctx.run_id, target.account, target.region, action.resource),
            run_id=ctx.run_id,
            actor=actor,
            action=f"{ctx.capability}:{action.action}",
            target=f"{target.account}/{target.region}/{action.resource}",
            reason=action.reason if outcome.ok else f"{action.reason}; FAILED: {outcome.error}",
            at=ctx.now,
            mode=str(ctx.mode),
            before=dict(action.before),
            after={
                "verified": outcome.ok,
                **dict(outcome.after),
                **({"error": outcome.error} if outcome.error else {}),
            },
            account=target.account,
            region=target.region,
        ),
    )


def run_target_safely(capability: Capability, target: Target, ctx: RunContext, **deps: Any) -> TargetResult:
    """:func:`run_target`, and a bug in one target (an exception that is not an AWS error) becomes that target's
    failure, logged with its traceback, instead of losing the batch's other results. If it happened while applying,
    the audit trail holds what was done before it."""
    try:
        return run_target(capability, target, ctx, **deps)
    except Exception as exc:
        logger.exception("target failed unexpectedly", extra={"account": target.account, "region": target.region})
        return TargetResult(target, "failed", ctx.mode, error=f"unexpected error: {type(exc).__name__}: {exc}")


def run_batch(
    capability: Capability,
    event: Mapping[str, Any],
    *,
    concurrency: int = 1,
    **deps: Any,
) -> dict[str, Any]:
    """One Distributed Map batch: ``{"Items": [target, ...], "BatchInput": {"run": <RunContext>}}`` ->
    ``{"results": [<TargetResult>, ...]}``, in the order of the items, whatever order they finish in.

    ``concurrency`` targets at a time (``engine.target_concurrency``), each in a thread of its own; one target's
    failure, even a bug, is that target's result (:func:`run_target_safely`) and never stops the others."""
    ctx = RunContext.from_json(event["BatchInput"]["run"])
    targets = [Target.from_json(item) for item in event["Items"]]
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1 (got {concurrency})")

    def one(target: Target) -> TargetResult:
        return run_target_safely(capability, target, ctx, **deps)

    if concurrency == 1 or len(targets) <= 1:
        results = [one(target) for target in targets]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(targets)), thread_name_prefix="target") as pool:
            results = list(pool.map(one, targets))  # map keeps the order of the items
    return {"results": [r.to_json() for r in results]}
