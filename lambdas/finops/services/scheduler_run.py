"""The scheduler on the run engine: the hub's decision (is a transition due?) and the per-target capability.

The hub decides from the config alone: a tick acts on the schedules whose desired state changed since the last
completed run (caught up to ``catch_up_hours``; older transitions are reported, not replayed); every
``reconcile_minutes`` on the UTC grid the run is a reconcile, which always fans out (enforced schedules, expired
overrides and the RDS 7-day re-stop depend on the resources, not on the config).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from finops.engine.model import Outcome, Plan, RunContext, Target
from finops.engine.request import RunRequest
from finops.engine.start import Prepared
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.models.inventory import Resource
from finops.rules.schedule import changed
from finops.rules.scheduler_plan import RECONCILE, plan
from finops.services.scheduler import MEMBER_PERMISSIONS, apply, read_inventory

TICK = "tick"
_MAX_STALE_LISTED = 10


class SchedulerSpec:
    """The hub side (``engine_start`` and the local runner)."""

    name = "scheduler"

    def mode(self, config: FinOpsConfig) -> Mode:
        return config.capabilities.scheduler.mode

    def paused(self, config: FinOpsConfig) -> bool:
        return config.capabilities.scheduler.paused

    def prepare(self, config: FinOpsConfig, request: RunRequest, last_completed: datetime | None) -> Prepared:
        scheduler = config.capabilities.scheduler
        now = request.now
        minute_of_day = now.hour * 60 + now.minute
        kind = request.kind or (RECONCILE if minute_of_day % scheduler.reconcile_minutes == 0 else TICK)
        since = request.since.astimezone(now.tzinfo) if request.since else None
        since = min(since or last_completed or now - timedelta(minutes=scheduler.tick_minutes), now)
        notes: list[str] = []
        oldest = now - timedelta(hours=scheduler.catch_up_hours)
        if since < oldest:
            stale = [
                f"{name} {t.action} at {t.at:%Y-%m-%d %H:%M}Z"
                for name, schedule in sorted(scheduler.schedules.items())
                for t in changed(schedule, since, oldest)
            ]
            listed = ", ".join(stale[:_MAX_STALE_LISTED]) + (" …" if len(stale) > _MAX_STALE_LISTED else "")
            notes.append(
                f"no run completed since {since:%Y-%m-%d %H:%M}Z: caught up only the last {scheduler.catch_up_hours} "
                f"h (capabilities.scheduler.catch_up_hours); {len(stale)} older transition(s) not replayed"
                + (f": {listed}" if stale else "")
            )
            since = oldest
        due = sorted(name for name, schedule in scheduler.schedules.items() if changed(schedule, since, now))
        # A worker that gets this run later than the next tick would act on a stale clock: it stands down instead.
        params: dict[str, Any] = {
            "due": due,
            "act_before": (now + timedelta(minutes=scheduler.tick_minutes)).isoformat(),
        }
        if kind == RECONCILE:
            params["override_since"] = min(since, now - timedelta(minutes=scheduler.reconcile_minutes)).isoformat()
        reason = "" if due or kind == RECONCILE else f"no schedule changes state in ({since:%H:%M}Z, {now:%H:%M}Z]"
        return Prepared(
            kind=kind, since=since, due=bool(due) or kind == RECONCILE, params=params, notes=tuple(notes), reason=reason
        )

    def title(self, ctx: RunContext) -> str:
        return "Scheduler reconcile" if ctx.kind == RECONCILE else "Scheduler"


class SchedulerCapability:
    """The worker side: read one target, plan, apply (through the member role)."""

    name = "scheduler"
    MEMBER_PERMISSIONS = MEMBER_PERMISSIONS

    def __init__(self, config: FinOpsConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._config = config
        self._sleep = sleep

    def read(self, scope: Any, ctx: RunContext, target: Target) -> Sequence[Resource]:
        return read_inventory(scope)

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        return plan(inventory, target, ctx, self._config)

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> Sequence[Outcome]:
        return apply(scope, plan.actions, now=ctx.now, sleep=self._sleep)
