"""The worker: a target's failure is data, a late run stands down, report mode never applies; a batch's targets run
concurrently, in the order of its items."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finops.engine.kill_switch import KillSwitch, NoKillSwitch
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


class Slow(Capability):
    """Each target waits ``seconds`` on its read, as on API answers; the one named ``broken`` raises in its plan."""

    def __init__(self, seconds: float, *, broken: str | None = None) -> None:
        super().__init__(broken=broken)
        self.seconds = seconds
        self.threads: set[str] = set()

    def read(self, scope: Any, ctx: RunContext, target: Target) -> list[str]:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        return ["i-1"]

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> list[Outcome]:
        self.applied.append(target.account)
        return [Outcome(a, True, {"state": "stopped"}) for a in plan.actions]


def test_a_batch_runs_its_targets_concurrently_and_returns_them_in_the_order_of_its_items():
    # Given 12 targets that each wait 0.2 s, and a worker running 4 at a time
    accounts = [f"4444444444{n:02d}" for n in range(12)]
    capability = Slow(0.2)

    began = time.perf_counter()
    results = run(capability, batch(*accounts), concurrency=4)
    wall = time.perf_counter() - began

    # Then the batch takes about 12 / 4 = 3 waits, not 12, and the results keep the items' order
    assert 0.55 < wall < 1.6, wall
    assert [r["target"]["account"] for r in results] == accounts
    assert [r["status"] for r in results] == ["done"] * 12
    assert len(capability.threads) == 4
    assert sorted(capability.applied) == accounts  # each applied once


def test_one_failing_target_does_not_stop_the_others_when_they_run_concurrently():
    capability = Slow(0.05, broken="555555555555")

    results = run(capability, batch("444444444444", "555555555555", "777777777777", "444444444445"), concurrency=4)

    assert [r["status"] for r in results] == ["done", "failed", "failed", "done"]
    assert results[1]["error"] == "unexpected error: KeyError: 'a bug'"
    assert results[2]["error"].startswith("cannot assume FinOpsMemberRole: AccessDenied")
    assert sorted(capability.applied) == ["444444444444", "444444444445"]


def test_every_concurrent_target_is_audited_with_its_own_account():
    audit = MemoryAuditTrail(clock=lambda: NOW)
    accounts = [f"4444444444{n:02d}" for n in range(8)]

    run(Slow(0.02), batch(*accounts), concurrency=8, audit=audit)

    assert sorted(item["target"] for item in audit.items) == [f"{a}/eu-west-1/i-1" for a in accounts]


def test_the_kill_switch_is_read_once_for_a_batch_of_concurrent_targets():
    reads: list[str] = []

    class Ssm:
        def get_parameter(self, Name: str) -> dict[str, Any]:
            reads.append(Name)
            time.sleep(0.05)  # every thread asks while the first read is under way
            return {"Parameter": {"Value": "on"}}

    switch = KillSwitch(Ssm(), "/finops/kill-switch")
    accounts = [f"4444444444{n:02d}" for n in range(6)]

    results = run(Capability(), batch(*accounts), concurrency=6, kill_switch=switch)

    assert reads == ["/finops/kill-switch"]
    assert {r["status"] for r in results} == {"paused"}


def test_a_concurrency_below_one_is_refused():
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        run(Capability(), batch("444444444444"), concurrency=0)
