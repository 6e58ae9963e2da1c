"""The hub's first step of a run: is the capability paused, is anything due, which targets.

Decided from the config, the kill switch and the engine's state alone, so a tick with nothing due costs one Lambda
invocation and starts no fan-out at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from finops.aws.organizations import Enumeration
from finops.engine.kill_switch import KillSwitch, NoKillSwitch
from finops.engine.model import RunContext, Target
from finops.engine.request import RunRequest
from finops.engine.state import RunState
from finops.models.base import Mode
from finops.models.config import FinOpsConfig


@dataclass(frozen=True, slots=True)
class Prepared:
    """A capability's hub-side decision for one run."""

    kind: str
    since: datetime | None
    due: bool  # False: nothing can change in any target; no fan-out
    params: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    reason: str = ""  # why nothing is due, for the run's output


class RunSpec(Protocol):
    """The hub side of an acting capability.

    Optional, looked up with ``getattr`` (a capability without them behaves as if they returned nothing):
    ``disabled(config) -> str | None`` (why the config turns the capability off: a run then starts nothing);
    ``conclude(results, ctx, *, config, clients) -> Mapping`` (run-level findings the aggregate merges into the run
    document, and hands to the digest renderer: :func:`finops.runtime.run_conclusion`); ``digests(results, ctx,
    conclusion, config) -> list[SlackMessage]`` (the capability's own digest, instead of the engine's common one);
    ``document_keys`` (the keys ``conclude`` adds, which `make invoke`/`make run` also print at their top level).
    """

    name: str

    def mode(self, config: FinOpsConfig) -> Mode: ...

    def paused(self, config: FinOpsConfig) -> bool: ...

    def prepare(self, config: FinOpsConfig, request: RunRequest, last_completed: datetime | None) -> Prepared: ...

    def title(self, ctx: RunContext) -> str: ...


@dataclass(frozen=True, slots=True)
class StartDecision:
    fan_out: bool
    run: RunContext
    targets: tuple[Target, ...] = ()
    reason: str = ""
    excluded: tuple[Mapping[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    status: str = "started"  # "started", "paused" (config or kill switch), "nothing due" or "disabled" (config)
    failed: bool = False  # the run could not be decided (the kill switch unreadable): report it as a failure

    def to_json(self, *, targets: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The state machine's view: ``targets`` is where the list was written (the Map's ItemReader reads it)."""
        return {
            "fan_out": self.fan_out,
            "run": self.run.to_json(),
            "targets": dict(targets) if targets is not None else [t.to_json() for t in self.targets],
            "count": len(self.targets),
            "reason": self.reason,
            "excluded": [dict(e) for e in self.excluded],
            "notes": list(self.notes),
            "status": self.status,
            "failed": self.failed,
        }


def start_run(
    spec: RunSpec,
    request: RunRequest,
    *,
    config: FinOpsConfig,
    run_id: str,
    state: RunState,
    kill_switch: KillSwitch | NoKillSwitch,
    enumerate_targets: Callable[[], Enumeration],
    allow_enforce: bool = True,
) -> StartDecision:
    """``allow_enforce`` is False for `make run` without ``--enforce``: the config alone never makes a preview act."""
    now = request.now
    mode = spec.mode(config) if allow_enforce else Mode.REPORT
    # A re-run of failed targets acts on what changed before its own time, as the failed run would have: it does not
    # start from the catch-up point, which later runs have moved on.
    last = None if request.since or request.rerun else state.last_completed(spec.name)
    prepared = spec.prepare(config, request, last if last is None or last <= now else now)
    params = {**prepared.params, **({"rerun": True} if request.rerun else {})}
    ctx = RunContext(run_id, spec.name, prepared.kind, now, mode, since=prepared.since, params=params)
    disabled = getattr(spec, "disabled", None)
    off = disabled(config) if disabled is not None else None
    if off:
        return StartDecision(False, ctx, reason=str(off), status="disabled")
    if spec.paused(config):
        reason = f"paused in the config (capabilities.{spec.name}.paused: true)"
        return StartDecision(False, ctx, reason=reason, status="paused")
    switch = kill_switch.state()
    if switch.engaged:
        return StartDecision(
            False, ctx, reason=switch.reason, notes=prepared.notes, status="paused", failed=switch.unreadable
        )
    if not prepared.due and not request.rerun:
        state.complete(spec.name, now, run_id)  # nothing was due: this tick is done, the next one starts here
        reason = prepared.reason or "nothing due"
        return StartDecision(False, ctx, reason=reason, notes=prepared.notes, status="nothing due")
    wanted = request.target_list()
    enumeration = enumerate_targets()
    targets: Sequence[Target] = enumeration.targets
    notes = (*prepared.notes, *enumeration.notes)
    if wanted is not None:
        # Only what this config targets now: a re-run never reaches an account since excluded or never targeted,
        # and each target keeps what the enumeration knows of it (its team, whether it is prod).
        known = {(t.account, t.region): t for t in enumeration.targets}
        targets = [known[(t.account, t.region)] for t in wanted if (t.account, t.region) in known]
        if len(targets) < len(wanted):
            left_out = len(wanted) - len(targets)
            notes += (f"re-run: {left_out} requested target(s) are not targets of this config and were left out",)
    return StartDecision(True, ctx, targets=tuple(targets), excluded=tuple(enumeration.excluded), notes=notes)
