"""The scheduler's per-team digest: what an on-call engineer or a team lead reads after a run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from finops.engine.model import Action, Outcome, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode
from finops.notify.blocks import SlackMessage
from finops.notify.digest import MAX_BLOCKS, SECTION_TEXT_LIMIT, digests

NOW = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # a Friday
TITLE = "Scheduler evening stop"
PAYMENTS_DEV = Target("333333333333", "eu-west-1", name="payments-dev", team="payments")
DATA_DEV = Target("444444444444", "us-east-1", name="data-dev", team="data")
NO_TEAM = Target("555555555555", "eu-west-1", name="sandbox")


# --- builders -----------------------------------------------------------------------------------------------------


def context(mode: Mode = Mode.ENFORCE) -> RunContext:
    return RunContext(run_id="run-1", capability="scheduler", kind="tick", now=NOW, mode=mode)


def act(
    resource: str,
    *,
    action: str = "stop",
    name: str | None = None,
    kind: str = "ec2:instance",
    size: str | None = "m6i.large",
    off_hours: float | None = 60.0,
    count: int = 1,
    service: str | None = None,
    team: str | None = None,
) -> Action:
    details: dict[str, Any] = {"off_hours": off_hours, "count": count}
    if size is not None:
        details["size"] = size
    if service is not None:
        details["service"] = service
    return Action(resource, kind, action, reason="schedule office-hours", team=team, name=name, details=details)


def skip(resource: str, reason: str, *, name: str | None = None, notable: bool = True, team: str | None = None) -> Skip:
    return Skip(resource, "ec2:instance", reason, team=team, name=name, notable=notable)


def enforced(
    target: Target, *actions: Action, failed: dict[str, str] | None = None, skipped: tuple[Skip, ...] = ()
) -> TargetResult:
    """An enforce-mode result: every action applied and verified, except those in ``failed`` (resource -> error)."""
    failed = failed or {}
    outcomes = tuple(Outcome(a, ok=a.resource not in failed, error=failed.get(a.resource)) for a in actions)
    return TargetResult(target, "done", Mode.ENFORCE, planned=actions, skipped=skipped, outcomes=outcomes)


def previewed(target: Target, *actions: Action, skipped: tuple[Skip, ...] = ()) -> TargetResult:
    return TargetResult(target, "done", Mode.REPORT, planned=actions, skipped=skipped)


def unreachable(target: Target, error: str) -> TargetResult:
    return TargetResult(target, "failed", Mode.ENFORCE, error=error)


def paused(target: Target) -> TargetResult:
    return TargetResult(target, "paused", Mode.ENFORCE, error="paused by kill switch: /finops/kill-switch is on")


def run(config, *results: TargetResult, mode: Mode = Mode.ENFORCE) -> list[SlackMessage]:
    """The digests of a run, each checked against Slack's Block Kit models and limits."""
    messages = digests(list(results), context(mode), config, title=TITLE)
    for message in messages:
        assert_valid_block_kit(message)
    return messages


def only(messages: list[SlackMessage], channel: str) -> SlackMessage:
    [message] = [m for m in messages if m.channel == channel]
    return message


def assert_valid_block_kit(message: SlackMessage) -> None:
    assert 0 < len(message.blocks) <= MAX_BLOCKS
    assert message.text
    assert "\n" not in message.text  # the notification: one line
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw  # nothing Slack's model does not know, nothing dropped
        if isinstance(block, HeaderBlock):
            assert raw["text"]["type"] == "plain_text"
            assert len(raw["text"]["text"]) <= 150
        if isinstance(block, SectionBlock):
            assert len(raw["text"]["text"]) <= SECTION_TEXT_LIMIT
        for element in raw.get("elements", ()):
            assert len(element["text"]) <= SECTION_TEXT_LIMIT


def header(message: SlackMessage) -> str:
    return str(message.blocks[0]["text"]["text"])


