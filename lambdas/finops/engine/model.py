"""The shapes that travel through the engine, as JSON: a run, a target, a plan and each target's result.

Everything here crosses a process boundary on AWS (state machine input, S3 item lists, Lambda payloads, results
written by the Map's ResultWriter), so each type has ``to_json``/``from_json`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from finops.models.base import Mode

TargetStatus = Literal["done", "failed", "paused"]


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """One account x region a run acts in, with what the enumeration learnt about the account."""

    account: str
    region: str
    name: str | None = field(default=None, compare=False)
    team: str | None = field(default=None, compare=False)  # the account's owning team (owner tag / account_teams)
    prod: bool = field(default=False, compare=False)  # a prod account: by id, OU or its environment tag
    prod_reason: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.account}) {self.region}" if self.name else f"{self.account} {self.region}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            account=str(data["account"]),
            region=str(data["region"]),
            name=data.get("name"),
            team=data.get("team"),
            prod=bool(data.get("prod", False)),
            prod_reason=data.get("prod_reason"),
        )


@dataclass(frozen=True, slots=True)
class RunContext:
    """One run of one capability, decided in the hub before the fan-out and handed to every worker."""

    run_id: str
    capability: str
    kind: str  # the capability's own run kinds, e.g. "tick" or "reconcile"
    now: datetime  # the run's clock: the scheduled time of the run, never the worker's wall clock
    mode: Mode  # enforce only when the config (and, for `make run`, the command line) says so
    since: datetime | None = None  # the last run of this capability that completed
    params: Mapping[str, Any] = field(default_factory=dict)  # capability-specific, JSON-able

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "capability": self.capability,
            "kind": self.kind,
            "now": self.now.isoformat(),
            "mode": str(self.mode),
            "since": self.since.isoformat() if self.since else None,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunContext:
        return cls(
            run_id=str(data["run_id"]),
            capability=str(data["capability"]),
            kind=str(data["kind"]),
            now=datetime.fromisoformat(data["now"]),
            mode=Mode(data["mode"]),
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            params=dict(data.get("params") or {}),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One planned change to one resource. ``before`` holds what is needed to see (and undo) what it changes."""

    resource: str  # the id the API takes: instance id, group name, DB identifier
    kind: str  # "ec2:instance", "autoscaling:group", "rds:db", "rds:cluster", ...
    action: str  # "stop", "start", "hibernate", ...
    reason: str
    before: Mapping[str, Any] = field(default_factory=dict)
    team: str | None = None  # whose digest it goes to (the resource's owner tag, else the account's team)
    name: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"size": "m6i.large", "count": 1}

    def to_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Skip:
    """A resource the plan leaves alone, with the reason a reader would want (prod, opted out, override until ...)."""

    resource: str
    kind: str
    reason: str
    team: str | None = None
    name: str | None = None
    notable: bool = True  # worth a line in the digest; False for the routine (already in the desired state)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Skip:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = ()
    skipped: tuple[Skip, ...] = ()
    # what a safety net of the target held back, for the on-call channel and the run summary (circuit breaker
    # tripped, no Recycle Bin rule); the held resources are also in ``skipped``
    holds: tuple[str, ...] = ()
    # what a capability found beside its actions, JSON-able, carried into the target's result unchanged (the tag
    # compliance's findings and counts); the engine never reads it
    report: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one action did, as verified by reading the resource again afterwards."""

    action: Action
    ok: bool
    after: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # the API error code and message, or what the verification found

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.to_json(), "ok": self.ok, "after": dict(self.after), "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(Action.from_json(data["action"]), bool(data["ok"]), dict(data.get("after") or {}), data.get("error"))


@dataclass(frozen=True, slots=True)
class TargetResult:
    """What one worker did in one target. A target-level failure (role not assumable, a read that failed after the
    client's retries) is data here, never an exception, so the run completes for every other target."""

    target: Target
    status: TargetStatus
    mode: Mode
    planned: tuple[Action, ...] = ()
    skipped: tuple[Skip, ...] = ()
    outcomes: tuple[Outcome, ...] = ()  # empty in report mode
    error: str | None = None  # target-level: "AccessDenied: ..." / "paused by kill switch: ..."
    calls: Mapping[str, int] = field(default_factory=dict)  # API calls by service:Operation, for the bench
    holds: tuple[str, ...] = ()  # the plan's holds (circuit breaker tripped, ...): done, but not all of it
    report: Mapping[str, Any] = field(default_factory=dict)  # the plan's report (Plan.report), as it made it

    def to_json(self) -> dict[str, Any]:
        """As the worker returns it: the actions without their ``before["tags"]`` copies (the audit record keeps the
        whole before-state), so a batch's output stays far below the 256 KiB a state may carry."""
        return {
            "target": self.target.to_json(),
            "status": self.status,
            "mode": str(self.mode),
            "planned": [_lean(a.to_json()) for a in self.planned],
            "skipped": [s.to_json() for s in self.skipped],
            "outcomes": [{**o.to_json(), "action": _lean(o.action.to_json())} for o in self.outcomes],
            "error": self.error,
            "calls": dict(self.calls),
            **({"holds": list(self.holds)} if self.holds else {}),
            **({"report": dict(self.report)} if self.report else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetResult:
        return cls(
            target=Target.from_json(data["target"]),
            status=data["status"],
            mode=Mode(data["mode"]),
            planned=tuple(Action.from_json(a) for a in data.get("planned", ())),
            skipped=tuple(Skip.from_json(s) for s in data.get("skipped", ())),
            outcomes=tuple(Outcome.from_json(o) for o in data.get("outcomes", ())),
            error=data.get("error"),
            calls=dict(data.get("calls") or {}),
            holds=tuple(data.get("holds") or ()),
            report=dict(data.get("report") or {}),
        )


def _lean(action: dict[str, Any]) -> dict[str, Any]:
    before = {k: v for k, v in action.get("before", {}).items() if k != "tags"}
    return {**action, "before": before}


class Capability(Protocol):
    """What a capability gives the engine. ``plan`` is pure; ``read`` and ``apply`` get clients for one target."""

    name: str
    MEMBER_PERMISSIONS: tuple[str, ...]  # IAM actions its read and apply call through the member role

    def read(self, scope: Any, ctx: RunContext, target: Target) -> Any:
        """A fresh inventory of one target (``scope``: an ``AccountScope`` in the target's account and region)."""
        ...

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        """Pure: the same inventory, target and context give the same plan, in report and in enforce mode."""
        ...

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> Sequence[Outcome]:
        """Carry out ``plan.actions`` and verify each; per-resource failures are outcomes, not exceptions."""
        ...
