"""The worker: a target's failure is data, a late run stands down, report mode never applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from finops.engine.kill_switch import NoKillSwitch
from finops.engine.model import Action, Outcome, Plan, RunContext, Target, TargetResult
from finops.engine.worker import run_batch
from finops.models.base import Mode
from finops.services.audit import MemoryAuditTrail

NOW = datetime(2026, 11, 27, 18, tzinfo=UTC)
STOP = Action("i-1", "ec2:instance", "stop", "schedule office-hours changed state", {"state": "running"})


class Scope:
    account, region = "444444444444", "eu-west-1"

    def client(self, service: str) -> Any:
        raise AssertionError("the fake capability makes no calls")

    def log_keys(self) -> dict[str, str]:
        return {}


class Scopes:
    def assume_role(self, account: str, region: str, **_: Any) -> Any:
        if account == "777777777777":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no role"}}, "AssumeRole")
        return Scope()


class Capability:
    name = "scheduler"
    MEMBER_PERMISSIONS = ()

    def __init__(self, *, broken: str | None = None) -> None:
        self.applied: list[str] = []
        self.broken = broken

    def read(self, scope: Any, ctx: RunContext, target: Target) -> list[str]:
        return ["i-1"]

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        if target.account == self.broken:
            raise KeyError("a bug")
        return Plan((STOP,))

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> list[Outcome]:
        self.applied.append(scope.account)
        return [Outcome(a, True, {"state": "stopped"}) for a in plan.actions]


def batch(*accounts: str, mode: Mode = Mode.ENFORCE) -> dict[str, Any]:
    ctx = RunContext(
        "r", "scheduler", "tick", NOW, mode, params={"act_before": (NOW + timedelta(minutes=15)).isoformat()}
    )
    return {"Items": [Target(a, "eu-west-1").to_json() for a in accounts], "BatchInput": {"run": ctx.to_json()}}


def run(capability: Capability, event: dict[str, Any], **more: Any) -> list[dict[str, Any]]:
    deps = {
        "scopes": Scopes(),
        "role_name": "FinOpsMemberRole",
        "kill_switch": NoKillSwitch(),
        "audit": MemoryAuditTrail(clock=lambda: NOW),
        "actor": "test",
    } | more
    return run_batch(capability, event, **deps)["results"]


def test_one_failing_target_does_not_stop_the_others_of_its_batch():
    capability = Capability(broken="555555555555")

    results = run(capability, batch("444444444444", "555555555555", "777777777777"))

    assert [r["status"] for r in results] == ["done", "failed", "failed"]
    assert results[1]["error"] == "unexpected error: KeyError: 'a bug'"
    assert results[2]["error"].startswith("cannot assume FinOpsMemberRole: AccessDenied")


def test_report_mode_plans_and_never_applies():
    capability = Capability()

    [result] = run(capability, batch("444444444444", mode=Mode.REPORT))

    assert capability.applied == []
    assert [a["action"] for a in result["planned"]] == ["stop"]
    assert result["outcomes"] == []


def test_a_worker_that_gets_its_run_after_the_next_tick_stands_down():
    capability = Capability()

    [late] = run(capability, batch("444444444444"), wall_clock=lambda: NOW + timedelta(minutes=16))
    [on_time] = run(capability, batch("444444444444"), wall_clock=lambda: NOW + timedelta(minutes=3))

    assert late["status"] == "paused"
    assert late["error"].startswith("too late to act")
    assert on_time["status"] == "done"
    assert capability.applied == ["444444444444"]


def test_a_plans_report_reaches_the_targets_result_and_survives_json():
    """What a capability found beside its actions (the tag compliance's findings) travels through the Map as it was."""
    report = {"noncompliant": [{"id": "i-1", "missing": ["team"], "invalid": {}}], "counts": {"ec2:instance": [3, 2]}}

    class Reporting(Capability):
        def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
            return Plan((), report=report)

    [result] = run(Reporting(), batch("444444444444", mode=Mode.REPORT))

    assert result["report"] == report
    assert TargetResult.from_json(result).report == report
    assert "report" not in run(Capability(), batch("444444444444", mode=Mode.REPORT))[0]
