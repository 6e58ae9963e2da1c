"""Tag compliance on the engine, without AWS: the hub's decision (weekly digest day, disabled, paused remediation), the
run's KPIs and findings from every target's report, and the aggregate's conclusion hook (merged into the document,
handed to the renderer, cut by ``compact``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from finops.aws.organizations import Enumeration
from finops.engine.aggregate import MAX_LISTED, aggregate, compact
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.local import run_locally
from finops.engine.model import Action, RunContext, Target, TargetResult
from finops.engine.request import parse_run_request
from finops.engine.start import start_run
from finops.engine.state import MemoryRunState
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import SlackMessage
from finops.notify.slack import Delivery
from finops.services import tag_compliance_run
from finops.services.tag_compliance.kpis import compliance_kpis, run_findings
from finops.services.tag_compliance_run import PAUSED_NOTE, TagComplianceCapability, TagComplianceSpec
from tests.stacks.template_helpers import config_with

MONDAY = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
STAGING = Target("444444444444", "eu-west-1", name="payments-staging", team="payments")
DEV = Target("555555555555", "eu-west-1", name="data-dev", team="data")
DEV_US = Target("555555555555", "us-east-1", name="data-dev", team="data")
LEGACY = Target("777777777777", "eu-west-1", name="sandbox-legacy", team="platform")


def finding(target: Target, kind: str, resource: str, **extra: Any) -> dict[str, Any]:
    return {"account": target.account, "region": target.region, "type": kind, "id": resource, "missing": ["team"]}


def result(
    target: Target, evaluated: dict[str, Any], findings: list[dict[str, Any]], unlisted: int = 0
) -> TargetResult:
    report: dict[str, Any] = {"evaluated": evaluated, "noncompliant": findings}
    if unlisted:
        report["noncompliant_not_listed"] = unlisted
    return TargetResult(target, "done", Mode.REPORT, report=report)


RESULTS = [
    result(
        DEV_US,
        {"ec2:volume": {"data": [3, 1]}},
        [finding(DEV_US, "ec2:volume", "vol-b"), finding(DEV_US, "ec2:volume", "vol-a")],
    ),
    result(
        STAGING,
        {"ec2:instance": {"payments": [4, 3], "": [1, 0]}, "rds:db": {"payments": [2, 2]}},
        [finding(STAGING, "ec2:instance", "i-9"), finding(STAGING, "ec2:instance", "i-1")],
        unlisted=3,
    ),
    result(DEV, {"ec2:instance": {"data": [2, 2]}}, []),
    TargetResult(LEGACY, "failed", Mode.REPORT, error="cannot assume FinOpsMemberRole: AccessDenied"),
]


def test_the_kpis_count_every_resource_of_every_target_read_by_account_team_and_type():
    kpis = compliance_kpis(RESULTS)

    assert kpis["resources"] == {"total": 12, "compliant": 8, "percent": 66.7}
    assert kpis["by_account"] == {
        "444444444444": {"name": "payments-staging", "total": 7, "compliant": 5, "percent": 71.4},
        "555555555555": {"name": "data-dev", "total": 5, "compliant": 3, "percent": 60.0},
    }
    assert kpis["by_team"] == {
        "": {"total": 1, "compliant": 0, "percent": 0.0},
        "data": {"total": 5, "compliant": 3, "percent": 60.0},
        "payments": {"total": 6, "compliant": 5, "percent": 83.3},
    }
    assert kpis["by_type"]["ec2:instance"] == {"total": 7, "compliant": 5, "percent": 71.4}
    # the unreachable account is in no figure, and the KPIs say so
    assert kpis["targets"] == {"total": 4, "evaluated": 3, "not_evaluated": 1}
    assert compliance_kpis([])["resources"] == {"total": 0, "compliant": 0, "percent": None}


def test_the_findings_of_every_target_come_sorted_with_the_unlisted_counted():
    findings, unlisted = run_findings(RESULTS)

    assert [(f["account"], f["region"], f["id"]) for f in findings] == [
        ("444444444444", "eu-west-1", "i-1"),
        ("444444444444", "eu-west-1", "i-9"),
        ("555555555555", "us-east-1", "vol-a"),
        ("555555555555", "us-east-1", "vol-b"),
    ]
    assert unlisted == 3


# -- the hub's decision ----------------------------------------------------------------------------------------------


def start(config: FinOpsConfig, when: datetime, **event: Any) -> Any:
    return start_run(
        TagComplianceSpec(),
        parse_run_request({"capability": "tag_compliance", "time": when.isoformat(), **event}),
        config=config,
        run_id="r1",
        state=MemoryRunState(),
        kill_switch=NoKillSwitch(),
        enumerate_targets=lambda: Enumeration([STAGING, DEV]),
    )


@pytest.mark.parametrize(
    ("when", "event", "kind", "weekly"),
    [
        (MONDAY, {}, "weekly", True),  # digest_weekday: mon
        (TUESDAY, {}, "daily", False),
        (TUESDAY, {"digest": True}, "weekly", True),  # make invoke / the demo ask for it
    ],
)
def test_the_run_of_the_digest_weekday_posts_the_weekly_digest(
    config: FinOpsConfig, when: datetime, event: dict[str, Any], kind: str, weekly: bool
) -> None:
    decision = start(config, when, **event)

    assert decision.fan_out
    assert (decision.run.kind, decision.run.params["weekly_digest"]) == (kind, weekly)
    assert decision.run.mode is Mode.REPORT  # as shipped: tag_enforcement.mode report


def test_mode_comes_from_tag_enforcement_and_its_pause_pauses_the_remediation_only(config: FinOpsConfig) -> None:
    enforce = config_with(config, capabilities={"tag_enforcement": {"mode": "enforce"}})
    paused = config_with(config, capabilities={"tag_enforcement": {"mode": "enforce", "paused": True}})

    assert start(enforce, TUESDAY).run.mode is Mode.ENFORCE
    decision = start(paused, TUESDAY)
    assert decision.fan_out  # still evaluated and reported
    assert decision.run.mode is Mode.REPORT
    assert PAUSED_NOTE in decision.notes


def test_a_disabled_capability_starts_nothing_and_says_why(config: FinOpsConfig) -> None:
    disabled = config_with(config, capabilities={"tag_compliance": {"enabled": False}})

    document = run_locally(
        TagComplianceSpec(),
        TagComplianceCapability(disabled),
        parse_run_request({"capability": "tag_compliance", "time": MONDAY.isoformat()}),
        config=disabled,
        run_id="r1",
        state=MemoryRunState(),
        kill_switch=NoKillSwitch(),
        enumerate_targets=lambda: pytest.fail("a disabled capability must not read the Organization"),
        worker_deps={},
        render=lambda results, ctx, conclusion: pytest.fail("nothing to render"),
        deliver=lambda message, key: pytest.fail("nothing to deliver"),
    )

    assert document["status"] == "disabled"
    assert document["reason"] == "disabled in the config (capabilities.tag_compliance.enabled: false)"


# -- the conclusion: in the document, to the renderer, cut by compact ------------------------------------------------


def test_the_conclusion_goes_into_the_document_and_to_the_digest(config: FinOpsConfig, monkeypatch) -> None:
    spend = {"percent_attributable": 72.5, "total_usd": 1000.0}
    emitted: list[Mapping[str, Any]] = []
    monkeypatch.setattr(tag_compliance_run, "spend_kpi", lambda clients, cfg, now: {**spend, "now": now.isoformat()})
    monkeypatch.setattr(tag_compliance_run, "emit_kpi_metrics", lambda kpis: emitted.append(kpis) or 7)
    ctx = RunContext("r1", "tag_compliance", "weekly", MONDAY, Mode.REPORT, params={"weekly_digest": True})
    seen: list[Mapping[str, Any]] = []

    def render(results: Sequence[TargetResult], ctx: RunContext, conclusion: Mapping[str, Any]) -> list[SlackMessage]:
        seen.append(conclusion)
        return []

    document = aggregate(
        ctx,
        RESULTS,
        config=config,
        render=render,
        deliver=lambda message, key: Delivery(message.channel, "delivered", "test"),
        state=MemoryRunState(),
        conclude=lambda results, ctx: TagComplianceSpec().conclude(results, ctx, config=config, clients=None),  # type: ignore[arg-type]
    )

    assert [f["id"] for f in document["noncompliant"]] == ["i-1", "i-9", "vol-a", "vol-b"]
    assert document["noncompliant_not_listed"] == 3
    assert document["kpis"]["resources"]["percent"] == 66.7
    assert document["kpis"]["spend"] == {**spend, "now": MONDAY.isoformat()}
    assert emitted == [document["kpis"]]  # the metrics are the document's KPIs
    assert seen == [{k: document[k] for k in ("noncompliant", "noncompliant_not_listed", "kpis")}]
    assert list(document)[-1] == "results"


def test_compact_cuts_the_findings_like_the_other_lists_and_counts_them():
    document = {"noncompliant": [{"id": str(i)} for i in range(MAX_LISTED + 20)], "noncompliant_not_listed": 5}

    small = compact(document)

    assert len(small["noncompliant"]) == MAX_LISTED
    assert small["noncompliant_not_listed"] == 25


def test_a_conclusion_that_would_overwrite_the_document_fails_before_anything_is_posted(config: FinOpsConfig) -> None:
    state = MemoryRunState()
    ctx = RunContext("r1", "tag_compliance", "daily", MONDAY, Mode.REPORT)
    posted: list[str] = []

    with pytest.raises(ValueError, match=r"overwrite the run document's \['status'\]"):
        aggregate(
            ctx,
            RESULTS,
            config=config,
            render=lambda results, ctx, conclusion: [SlackMessage(channel="#x", text="t", blocks=())],
            deliver=lambda message, key: posted.append(key) or Delivery(message.channel, "delivered", "test"),
            state=state,
            conclude=lambda results, ctx: {"status": "all good"},
        )
    assert posted == []
    assert state.completed == {}


def test_the_digest_is_the_compliance_digest_with_the_kpis_and_the_weekly_flag(config: FinOpsConfig, monkeypatch):
    from finops.notify import compliance_digest
    from finops.runtime import digest_renderer

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        compliance_digest, "compliance_digests", lambda *args, **kw: calls.append((*args, kw)) or ["message"]
    )
    ctx = RunContext("r1", "tag_compliance", "daily", TUESDAY, Mode.REPORT, params={"weekly_digest": False})

    messages = digest_renderer(TagComplianceSpec(), config)(RESULTS, ctx, {"kpis": {"resources": {}}})

    assert messages == ["message"]
    assert calls == [(RESULTS, {"resources": {}}, ctx, config, {"weekly": False})]


def test_a_mark_action_is_an_action_the_engine_can_carry():
    """What the digest reads of a planned mark: its deadline (and, for RDS, its ARN) in the details."""
    action = Action("db-1", "rds:db", "mark", "x", details={"arn": "arn:aws:rds:x", "deadline": "2026-12-07T05:00:00Z"})

    assert Action.from_json(action.to_json()) == action