def sections(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def section(message: SlackMessage, heading: str) -> str:
    [found] = [s for s in sections(message) if heading in s.split("\n", 1)[0]]
    return found


def text_of(message: SlackMessage) -> str:
    parts = [message.text]
    for block in message.blocks:
        if block["type"] in ("header", "section"):
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", ())]
    return "\n".join(parts)


# --- what was done, and what it saves ------------------------------------------------------------------------------


def test_stopped_resources_are_named_with_their_account_team_and_saving(config):
    # Given two instances of the payments team stopped in enforce mode until Monday's start
    result = enforced(
        PAYMENTS_DEV,
        act("i-0aaa", name="checkout-api", size="m6i.large", off_hours=60),
        act("i-0bbb", name="ledger-worker", size="t3.medium", off_hours=60),
    )

    # When the digest is built
    [message] = run(config, result)

    # Then it goes to the payments channel and says what was stopped, where, for whom and what it saves
    assert message.channel == "#payments-oncall"
    assert header(message) == "Scheduler evening stop: 2 stopped — Fri 27 Nov 19:00 UTC"
    stopped = section(message, "Stopped (2)")
    assert (
        "• *checkout-api* `i-0aaa` · EC2 instance · m6i.large · payments-dev (333333333333) · eu-west-1"
        " — ~$6.42 (60 h × $0.107/h)"
    ) in stopped
    assert "*ledger-worker* `i-0bbb`" in stopped
    assert "~$2.74 (60 h × $0.0456/h)" in stopped  # t3.medium in eu-west-1: 0.0456 x 60 = 2.736
    assert "Estimated saving until the next start: $9.16*" in text_of(message)
    assert "team *payments*" in text_of(message)
    assert "storage are still billed" in text_of(message)
    assert "2 stopped" in message.text


def test_an_auto_scaling_group_is_priced_as_its_instances(config):
    # Given an Auto Scaling group of 3 t3.medium stopped for 13.5 hours in us-east-1
    group = act("web-asg", kind="autoscaling:group", service="autoscaling", size="t3.medium", count=3, off_hours=13.5)

    [message] = run(config, enforced(DATA_DEV, group))

    # Then the saving is 3 x 0.0416 x 13.5 = 1.6848
    assert message.channel == "#data-oncall"
    line = section(message, "Stopped (1)")
    assert "`web-asg` · Auto Scaling group (3 instances) · t3.medium" in line
    assert "~$1.68 (13.5 h × 3 × $0.0416/h)" in line


@pytest.mark.parametrize(
    ("kind", "service", "size", "expected"),
    [
        (
            "rds:db",
            None,
            "db.t4g.medium",
            "RDS DB instance · db.t4g.medium · payments-dev (333333333333) · eu-west-1 — ~$4.08",
        ),
        ("rds:cluster", "aurora", "db.r6g.large", "Aurora cluster (2 instances) · db.r6g.large"),
    ],
)
def test_databases_are_labelled_and_priced_by_their_engine_family(config, kind, service, size, expected):
    db = act("orders-db", kind=kind, service=service, size=size, count=2 if kind == "rds:cluster" else 1)

    [message] = run(config, enforced(PAYMENTS_DEV, db))

    assert expected in section(message, "Stopped (1)")


def test_an_unknown_type_shows_unknown_price_and_is_left_out_of_the_total(config):
    # Given one stop at a known price and two of a type the price table does not list
    result = enforced(
        PAYMENTS_DEV,
        act("i-0aaa", size="m6i.large"),
        act("i-0ccc", name="gpu-box", size="m8x.large"),
        act("i-0ddd", size="m8x.large"),
    )

    [message] = run(config, result)

    stopped = section(message, "Stopped (3)")
    assert "*gpu-box* `i-0ccc` · EC2 instance · m8x.large" in stopped
    assert "unknown price (EC2 m8x.large is not in the price table)" in stopped
    saving = section(message, "Estimated saving")
    assert saving == (
        ":moneybag: *Estimated saving until the next start: $6.42* (2 resources at unknown price: m8x.large)"
    )


def test_a_stop_without_a_next_start_shows_its_hourly_rate_and_is_not_totalled(config):
    result = enforced(PAYMENTS_DEV, act("i-0aaa", off_hours=None), act("i-0bbb", off_hours=10))

    [message] = run(config, result)

    assert "`i-0aaa` · EC2 instance · m6i.large · payments-dev (333333333333) · eu-west-1 — no scheduled start" in (
        section(message, "Stopped (2)")
    )
    assert "(saves $0.107/h while stopped)" in section(message, "Stopped (2)")
    assert "until the next start: $1.07*" in section(message, "Estimated saving")
    assert "Not in the total: 1 with no scheduled start." in text_of(message)


def test_hibernated_instances_save_like_stopped_ones(config):
    [message] = run(config, enforced(PAYMENTS_DEV, act("i-0aaa", action="hibernate"), act("i-0bbb", action="start")))

    assert header(message).startswith("Scheduler evening stop: 1 hibernated, 1 started — ")
    assert "~$6.42 (60 h × $0.107/h)" in section(message, "Hibernated (1)")
    headings = [s.split("\n", 1)[0] for s in sections(message)]
    assert headings.index(":moneybag: *Estimated saving until the next start: $6.42*") < headings.index(
        ":arrow_forward: *Started (1)*"
    )


def test_started_resources_are_listed_without_a_saving(config):
    [message] = run(config, enforced(PAYMENTS_DEV, act("i-0aaa", action="start", name="checkout-api")))

    assert header(message).startswith("Scheduler evening stop: 1 started — ")
    assert "*checkout-api* `i-0aaa`" in section(message, "Started (1)")
    assert "saving" not in text_of(message).lower()


# --- what failed, and what to do -----------------------------------------------------------------------------------


def test_a_failed_start_is_listed_under_failed_with_what_to_do_not_under_started(config):
    # Given two starts in the payments account, one refused for capacity
    result = enforced(
        PAYMENTS_DEV,
        act("i-0aaa", action="start", name="checkout-api"),
        act("i-0bbb", action="start", name="ledger-worker", size="c6i.large"),
        failed={"i-0bbb": "InsufficientInstanceCapacity: We currently do not have sufficient c6i.large capacity"},
    )

    [message] = run(config, result)

    # Then the failure says what failed, why and what to try, and pages the team
    failed = section(message, "Failed (1)")
    assert failed.startswith("<!subteam^S0PAYMENTS> :x: *Failed (1)*")
    assert "*ledger-worker* `i-0bbb` · EC2 instance · c6i.large · payments-dev (333333333333) · eu-west-1" in failed
    assert (
        "Start failed: InsufficientInstanceCapacity: We currently do not have sufficient c6i.large capacity" in failed
    )
    assert "another instance type or AZ" in failed
    # And only the verified start is listed as started
    started = section(message, "Started (1)")
    assert "checkout-api" in started
    assert "ledger-worker" not in started
    assert header(message) == "Scheduler evening stop: 1 started, 1 failed — Fri 27 Nov 19:00 UTC"
    assert message.text.startswith("<!subteam^S0PAYMENTS> ")


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("Client.InvalidKMSKey.InvalidState: The KMS key is not usable", "grant the key to the instance's role"),
        ("KMSKeyNotAccessibleFault: The specified KMS key is disabled", "grant the key to the instance's role"),
        ("InvalidDBInstanceState: Instance orders-db is not in available state", "check it in the RDS console"),
        ("IncorrectInstanceState: The instance is not in a state from which it can be stopped", "EC2 console"),
        ("UnauthorizedOperation: You are not authorized to perform this operation", "member StackSet"),
        ("Throttling: Rate exceeded", "check the resource in the console."),
    ],
)
def test_each_failure_says_what_to_do(config, error, hint):
    [message] = run(config, enforced(PAYMENTS_DEV, act("i-0aaa"), failed={"i-0aaa": error}))

    failed = section(message, "Failed (1)")
    assert f"Stop failed: {error}" in failed
    assert hint in failed
    assert "Stopped" not in text_of(message)
    assert "saving" not in text_of(message).lower()  # a failed stop saves nothing


