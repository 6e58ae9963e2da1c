"""The tag compliance digest: what a team's engineer, with a terminal open, and the platform team read in Slack.

The shipped config: teams payments (#payments-oncall, mention <!subteam^S0PAYMENTS>), data (#data-oncall, no
mention) and platform; default channel #finops-alerts; the team tag's values payments, data, platform in lower case;
environment prod, staging, dev; cost-center ^CC-[0-9]{4}$; grace_days 7.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from finops.engine.model import Action, Outcome, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import SlackMessage
from finops.notify.compliance_digest import (
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    compliance_digests,
    fix_commands,
    problems_in_words,
)
from tests.stacks.template_helpers import config_with

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # a Monday: the weekly digest's day
DEADLINE = "2026-12-07T05:00:00Z"  # a Monday, grace_days (7) after the mark
PAYMENTS_DEV = Target("333333333333", "eu-west-1", name="payments-dev", team="payments")
DATA_DEV = Target("444444444444", "us-east-1", name="data-dev", team="data")
SANDBOX = Target("555555555555", "eu-west-1", name="sandbox")  # an account without a team
DEFAULT = "#finops-alerts"
MORE = "(see the run summary, run id `run-7`)"


# --- builders -----------------------------------------------------------------------------------------------------


def ctx(mode: Mode = Mode.ENFORCE) -> RunContext:
    return RunContext(run_id="run-7", capability="tag_compliance", kind="weekly", now=NOW, mode=mode)


def finding(target: Target, ident: str, kind: str = "ec2:instance", **fields: Any) -> dict[str, Any]:
    return {
        "account": target.account,
        "region": target.region,
        "type": kind,
        "id": ident,
        "name": None,
        "team": target.team,
        "missing": [],
        "invalid": {},
        "problems": {},
        **fields,
    }


# What the capability writes (finops.rules.tag_compliance.evaluate) for a resource without cost-center and with
# environment=Prod.
WEB_1 = finding(
    PAYMENTS_DEV,
    "i-0abc1234567890def",
    name="web-1",
    team="payments",
    missing=["cost-center"],
    invalid={"environment": "Prod"},
    problems={
        "cost-center": "missing: set cost-center to a value matching ^CC-[0-9]{4}$",
        "environment": "wrong case: write prod",
    },
    deadline=DEADLINE,
)
# The team tag written Team=Payments: a wrong-case key (and a wrongly cased value).
WORKER = finding(
    PAYMENTS_DEV,
    "i-0fed0987654321cba",
    name="worker",
    team="payments",
    invalid={"Team": "Payments"},
    problems={"Team": "wrong case of the key: the taxonomy spells it team; and its value: wrong case: write payments"},
)
ORDERS_DB = finding(
    PAYMENTS_DEV,
    "orders",
    kind="rds:db",
    team="payments",
    arn="arn:aws:rds:eu-west-1:333333333333:db:orders",
    missing=["cost-center"],
    problems={"cost-center": "missing: set cost-center to a value matching ^CC-[0-9]{4}$"},
)


def result(
    target: Target,
    *findings: dict[str, Any],
    evaluated: dict[str, dict[str, list[int]]] | None = None,
    planned: tuple[Action, ...] = (),
    outcomes: tuple[Outcome, ...] = (),
    mode: Mode = Mode.ENFORCE,
    skipped: tuple[Skip, ...] = (),
    **report: Any,
) -> TargetResult:
    counts = evaluated or {"ec2:instance": {target.team or "": [10, 10 - len(findings)]}}
    return TargetResult(
        target,
        "done",
        mode,
        planned=planned,
        outcomes=outcomes,
        skipped=skipped,
        report={"evaluated": counts, "noncompliant": list(findings), **report},
    )


def mark(ident: str, team: str | None = "payments", name: str | None = None) -> Action:
    return Action(
        ident,
        "ec2:instance",
        "mark",
        "non-compliant: fix the tags by 2026-12-07",
        team=team,
        name=name,
        details={"deadline": DEADLINE},
    )


def stop(ident: str, team: str | None = "payments", name: str | None = None) -> Action:
    return Action(
        ident,
        "ec2:instance",
        "stop",
        "still non-compliant (missing cost-center) after its deadline 2026-11-23",
        team=team,
        name=name,
        details={"deadline": "2026-11-23T05:00:00Z"},
    )


def done(*actions: Action) -> tuple[Outcome, ...]:
    return tuple(Outcome(a, True) for a in actions)


KPIS: dict[str, Any] = {
    "resources": {"total": 40, "compliant": 30, "percent": 75.0},
    "by_account": {
        "333333333333": {"total": 25, "compliant": 22, "percent": 88.0},
        "444444444444": {"total": 15, "compliant": 8, "percent": 53.3},
    },
    "by_team": {
        "payments": {"total": 25, "compliant": 22, "percent": 88.0},
        "data": {"total": 10, "compliant": 6, "percent": 60.0},
        "": {"total": 5, "compliant": 2, "percent": 40.0},
    },
    "by_type": {"ec2:instance": {"total": 30, "compliant": 24}, "rds:db": {"total": 10, "compliant": 6}},
    "spend": {
        "period": {"start": "2026-10-31", "end": "2026-11-30"},
        "metric": "AmortizedCost",
        "tag_key": "team",
        "total_usd": 3000.0,
        "attributed_usd": 1940.0,
        "unattributed_usd": 1000.0,
        "percent_attributable": 64.7,
        "by_team": {"payments": 1440.0, "data": 500.0},
        "unknown_teams": {"Payments": 60.0},
        "cost_allocation_tags": {"team": "Inactive"},
        "notes": ["cost allocation tag 'team' is Inactive: Cost Explorer groups no spend by it"],
    },
}


def read(message: SlackMessage) -> str:
    """Everything a person reads in the message, as Slack shows the escaped characters."""
    parts = [message.text]
    for block in message.blocks:
        if block["type"] in ("header", "section"):
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts += [element["text"] for element in block["elements"]]
    return "\n".join(parts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def by_channel(messages: list[SlackMessage]) -> dict[str, SlackMessage]:
    channels = [m.channel for m in messages]
    assert len(channels) == len(set(channels)), "one message per channel: the engine posts once per run and channel"
    return {m.channel: m for m in messages}


# --- the fix a person pastes ----------------------------------------------------------------------------------


def test_each_team_reads_its_non_compliant_resources_with_the_command_that_fixes_each(config: FinOpsConfig) -> None:
    results = [result(PAYMENTS_DEV, WEB_1, WORKER, ORDERS_DB)]

    payments = by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=True))["#payments-oncall"]

    text = read(payments)
    assert payments.text.startswith("<!subteam^S0PAYMENTS> Tag compliance: payments 70% compliant, 3 non-compliant")
    assert payments.mentions == "<!subteam^S0PAYMENTS> "
    assert "*3 resources need tags*" in text
    assert (
        "• *web-1* `i-0abc1234567890def` · EC2 instance · payments-dev (333333333333) · eu-west-1\n"
        "      `cost-center`: missing: set cost-center to a value matching ^CC-[0-9]{4}$; "
        "`environment=Prod`: wrong case: write prod\n"
        "      :hourglass_flowing_sand: marked: fix by *Mon 7 Dec*\n"
        "      `aws ec2 create-tags --region eu-west-1 --resources i-0abc1234567890def "
        "--tags Key=environment,Value=prod Key=cost-center,Value=<CC-[0-9]{4}>`"
    ) in text
    assert (
        "`aws rds add-tags-to-resource --region eu-west-1 --resource-name "
        "arn:aws:rds:eu-west-1:333333333333:db:orders --tags Key=cost-center,Value=<CC-[0-9]{4}>`"
    ) in text
    assert "a running EC2 instance still non-compliant is stopped unless it is prod or protected" in text
    assert "Nothing is ever deleted for its tags" in text


def test_a_wrongly_cased_key_is_fixed_by_adding_the_right_key_before_deleting_the_wrong_one(
    config: FinOpsConfig,
) -> None:
    assert fix_commands(WORKER, config) == [
        "aws ec2 create-tags --region eu-west-1 --resources i-0fed0987654321cba --tags Key=team,Value=payments",
        "aws ec2 delete-tags --region eu-west-1 --resources i-0fed0987654321cba --tags Key=Team",
    ]
    assert problems_in_words(WORKER, config) == [
        "`Team=Payments`: wrong case of the key: the taxonomy spells it team; and its value: wrong case: write payments"
    ]


@pytest.mark.parametrize(
    ("fields", "commands"),
    [
        pytest.param(
            # team and Team both there: keep team=data as it is, only delete Team
            {"invalid": {"Team": "payments"}, "problems": {"Team": "team again, written 'Team': remove Team"}},
            ["aws ec2 delete-tags --region eu-west-1 --resources vol-1 --tags Key=Team"],
            id="the key twice: only the extra one goes",
        ),
        pytest.param(
            {"missing": ["team", "environment"]},
            [
                "aws ec2 create-tags --region eu-west-1 --resources vol-1 "
                "--tags Key=team,Value=<payments|data|platform> Key=environment,Value=<prod|staging|dev>"
            ],
            id="missing keys: the allowed values to choose from",
        ),
        pytest.param(
            {"invalid": {"environment": " dev "}},
            ["aws ec2 create-tags --region eu-west-1 --resources vol-1 --tags Key=environment,Value=dev"],
            id="a padded value: given trimmed",
        ),
        pytest.param(
            {"invalid": {"team": "paymnts"}},
            ["aws ec2 create-tags --region eu-west-1 --resources vol-1 --tags Key=team,Value=<payments|data|platform>"],
            id="a typo: the allowed values, not a guess",
        ),
        pytest.param(
            {"invalid": {" team": "data"}, "problems": {" team": "spaces around the key: the taxonomy spells it team"}},
            [
                "aws ec2 create-tags --region eu-west-1 --resources vol-1 --tags Key=team,Value=data",
                "aws ec2 delete-tags --region eu-west-1 --resources vol-1 --tags 'Key= team'",
            ],
            id="a key with a space: quoted for the shell",
        ),
    ],
)
def test_fix_commands(config: FinOpsConfig, fields: dict[str, Any], commands: list[str]) -> None:
    assert fix_commands(finding(PAYMENTS_DEV, "vol-1", "ec2:volume", **fields), config) == commands


def test_an_rds_cluster_without_an_arn_in_its_finding_gets_one_built_from_its_account_and_region(
    config: FinOpsConfig,
) -> None:
    cluster = finding(DATA_DEV, "analytics", "rds:cluster", invalid={"Team": "data"})

    assert fix_commands(cluster, config) == [
        "aws rds add-tags-to-resource --region us-east-1 --resource-name "
        "arn:aws:rds:us-east-1:444444444444:cluster:analytics --tags Key=team,Value=data",
        "aws rds remove-tags-from-resource --region us-east-1 --resource-name "
        "arn:aws:rds:us-east-1:444444444444:cluster:analytics --tag-keys Team",
    ]


# --- report and enforce ---------------------------------------------------------------------------------------


def test_report_mode_says_what_would_be_marked_and_stopped_and_how_to_enforce(config: FinOpsConfig) -> None:
    results = [
        result(
            PAYMENTS_DEV, WEB_1, planned=(mark("i-0abc1234567890def", name="web-1"), stop("i-0old")), mode=Mode.REPORT
        )
    ]

    payments = by_channel(compliance_digests(results, KPIS, ctx(Mode.REPORT), config, weekly=False))["#payments-oncall"]

    text = read(payments)
    assert payments.text.startswith("<!subteam^S0PAYMENTS> Tag compliance (preview, nothing changed): ")
    assert "would mark 1, would stop 1" in payments.text
    assert "*Preview (report mode)*: would mark 1, stop 1; nothing was changed." in text
    assert "Set `capabilities.tag_enforcement.mode: enforce` in finops.yaml" in text
    assert "*Would mark (1)*" in text
    assert "would be marked: fix by Mon 7 Dec" in text
    assert "*Would stop (1)*" in text
    assert "start it again" not in text  # nothing was stopped
    assert "In report mode nothing is marked or stopped." in text


def test_enforce_mode_lists_the_stops_with_the_command_to_start_again_and_the_failures_with_what_to_do(
    config: FinOpsConfig,
) -> None:
    failed_mark = mark("i-0fed0987654321cba")
    never_reported = mark("i-0ccc")
    results = [
        result(
            PAYMENTS_DEV,
            WORKER,
            planned=(stop("i-0old", name="old-1"), failed_mark, never_reported),
            outcomes=(
                *done(stop("i-0old", name="old-1")),
                Outcome(
                    failed_mark, False, error="UnauthorizedOperation: You are not authorized to perform ec2:CreateTags"
                ),
            ),
        )
    ]

    payments = by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=False))["#payments-oncall"]

    text = read(payments)
    assert "*Stopped (1)*: still non-compliant after the grace period" in text
    assert "once tagged, start it again: `aws ec2 start-instances --region eu-west-1 --instance-ids i-0old`" in text
    assert ":x: *Failed (2)*: not changed" in text
    assert "Mark failed: UnauthorizedOperation: You are not authorized to perform ec2:CreateTags" in text
    assert "update the FinOps member StackSet in this account" in text
    assert "Mark failed: no result recorded" in text  # a planned change without an outcome is never a success
    assert "1 stopped" in payments.text
    assert "2 failed" in payments.text


def test_on_other_days_only_the_channels_with_marks_stops_or_failures_hear_anything(config: FinOpsConfig) -> None:
    results = [
        result(PAYMENTS_DEV, WEB_1, planned=(mark("i-0abc1234567890def"),), outcomes=done(mark("i-0abc1234567890def"))),
        result(DATA_DEV, finding(DATA_DEV, "i-0data", missing=["cost-center"], deadline=DEADLINE)),  # marked before
    ]

    messages = compliance_digests(results, KPIS, ctx(), config, weekly=False)

    assert [m.channel for m in messages] == ["#payments-oncall"]
    text = read(messages[0])
    assert ":hourglass_flowing_sand: *Marked (1)*: fix the tags before the day on each line" in text
    assert "marked in this run: fix by *Mon 7 Dec*" in text
    assert "`aws ec2 create-tags --region eu-west-1 --resources i-0abc1234567890def" in text


def test_weekly_every_team_with_resources_hears_even_when_all_is_well(config: FinOpsConfig) -> None:
    results = [result(DATA_DEV, evaluated={"ec2:instance": {"data": [4, 4]}, "ec2:volume": {"data": [6, 6]}})]

    data = by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=True))["#data-oncall"]

    text = read(data)
    assert data.mentions == ""  # nothing to fix: nobody is paged
    assert "Tag compliance: data 100% compliant" in text
    assert ":tada: Every resource is tagged as the taxonomy asks." in text
    assert "EC2 instance 100% (4/4) · EBS volume 100% (6/6)" in text


# --- where each resource goes ---------------------------------------------------------------------------------


def test_a_team_without_a_route_goes_to_the_default_channel_which_says_how_to_route_it(config: FinOpsConfig) -> None:
    taxonomy = config.taxonomy.model_dump(mode="json")
    taxonomy["tags"][0]["allowed_values"] = ["payments", "data", "platform", "research"]
    variant = config_with(config, taxonomy=taxonomy)
    research = Target("666666666666", "eu-west-1", name="research-lab", team="research")
    results = [result(research, finding(research, "i-0lab", team="research", missing=["cost-center"]))]

    default = by_channel(compliance_digests(results, KPIS, ctx(), variant, weekly=True))[DEFAULT]

    text = read(default)
    assert ":warning: *Sent here: no route in `notifications.teams`*" in text
    assert (
        '• team *research* (1 resource): add `notifications.teams.research: {channel: "#..."}` to finops.yaml'
    ) in text
    assert "`i-0lab` · EC2 instance · research-lab (666666666666) · eu-west-1" in text
    assert default.mentions == ""  # no one is paged on another team's behalf


def test_a_resource_whose_team_tag_names_no_team_goes_to_its_accounts_team(config: FinOpsConfig) -> None:
    typo = finding(DATA_DEV, "i-0typo", team="dta", invalid={"team": "dta"})
    unowned = finding(SANDBOX, "i-0sand", team=None, missing=["team"])
    results = [result(DATA_DEV, typo), result(SANDBOX, unowned)]

    channels = by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=True))

    assert "`i-0typo`" in read(channels["#data-oncall"])
    assert "Key=team,Value=<payments|data|platform>" in read(channels["#data-oncall"])
    assert "`i-0sand`" in read(channels[DEFAULT])
    assert "resources without an owning team" in read(channels[DEFAULT])
    assert "`i-0sand`" not in read(channels["#data-oncall"])


# --- the Organization's KPIs ----------------------------------------------------------------------------------


def test_the_default_channel_gets_the_organizations_kpis_and_the_spend_attributable(config: FinOpsConfig) -> None:
    unreachable = TargetResult(
        Target("777777777777", "us-east-1", name="legacy"),
        "failed",
        Mode.ENFORCE,
        error="AccessDenied: User is not authorized to perform: sts:AssumeRole",
    )
    results = [result(PAYMENTS_DEV, WEB_1), result(DATA_DEV), unreachable]
    archive = {"888888888888": {"name": "archive", "total": 2, "compliant": 2, "percent": 100.0}}  # no target here
    kpis = {**KPIS, "by_account": {**KPIS["by_account"], **archive}}

    default = by_channel(compliance_digests(results, kpis, ctx(), config, weekly=True))[DEFAULT]

    text = read(default)
    assert default.text.startswith("Tag compliance: Organization 75% compliant")
    assert (
        ":bar_chart: *Resources*: 75% compliant (30 of 40)\nEC2 instance 80% (24/30) · RDS instance 60% (6/10)" in text
    )
    assert (
        "*By team*\n• data: 60% (6/10), 4 non-compliant\n• payments: 88% (22/25), 3 non-compliant\n• no team tag"
        in text
    )
    assert (
        "*By account* (least compliant first)\n• data-dev (444444444444): 53.3% (8/15)\n"
        "• payments-dev (333333333333): 88% (22/25)\n• archive (888888888888): 100% (2/2)"
    ) in text
    assert ":moneybag: *Spend attributable to a team*: 64.7% of $3,000.00, tag `team`, 2026-10-31 → 2026-11-30" in text
    assert "• payments: $1,440.00\n• data: $500.00" in text
    assert "• tagged, but not a known team: `Payments` $60.00" in text
    assert "• unattributed (no `team` tag): $1,000.00" in text
    assert "Cost allocation tags: `team` Inactive" in text
    assert "cost allocation tag 'team' is Inactive: Cost Explorer groups no spend by it" in text
    assert ":warning: *Not evaluated (1 account/region)*: not in these figures" in text
    assert "• legacy (777777777777) · us-east-1: AccessDenied: User is not authorized" in text


def test_a_spend_kpi_that_failed_says_so_with_its_notes(config: FinOpsConfig) -> None:
    kpis = {
        **KPIS,
        "spend": {"error": "AccessDenied: no", "notes": ["the spend KPI needs the role finops-cost-reader"]},
    }

    default = by_channel(compliance_digests([result(DATA_DEV)], kpis, ctx(), config, weekly=True))[DEFAULT]

    text = read(default)
    assert "*Spend attributable to a team*: not available this run (AccessDenied: no)" in text
    assert "• the spend KPI needs the role finops-cost-reader" in text


def test_on_other_days_the_default_channel_hears_only_of_the_targets_not_evaluated(config: FinOpsConfig) -> None:
    unreachable = TargetResult(Target("777777777777", "us-east-1"), "failed", Mode.ENFORCE, error="AccessDenied: no")

    quiet = compliance_digests([result(DATA_DEV)], KPIS, ctx(), config, weekly=False)
    failing = compliance_digests([result(DATA_DEV), unreachable], KPIS, ctx(), config, weekly=False)

    assert quiet == []
    assert [m.channel for m in failing] == [DEFAULT]
    assert "1 account/region not evaluated" in failing[0].text


# --- what else a line says ----------------------------------------------------------------------------------------


def test_an_exempt_resource_says_it_is_never_marked_or_stopped_and_an_overdue_one_why_it_was_not_stopped(
    config: FinOpsConfig,
) -> None:
    exempt = finding(PAYMENTS_DEV, "i-0prod", missing=["cost-center"], exempt="prod (environment=prod)")
    overdue = finding(PAYMENTS_DEV, "i-0asg", missing=["cost-center"], deadline="2026-11-23T05:00:00Z", overdue=True)
    skip = Skip("i-0asg", "ec2:instance", "past its tagging deadline, not stopped: member of Auto Scaling group web")
    results = [result(PAYMENTS_DEV, exempt, overdue, skipped=(skip,))]

    text = read(by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=True))["#payments-oncall"])

    assert ":shield: never marked or stopped: prod (environment=prod)" in text
    assert (
        "marked: fix by *Mon 23 Nov* · past it, not stopped: past its tagging deadline, not stopped: member of Auto "
        "Scaling group web"
    ) in text


def test_names_from_aws_cannot_page_a_channel(config: FinOpsConfig) -> None:
    sneaky = finding(PAYMENTS_DEV, "i-0bad", name="<!channel> hi", missing=["cost-center"])

    message = by_channel(compliance_digests([result(PAYMENTS_DEV, sneaky)], KPIS, ctx(), config, weekly=True))[
        "#payments-oncall"
    ]

    raw = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert "<!channel>" not in raw
    assert "&lt;!channel&gt; hi" in raw


# --- Slack's limits -------------------------------------------------------------------------------------------


def test_a_large_estate_is_cut_to_slacks_limits_with_how_many_more_and_where_they_are(config: FinOpsConfig) -> None:
    many = [
        finding(
            PAYMENTS_DEV, f"i-{n:017x}", name=f"batch-{n}", missing=["cost-center", "environment"], deadline=DEADLINE
        )
        for n in range(400)
    ]
    stops = tuple(stop(f"i-stop{n:04}") for n in range(60))
    results = [result(PAYMENTS_DEV, *many, planned=stops, outcomes=done(*stops), noncompliant_not_listed=25)]

    payments = by_channel(compliance_digests(results, KPIS, ctx(), config, weekly=True))["#payments-oncall"]

    assert len(payments.blocks) <= MAX_BLOCKS
    sections = [b["text"]["text"] for b in payments.blocks if b["type"] == "section"]
    assert all(len(text) <= SECTION_TEXT_LIMIT for text in sections)
    assert all(len(b["text"]["text"]) <= 150 for b in payments.blocks if b["type"] == "header")
    text = read(payments)
    assert ":label: *Non-compliant (425)*" in text
    listed = len(re.findall(r"^• \*batch-\d+\*", text, flags=re.MULTILINE))
    assert 0 < listed < 400
    assert f"… and {425 - listed} more {MORE}" in text
    assert "*Stopped (60)*" in text
    assert re.search(r"… and \d+ more \(see the run summary", text.split("*Non-compliant")[0])  # the stops, cut too


def test_long_lines_are_cut_by_the_blocks_left_and_still_say_how_many_more(config: FinOpsConfig) -> None:
    wordy = {f"label-{k}": "x" * 250 for k in range(8)}  # tags the taxonomy does not know, each said in words
    findings = [finding(PAYMENTS_DEV, f"i-long{n:04}", invalid=wordy, missing=["cost-center"]) for n in range(59)]

    payments = by_channel(compliance_digests([result(PAYMENTS_DEV, *findings)], KPIS, ctx(), config, weekly=True))[
        "#payments-oncall"
    ]

    assert len(payments.blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in payments.blocks if b["type"] == "section")
    text = read(payments)
    listed = len(re.findall(r"^• `i-long\d+`", text, flags=re.MULTILINE))
    assert 0 < listed < 59
    assert f"… and {59 - listed} more {MORE}" in text
    assert payments.blocks[-1]["elements"][0]["text"].startswith("tag_compliance weekly run `run-7`")


def test_changes_held_back_for_later_runs_reach_the_accounts_team_and_the_default_channel(
    config: FinOpsConfig,
) -> None:
    hold = (
        "Tag enforcement: 12 changes left for later runs in payments-dev (333333333333) eu-west-1 (12 mark): at most "
        "40 per account and region per run (ACTIONS_PER_BATCH / engine.targets_per_invocation)"
    )
    held = TargetResult(PAYMENTS_DEV, "done", Mode.ENFORCE, holds=(hold,), report={"evaluated": {}, "noncompliant": []})

    channels = by_channel(compliance_digests([held], KPIS, ctx(), config, weekly=False))

    assert sorted(channels) == [DEFAULT, "#payments-oncall"]
    for message in channels.values():
        assert "changes held back in 1 account/region" in message.text
        assert f":warning: *Held back*\n• payments-dev (333333333333) · eu-west-1: {hold}" in read(message)


def test_with_enforcement_paused_the_preview_says_how_to_resume_not_how_to_enforce(config: FinOpsConfig) -> None:
    paused = config_with(config, capabilities={"tag_enforcement": {"mode": "enforce", "paused": True}})
    results = [result(PAYMENTS_DEV, WEB_1, planned=(mark("i-0abc1234567890def"),), mode=Mode.REPORT)]

    text = read(compliance_digests(results, KPIS, ctx(Mode.REPORT), paused, weekly=False)[0])

    assert "Enforcement is paused: set `capabilities.tag_enforcement.paused: false` in finops.yaml to resume." in text
    assert "capabilities.tag_enforcement.mode: enforce" not in text