def test_a_planned_action_without_an_outcome_is_a_failure_not_a_success(config):
    # Given an enforce-mode result whose apply reported nothing for one of its two actions
    first, second = act("i-0aaa"), act("i-0bbb", name="ledger-worker")
    result = TargetResult(
        PAYMENTS_DEV, "done", Mode.ENFORCE, planned=(first, second), outcomes=(Outcome(first, ok=True),)
    )

    [message] = run(config, result)

    assert "ledger-worker" not in section(message, "Stopped (1)")
    assert "Stop failed: no result recorded" in section(message, "Failed (1)")


# --- report mode ---------------------------------------------------------------------------------------------------


def test_report_mode_says_would_and_that_nothing_was_changed(config):
    # Given a report-mode run that plans two stops and a start
    result = previewed(PAYMENTS_DEV, act("i-0aaa", name="checkout-api"), act("i-0bbb"), act("i-0ccc", action="start"))

    [message] = run(config, result, mode=Mode.REPORT)

    assert header(message) == ("Scheduler evening stop (preview): would stop 2, would start 1 — Fri 27 Nov 19:00 UTC")
    assert sections(message)[0] == (
        ":eyes: *Preview (report mode)*: would stop 2, start 1; nothing was changed. "
        "Set `capabilities.scheduler.mode: enforce` in finops.yaml to act."
    )
    assert "*checkout-api* `i-0aaa`" in section(message, "Would stop (2)")
    assert "`i-0ccc`" in section(message, "Would start (1)")
    assert "Estimated saving until the next start (if enforced): $12.84*" in text_of(message)
    assert "Stopped" not in text_of(message)
    assert message.text.startswith("Preview (report mode), nothing was changed: Scheduler evening stop: would stop 2")


# --- skipped -------------------------------------------------------------------------------------------------------


def test_notable_skips_are_grouped_by_reason_with_counts_and_names(config):
    result = enforced(
        PAYMENTS_DEV,
        act("i-0aaa"),
        skipped=(
            skip("i-1", "prod account (OU Prod)", name="pay-web-1"),
            skip("i-2", "prod account (OU Prod)", name="pay-web-2"),
            skip("i-3", "protected (finops:protect=true)", name="bastion"),
            skip("i-4", "already stopped", notable=False, name="old-box"),
        ),
    )

    [message] = run(config, result)

    left_alone = section(message, "Left alone (3)")
    assert "• *prod account (OU Prod)* (2): pay-web-1, pay-web-2" in left_alone
    assert "• *protected (finops:protect=true)* (1): bastion" in left_alone
    assert "old-box" not in text_of(message)


def test_a_long_skip_list_shows_a_few_names_per_reason(config):
    skips = tuple(skip(f"i-{n:03}", "prod account (OU Prod)", name=f"web-{n:03}") for n in range(12))

    [message] = run(config, enforced(PAYMENTS_DEV, act("i-0aaa"), skipped=skips))

    assert "(12): web-000, web-001, web-002, web-003, web-004 and 7 more" in section(message, "Left alone (12)")


def test_skips_alone_post_nothing_so_a_quiet_reconcile_is_silent(config):
    prod_only = enforced(PAYMENTS_DEV, skipped=(skip("i-1", "prod (environment=prod)"),))

    assert run(config, prod_only) == []


def test_a_channel_with_only_routine_skips_gets_no_digest(config):
    # Given a data account where everything was already in its desired state, and a payments stop
    quiet = enforced(DATA_DEV, skipped=(skip("i-9", "already stopped", notable=False),))

    messages = run(config, quiet, enforced(PAYMENTS_DEV, act("i-0aaa")))

    assert [m.channel for m in messages] == ["#payments-oncall"]
    assert run(config, quiet) == []


def test_a_run_with_nothing_to_say_posts_nothing(config):
    assert run(config) == []
    assert run(config, enforced(PAYMENTS_DEV), previewed(DATA_DEV), mode=Mode.REPORT) == []


# --- targets the run could not reach, and the kill switch ---------------------------------------------------------


def test_failed_targets_go_to_the_default_channel_with_the_fix_and_a_rerun_hint(config):
    # Given a run where the member role could not be assumed in the payments account
    error = (
        "AccessDenied: User: arn:aws:sts::222222222222:assumed-role/finops-scheduler/x is not authorized to perform: "
        "sts:AssumeRole on resource: arn:aws:iam::333333333333:role/FinOpsMemberRole"
    )
    results = (unreachable(Target("333333333333", "us-east-1", name="payments-dev", team="payments"), error),)

    # When the digest is built
    [message] = run(config, *results)

    # Then the platform's default channel hears it, not the team, with what to do
    assert message.channel == "#finops-alerts"
    assert header(message) == "Scheduler evening stop: 1 account not reached — Fri 27 Nov 19:00 UTC"
    reached = section(message, "Not reached (1 account/region)")
    assert f"• payments-dev (333333333333) · us-east-1: {error}" in reached
    todo = section(message, "What to do")
    assert (
        "• 1 where the member role could not be assumed: deploy the FinOps member StackSet (role `FinOpsMemberRole`) "
        "to the account, or exclude it (`organization.excluded_accounts`)."
    ) in todo
    rerun = section(message, "What to do")
    assert "`make run FN=scheduler EVENT=&lt;the run's event&gt; TARGETS=&lt;file&gt;`" in rerun
    assert "```333333333333 us-east-1```" in rerun


def test_a_failed_read_asks_for_a_rerun_rather_than_a_stackset(config):
    [message] = run(config, unreachable(PAYMENTS_DEV, "RequestLimitExceeded: Request limit exceeded."))

    assert "• 1 where a read failed after the client's retries: re-run them." in section(message, "What to do")
    assert "StackSet" not in text_of(message)


def test_failed_targets_and_team_digests_go_their_own_ways(config):
    messages = run(config, unreachable(DATA_DEV, "AccessDenied: sts:AssumeRole"), enforced(PAYMENTS_DEV, act("i-0a")))

    assert [m.channel for m in messages] == ["#finops-alerts", "#payments-oncall"]
    assert "Not reached" not in text_of(only(messages, "#payments-oncall"))


def test_paused_targets_are_summarised_in_one_line(config):
    [message] = run(config, paused(PAYMENTS_DEV), paused(DATA_DEV), paused(Target("333333333333", "us-east-1")))

    assert message.channel == "#finops-alerts"
    [line] = [s for s in sections(message) if "Paused" in s]
    assert line.startswith(":double_vertical_bar: *Paused* in 3 targets (2 accounts) by the kill switch")
    assert "clear `/finops/kill-switch` to resume" in line
    assert "\n" not in line


# --- routing -------------------------------------------------------------------------------------------------------


def test_each_team_gets_its_own_digest_sorted_by_channel(config):
    # Given stops in a payments and a data account, one payments-account instance owned by data (resource tag),
    # and one in an account with no owning team
    results = (
        enforced(PAYMENTS_DEV, act("i-0pay", name="checkout-api"), act("i-0dat", name="etl", team="data")),
        enforced(DATA_DEV, act("i-0dd", name="notebook")),
        enforced(NO_TEAM, act("i-0nt", name="scratch")),
    )

    messages = run(config, *results)

    assert [m.channel for m in messages] == ["#data-oncall", "#finops-alerts", "#payments-oncall"]
    payments, data = only(messages, "#payments-oncall"), only(messages, "#data-oncall")
    assert "checkout-api" in text_of(payments)
    assert "etl" not in text_of(payments)
    assert "*etl* `i-0dat`" in text_of(data)
    assert "*notebook* `i-0dd`" in text_of(data)
    assert "team *data*" in text_of(data)
    assert "for resources without an owning team" in text_of(only(messages, "#finops-alerts"))


def test_a_team_without_a_route_lands_in_the_default_channel_and_says_so(config):
    [message] = run(config, enforced(PAYMENTS_DEV, act("i-0aaa", team="growth")))

    assert message.channel == "#finops-alerts"
    assert "team *growth (no route in notifications.teams)*" in text_of(message)


def test_a_channel_shared_by_several_teams_names_the_team_on_each_line(config):
    results = (enforced(NO_TEAM, act("i-0a", name="a"), act("i-0b", name="b", team="growth")),)

    [message] = run(config, *results)

    stopped = section(message, "Stopped (2)")
    assert "team growth" in stopped
    assert "team none" in stopped


# --- limits and escaping -------------------------------------------------------------------------------------------


def test_300_stopped_instances_stay_within_50_blocks_and_3000_characters_a_section(config):
    # Given 300 stops with long names, 40 failures and 30 notable skips with distinct reasons, and 20 unreachable
    stops = [act(f"i-{n:017x}", name=f"{'very-long-name-' * 12}{n}") for n in range(300)]
    failed = {a.resource: "InsufficientInstanceCapacity: " + "x" * 500 for a in stops[:40]}
    skips = tuple(skip(f"i-s{n}", f"override until 2026-12-{n % 28 + 1:02} 18:00 UTC", name=f"s{n}") for n in range(30))
    results = [enforced(PAYMENTS_DEV, *stops, failed=failed, skipped=skips)]
    results += [unreachable(Target(f"{n:012}", "eu-west-1"), "AccessDenied: AssumeRole") for n in range(20)]

    messages = run(config, *results)  # run() checks every block against Slack's models and limits

    payments = only(messages, "#payments-oncall")
    assert len(payments.blocks) <= MAX_BLOCKS
    assert all(len(s) <= SECTION_TEXT_LIMIT for s in sections(payments))
    assert header(payments).startswith("Scheduler evening stop: 260 stopped, 40 failed, 30 skipped — ")
    stopped = section(payments, "Stopped (260)")
    assert stopped.endswith("more (see the run summary, run id `run-1`)")
    shown = stopped.count("\n• ")
    assert f"… and {260 - shown} more (see the run summary" in stopped
    assert "Estimated saving until the next start: $1,669.20*" in text_of(payments)  # 260 x 0.107 x 60
    assert "more (see the run summary" in section(payments, "Failed (40)")
    assert "… and 20 more reasons" in section(payments, "Left alone (30)")
    platform = only(messages, "#finops-alerts")
    reached = section(platform, "Not reached (20 account/regions)")
    assert f"… and {20 - reached.count(chr(10) + '• ')} more (see the run summary" in reached
    assert "(first 15 of 20: the run summary lists all)" in section(platform, "What to do")


def test_names_from_aws_are_escaped_everywhere(config):
    hostile = "<!channel> & <https://evil.example|click>"
    result = enforced(
        Target("333333333333", "eu-west-1", name="<!here>", team="payments"),
        act("i-0aaa", name=hostile),
        act("i-0bbb", name=hostile, action="start"),
        failed={"i-0bbb": f"InvalidDBInstanceState: {hostile}"},
        skipped=(skip("i-0ccc", f"override until {hostile}", name=hostile),),
    )

    [message] = run(config, result)

    seen = text_of(message)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in seen
    assert "&lt;!here&gt; (333333333333)" in seen
    assert "<!channel>" not in seen
    assert "<!here>" not in seen
    assert "<https://" not in seen
