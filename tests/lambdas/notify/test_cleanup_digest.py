"""The storage clean-up's per-team digest: what an owner, an on-call engineer or a team lead reads after a run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from finops.engine.model import Action, Outcome, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode
from finops.notify.blocks import SlackMessage
from finops.notify.cleanup_digest import CLEANUP
from finops.notify.digest import MAX_BLOCKS, PRESENTERS, SECTION_TEXT_LIMIT, digests, presenter_for
from finops.notify.scheduler_digest import SCHEDULER

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # a Friday
DUE = "2026-12-09T06:00:00Z"  # a Wednesday
TITLE = "Storage clean-up"
PAYMENTS_DEV = Target("333333333333", "eu-west-1", name="payments-dev", team="payments")
DATA_DEV = Target("444444444444", "us-east-1", name="data-dev", team="data")
NO_TEAM = Target("555555555555", "eu-west-1", name="sandbox")
BREAKER = (
    "Circuit breaker tripped: 60 deletions planned, more than max_deletions_per_target (50). Nothing was deleted "
    "here; the marks stay. Check the plan, then raise the cap in capabilities.ebs_cleanup or delete by hand."
)
RECYCLE_BIN = (
    "Recycle Bin: 2 volumes not deleted in eu-west-1: no Recycle Bin rule for EBS_VOLUME retains them "
    "(capabilities.ebs_cleanup.require_recycle_bin: true; deploy the regional member stack here)"
)


# --- builders -----------------------------------------------------------------------------------------------------


def context(mode: Mode = Mode.ENFORCE) -> RunContext:
    return RunContext(run_id="run-7", capability="ebs_cleanup", kind="daily", now=NOW, mode=mode)


def keep_command(resource: str, region: str = "eu-west-1") -> str:
    return f"aws ec2 create-tags --region {region} --resources {resource} --tags Key=finops:protect,Value=true"


def volume(
    resource: str,
    action: str = "mark",
    *,
    name: str | None = None,
    team: str | None = None,
    size_gb: int = 100,
    monthly: str | None = "11.00",
    reason: str = "eligible: marked for deletion on 2026-12-09",
    **details: Any,
) -> Action:
    facts = {
        "size_gb": size_gb,
        "volume_type": "gp2",
        "age_days": 45,
        "monthly_usd": monthly,
        "final_snapshot": True,
        "keep_command": keep_command(resource),
        "delete_after": DUE,
    }
    return Action(resource, "ec2:volume", action, reason, team=team, name=name, details={**facts, **details})


def snapshot(
    resource: str,
    action: str = "mark",
    *,
    name: str | None = None,
    size_gb: float = 8.0,
    full: bool = True,
    monthly: str = "0.40",
    **details: Any,
) -> Action:
    facts = {
        "size_gb": size_gb,
        "size_is_full": full,
        "age_days": 200,
        "monthly_usd": monthly,
        "monthly_is_upper_bound": True,
        "keep_command": keep_command(resource),
        "delete_after": DUE,
    }
    return Action(resource, "ec2:snapshot", action, "eligible", name=name, details={**facts, **details})


def gp3(resource: str, *, name: str | None = None, saving: str = "11.00", before: str = "55.00") -> Action:
    details = {
        "size_gb": 500,
        "volume_type": "gp2",
        "iops": 3000,
        "throughput": 250,
        "monthly_usd": saving,
        "monthly_before_usd": before,
    }
    return Action(resource, "ec2:volume", "gp3", "gp2 to gp3", name=name, details=details)


def unmark(resource: str, reason: str, *, name: str | None = None) -> Action:
    details = {"size_gb": 50, "volume_type": "gp3", "keep_command": keep_command(resource)}
    return Action(resource, "ec2:volume", "unmark", reason, name=name, details=details)


def deleted_volume_after(resource: str) -> dict[str, Any]:
    return {"final_snapshot": f"snap-final-{resource}", "record_id": f"rec-{resource}", "deleted": True}


def enforced(
    target: Target,
    *actions: Action,
    failed: dict[str, str] | None = None,
    after: dict[str, dict[str, Any]] | None = None,
    skipped: tuple[Skip, ...] = (),
    holds: tuple[str, ...] = (),
) -> TargetResult:
    """Every action applied and verified, except those in ``failed``; a deleted volume's ``after`` names its final
    snapshot and restore record unless ``after`` says otherwise."""
    failed, after = failed or {}, after or {}

    def outcome(action: Action) -> Outcome:
        if action.resource in failed:
            return Outcome(action, ok=False, error=failed[action.resource])
        default = deleted_volume_after(action.resource) if action.action == "delete" else {}
        if action.action == "delete" and action.kind == "ec2:snapshot":
            default = {"deleted": True}
        return Outcome(action, ok=True, after=after.get(action.resource, default))

    outcomes = tuple(outcome(a) for a in actions)
    return TargetResult(target, "done", Mode.ENFORCE, planned=actions, skipped=skipped, outcomes=outcomes, holds=holds)


def previewed(
    target: Target, *actions: Action, skipped: tuple[Skip, ...] = (), holds: tuple[str, ...] = ()
) -> TargetResult:
    return TargetResult(target, "done", Mode.REPORT, planned=actions, skipped=skipped, holds=holds)


def skip(resource: str, reason: str, *, name: str | None = None, notable: bool = True) -> Skip:
    return Skip(resource, "ec2:snapshot", reason, name=name, notable=notable)


def run(config, *results: TargetResult, mode: Mode = Mode.ENFORCE) -> list[SlackMessage]:
    """The digests of a run (the presenter chosen by the run's capability), each checked against Slack's models."""
    messages = digests(list(results), context(mode), config, title=TITLE)
    for message in messages:
        assert_valid_block_kit(message)
    return messages


def assert_valid_block_kit(message: SlackMessage) -> None:
    assert 0 < len(message.blocks) <= MAX_BLOCKS
    assert message.text
    assert "\n" not in message.text
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw
        if isinstance(block, HeaderBlock):
            assert raw["text"]["type"] == "plain_text"
            assert len(raw["text"]["text"]) <= 150
        if isinstance(block, SectionBlock):
            assert len(raw["text"]["text"]) <= SECTION_TEXT_LIMIT
        for element in raw.get("elements", ()):
            assert len(element["text"]) <= SECTION_TEXT_LIMIT


def only(messages: list[SlackMessage], channel: str) -> SlackMessage:
    [message] = [m for m in messages if m.channel == channel]
    return message


def header(message: SlackMessage) -> str:
    return str(message.blocks[0]["text"]["text"])


def sections(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def section(message: SlackMessage, heading: str) -> str:
    [found] = [s for s in sections(message) if heading in s.split("\n", 1)[0]]
    return found


def notes(message: SlackMessage) -> str:
    return "\n".join(e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"])


def text_of(message: SlackMessage) -> str:
    return "\n".join([message.text, header(message), *sections(message), notes(message)])


# --- marked: what will happen, when, and how to keep it -----------------------------------------------------------


def test_a_marked_volume_says_what_it_costs_when_it_goes_and_how_to_keep_it(config):
    # Given an unattached volume of the payments team marked for deletion on Wednesday 9 December
    result = enforced(PAYMENTS_DEV, volume("vol-0aaa", name="build-cache"))

    # When the digest is built
    [message] = run(config, result)

    # Then the payments channel reads what it is, what it costs and the day it will be deleted
    assert message.channel == "#payments-oncall"
    assert header(message) == "Storage clean-up: 1 marked — Fri 27 Nov 06:00 UTC"
    marked = section(message, "Marked for deletion (1)")
    assert marked.startswith(
        ":hourglass_flowing_sand: *Marked for deletion (1)*: each goes on *Wed 9 Dec* unless you keep it"
    )
    assert (
        "• *build-cache* `vol-0aaa` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1"
        " — 45 days old · $11.00/month · to be deleted on *Wed 9 Dec*"
    ) in marked
    # And how to keep it: the config's protect tag, before the day, as a command to paste
    keep = section(message, "To keep one")
    assert "tag it `finops:protect=true` (the config's protect tag) before Wed 9 Dec 06:00 UTC" in keep
    assert f"`{keep_command('vol-0aaa')}`" in keep
    assert "final snapshot (kept 90 days) just before it is deleted" in keep
    # And what deleting it would save, on its own line; nothing is saved yet
    assert ":moneybag: Marked: $11.00/month if deleted" in sections(message)
    assert "Monthly saving" not in text_of(message)
    assert message.text == "Storage clean-up: 1 marked · team payments"


def test_many_marks_show_one_example_command_and_a_total(config):
    marks = [volume(f"vol-{n:04}") for n in range(30)]

    [message] = run(config, enforced(PAYMENTS_DEV, *marks))

    keep = section(message, "To keep one")
    assert keep.count("aws ec2 create-tags") == 1
    assert "(that is for `vol-0000`: use each one's id and region)" in keep
    marked = section(message, "Marked for deletion (30)")
    assert f"… and {30 - marked.count(chr(10) + '• ')} more (see the run summary, run id `run-7`)" in marked
    assert "Marked: $330.00/month if deleted" in text_of(message)


def test_a_marked_snapshot_shows_an_upper_bound_where_its_size_is_the_volumes(config):
    # Given a snapshot whose full size EC2 did not report (its volume's 8 GiB stands in), and our own final snapshot
    result = enforced(
        PAYMENTS_DEV,
        snapshot("snap-0aaa", full=False),
        snapshot("snap-0bbb", size_gb=2.5, monthly="0.13", final_snapshot_of="vol-0old"),
    )

    [message] = run(config, result)

    marked = section(message, "Marked for deletion (2)")
    assert "`snap-0aaa` · EBS snapshot · ≤ 8 GiB · payments-dev (333333333333) · eu-west-1 — 200 days old" in marked
    assert "≤ $0.40/month · to be deleted on *Wed 9 Dec*" in marked
    assert (
        "`snap-0bbb` · EBS snapshot · 2.5 GiB · payments-dev (333333333333) · eu-west-1 — final snapshot of `vol-0old`"
        in marked
    )
    assert "Marked: $0.53/month if deleted" in text_of(message)
    assert "Snapshot figures are upper bounds (incremental snapshots free only the blocks no other snapshot needs)" in (
        notes(message)
    )
    assert "final snapshot (kept" not in text_of(message)  # no volume among them


def test_marks_due_on_different_days_say_so_on_each_line(config):
    later = volume("vol-0bbb", delete_after="2027-01-06T06:00:00Z")

    [message] = run(config, enforced(PAYMENTS_DEV, volume("vol-0aaa"), later))

    marked = section(message, "Marked for deletion (2)")
    assert "each goes on the day on its line unless you keep it" in marked
    assert "to be deleted on *Wed 6 Jan 2027*" in marked
    assert "before the day on its line:" in section(message, "To keep one")


# --- deleted: what went, and how to bring it back ----------------------------------------------------------------


def test_a_deleted_volume_names_its_final_snapshot_and_the_restore_command(config):
    # Given a volume and a snapshot deleted in enforce mode, both retained by Recycle Bin rules
    result = enforced(
        PAYMENTS_DEV,
        volume("vol-0ddd", "delete", name="old-scratch", recycle_bin_days=7),
        snapshot("snap-0eee", "delete", recycle_bin_days=30),
        after={"vol-0ddd": {"final_snapshot": "snap-0final", "record_id": "rec-20261127-0001", "deleted": True}},
    )

    [message] = run(config, result)

    assert header(message) == "Storage clean-up: 2 deleted — Fri 27 Nov 06:00 UTC"
    deleted = section(message, "Deleted (2)")
    assert (
        "• *old-scratch* `vol-0ddd` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1"
        " — $11.00/month · final snapshot `snap-0final` · restore: `make restore RECORD=rec-20261127-0001`"
        " · in the Recycle Bin for 7 days"
    ) in deleted
    assert "• `snap-0eee` · EBS snapshot · 8 GiB · payments-dev (333333333333) · eu-west-1 — ≤ $0.40/month" in deleted
    assert "restore" not in deleted.split("snap-0eee", 1)[1]  # a snapshot has no restore record
    # And the saving, with when it starts and what it leaves out
    assert ":moneybag: *Monthly saving: $11.40*" in section(message, "Monthly saving")
    seen = notes(message)
    assert "List prices (price table as of 2025-01), not your discounted rate." in seen
    assert "Snapshot figures are upper bounds" in seen
    assert (
        "The saving starts once Recycle Bin retention ends (7 to 30 days): Recycle Bin bills retained volumes and "
        "snapshots at the same rate."
    ) in seen
    assert "A deleted volume's final snapshot is billed as a snapshot until it expires (90 days)." in seen
    assert "Prices: Amazon EBS pricing page" in seen


def test_a_volume_someone_else_deleted_counts_as_deleted(config):
    gone = volume("vol-0ggg", "delete", recycle_bin_days=7)

    [message] = run(config, enforced(PAYMENTS_DEV, gone, after={"vol-0ggg": {"already_gone": True, "deleted": True}}))

    assert "`vol-0ggg` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1 — already gone" in (
        section(message, "Deleted (1)")
    )
    assert "Failed" not in text_of(message)
    assert "Recycle Bin retention" not in notes(message)  # not ours in the bin


def test_only_verified_deletions_are_listed_as_deleted(config):
    # Given two deletions, one refused because the volume was attached again, and one the apply never reported
    refused = volume("vol-0bbb", "delete", name="ledger-scratch")
    unreported = snapshot("snap-0ccc", "delete")
    result = enforced(PAYMENTS_DEV, volume("vol-0aaa", "delete"), refused, failed={"vol-0bbb": "VolumeInUse: attached"})
    result = TargetResult(
        PAYMENTS_DEV, "done", Mode.ENFORCE, planned=(*result.planned, unreported), outcomes=result.outcomes
    )

    [message] = run(config, result)

    deleted = section(message, "Deleted (1)")
    assert "vol-0aaa" in deleted
    assert "vol-0bbb" not in deleted
    assert "snap-0ccc" not in deleted
    failed = section(message, "Failed (2)")
    assert "Delete failed: VolumeInUse: attached" in failed
    assert "Delete failed: no result recorded" in failed
    assert "*Monthly saving: $11.00*" in text_of(message)  # the refused and the unreported save nothing


# --- failures ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "error", "hint"),
    [
        (
            volume("vol-0aaa", "delete"),
            "VolumeInUse: vol-0aaa is attached to i-0abc",
            "it was attached again between the check and the delete: nothing was lost.",
        ),
        (
            snapshot("snap-0aaa", "delete"),
            "InvalidSnapshot.InUse: The snapshot snap-0aaa is currently in use by ami-0abc",
            "an AMI uses it now: it stays.",
        ),
        (
            volume("vol-0aaa", "delete"),
            "final snapshot snap-0fff of vol-0aaa not completed after 600 s (pending)",
            "nothing to do: the next run deletes the volume once its final snapshot completes.",
        ),
        (
            volume("vol-0aaa", "mark"),
            "UnauthorizedOperation: You are not authorized to perform this operation",
            "update the FinOps member StackSet in this account",
        ),
        (volume("vol-0aaa", "delete"), "Throttling: Rate exceeded", "check the resource in the console."),
    ],
)
def test_each_failure_says_what_to_do_and_pages_the_team(config, action, error, hint):
    [message] = run(config, enforced(PAYMENTS_DEV, action, failed={action.resource: error}))

    failed = section(message, "Failed (1)")
    assert failed.startswith("<!subteam^S0PAYMENTS> :x: *Failed (1)*")
    assert f"{action.action.capitalize()} failed: {error}" in failed
    assert hint in failed
    assert message.text.startswith("<!subteam^S0PAYMENTS> Storage clean-up: 1 failed")
    assert "saving" not in text_of(message).lower()


def test_a_failed_gp3_migration_is_named_as_such(config):
    [message] = run(config, enforced(PAYMENTS_DEV, gp3("vol-0aaa"), failed={"vol-0aaa": "IncorrectModificationState"}))

    failed = section(message, "Failed (1)")
    assert "Migration to gp3 failed: IncorrectModificationState" in failed
    assert "EBS allows one modification in 6 hours" in failed


# --- unmarked, gp3 ------------------------------------------------------------------------------------------------


def test_unmarked_resources_say_why_they_are_kept_after_all(config):
    result = enforced(
        PAYMENTS_DEV,
        unmark("vol-0aaa", "no longer eligible: in-use to i-0abc", name="web-data"),
        unmark("vol-0bbb", "no longer eligible: protected (finops:protect=true)"),
        unmark("snap-0ccc", "no longer eligible: backs AMI ami-0abc (disabled)"),
    )

    [message] = run(config, result)

    assert header(message) == "Storage clean-up: 3 unmarked — Fri 27 Nov 06:00 UTC"
    unmarked = section(message, "Unmarked (3)")
    assert unmarked.startswith(":leftwards_arrow_with_hook: *Unmarked (3)*: kept after all, no longer to be deleted")
    assert (
        "*web-data* `vol-0aaa` · EBS volume · 50 GiB gp3 · payments-dev (333333333333) · eu-west-1 — no longer eligible: in-use to i-0abc"
        in unmarked
    )
    assert "`vol-0bbb`" in unmarked
    assert "— no longer eligible: protected (finops:protect=true)" in unmarked
    assert "— no longer eligible: backs AMI ami-0abc (disabled)" in unmarked
    assert "saving" not in text_of(message).lower()
    assert "To keep one" not in text_of(message)


def test_gp3_migrations_list_their_saving_and_join_the_total(config):
    result = enforced(PAYMENTS_DEV, gp3("vol-0aaa", name="db-data"), volume("vol-0bbb", "delete"))

    [message] = run(config, result)

    assert header(message) == "Storage clean-up: 1 deleted, 1 migrated to gp3 — Fri 27 Nov 06:00 UTC"
    assert (
        "• *db-data* `vol-0aaa` · EBS volume · 500 GiB gp2 · payments-dev (333333333333) · eu-west-1"
        " — gp3 at 3,000 IOPS and 250 MiB/s · saves $11.00/month (of $55.00)"
    ) in section(message, "Migrated to gp3 (1)")
    saving = section(message, "Monthly saving")
    assert saving == ":moneybag: *Monthly saving: $22.00* (1 deletion: $11.00, 1 gp3 migration: $11.00)"
    assert "Snapshot figures" not in notes(message)


def test_an_unknown_price_is_said_and_left_out_of_the_total(config):
    result = enforced(PAYMENTS_DEV, volume("vol-0aaa", "delete"), volume("vol-0bbb", "delete", monthly=None))

    [message] = run(config, result)

    assert "`vol-0bbb` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1 — unknown price" in (
        section(message, "Deleted (2)")
    )
    assert "*Monthly saving: $11.00*; 1 at unknown price, not in the total" in section(message, "Monthly saving")


# --- report mode ---------------------------------------------------------------------------------------------------


def test_report_mode_says_what_would_happen_and_that_nothing_changed(config):
    # Given a report-mode plan: three marks, two deletions
    result = previewed(
        PAYMENTS_DEV,
        volume("vol-0aaa", name="build-cache"),
        volume("vol-0bbb"),
        snapshot("snap-0ccc"),
        volume("vol-0ddd", "delete", recycle_bin_days=7),
        snapshot("snap-0eee", "delete", recycle_bin_days=30),
    )

    [message] = run(config, result, mode=Mode.REPORT)

    assert header(message) == "Storage clean-up (preview): would mark 3, would delete 2 — Fri 27 Nov 06:00 UTC"
    assert sections(message)[0] == (
        ":eyes: *Preview (report mode)*: would mark 3, delete 2; nothing was changed. "
        "Set `capabilities.ebs_cleanup.mode: enforce` in finops.yaml to act."
    )
    marked = section(message, "Would mark for deletion (3)")
    assert "each would go on *Wed 9 Dec* unless you keep it" in marked
    assert (
        "*build-cache* `vol-0aaa` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1 — 45 days old · $11.00/month · would be deleted on Wed 9 Dec"
        in marked
    )
    would_delete = section(message, "Would delete (2)")
    assert (
        "`vol-0ddd` · EBS volume · 100 GiB gp2 · payments-dev (333333333333) · eu-west-1 — $11.00/month · after a final snapshot · would stay in the Recycle Bin for 7 days"
        in would_delete
    )
    saving = section(message, "Monthly saving")
    assert saving.startswith(":moneybag: *Monthly saving (if enforced): $11.40*")
    assert "Marked: $22.40/month if deleted" in saving
    assert "The saving starts once Recycle Bin retention ends (7 to 30 days)" in notes(message)
    assert "Deleted (" not in text_of(message)
    assert "make restore" not in text_of(message)
    assert message.text.startswith("Preview (report mode), nothing was changed: Storage clean-up: would mark 3")


# --- holds: the safety nets of a target ---------------------------------------------------------------------------


def test_a_tripped_circuit_breaker_goes_to_the_on_call_and_the_account_team(config):
    # Given a payments target whose circuit breaker tripped (its deletions held, its marks made), and a data target
    # where no Recycle Bin rule would retain two volumes
    held = skip("vol-0h", "held: circuit breaker tripped in this account and region", name="old-scratch")
    results = (
        enforced(PAYMENTS_DEV, volume("vol-0aaa"), skipped=(held,), holds=(BREAKER,)),
        enforced(DATA_DEV, holds=(RECYCLE_BIN,)),
    )

    messages = run(config, *results)

    # Then the platform's default channel hears both, each team its own
    assert [m.channel for m in messages] == ["#data-oncall", "#finops-alerts", "#payments-oncall"]
    on_call = only(messages, "#finops-alerts")
    breaker = section(on_call, "Circuit breaker tripped")
    assert breaker.startswith(":rotating_light: *Circuit breaker tripped*")
    assert (
        "• payments-dev (333333333333) · eu-west-1: 60 deletions planned, more than max_deletions_per_target (50)."
        " Nothing was deleted here; the marks stay."
    ) in breaker
    recycle = section(on_call, "Recycle Bin")
    assert recycle.startswith(":recycle: *Recycle Bin*")
    assert "• data-dev (444444444444) · us-east-1: 2 volumes not deleted in eu-west-1" in recycle
    assert header(on_call) == "Storage clean-up: held back in 2 account/regions — Fri 27 Nov 06:00 UTC"
    payments = only(messages, "#payments-oncall")
    assert "payments-dev (333333333333) · eu-west-1: 60 deletions planned" in section(payments, "Circuit breaker")
    assert "Recycle Bin" not in text_of(payments)
    assert "• *held: circuit breaker tripped in this account and region* (1): old-scratch" in section(
        payments, "Left alone (1)"
    )
    # And a target with nothing but a hold still posts
    data = only(messages, "#data-oncall")
    assert header(data) == "Storage clean-up: held back in 1 account/region — Fri 27 Nov 06:00 UTC"
    assert "2 volumes not deleted" in section(data, "Recycle Bin")


def test_a_hold_of_an_account_without_a_team_is_posted_once(config):
    [message] = run(config, enforced(NO_TEAM, holds=(BREAKER,)))

    assert message.channel == "#finops-alerts"
    assert section(message, "Circuit breaker tripped").count("sandbox (555555555555)") == 1


# --- skips ---------------------------------------------------------------------------------------------------------


def test_notable_skips_are_grouped_by_reason_and_routine_ones_left_out(config):
    skips = (
        skip("snap-1", "backs AMI ami-0abc (disabled)", name="golden-1"),
        skip("snap-2", "backs AMI ami-0abc (disabled)", name="golden-2"),
        skip("vol-3", "managed by AWS Backup (its backup plan's lifecycle deletes it)"),
        skip("vol-4", "in-use to i-0abc", notable=False, name="attached-one"),
    )

    [message] = run(config, enforced(PAYMENTS_DEV, volume("vol-0aaa"), skipped=skips))

    left_alone = section(message, "Left alone (3)")
    assert "• *backs AMI ami-0abc (disabled)* (2): golden-1, golden-2" in left_alone
    assert "• *managed by AWS Backup (its backup plan's lifecycle deletes it)* (1): vol-3" in left_alone
    assert "attached-one" not in text_of(message)


def test_a_run_with_only_routine_skips_posts_nothing(config):
    quiet = enforced(
        PAYMENTS_DEV, skipped=(skip("vol-1", "created 3 day(s) ago, under min_age_days (14)", notable=False),)
    )
    noted = enforced(DATA_DEV, skipped=(skip("snap-1", "backs AMI ami-0abc"),))

    assert run(config, quiet) == []
    assert run(config, quiet, noted) == []  # skips go along with news, never alone
    assert run(config) == []
    assert run(config, previewed(PAYMENTS_DEV), mode=Mode.REPORT) == []


# --- routing -------------------------------------------------------------------------------------------------------


def test_a_resource_goes_to_its_owner_tags_team_else_the_accounts(config):
    # Given a payments account holding a volume owned by data (its team tag), one of its own, and an unrouted team's
    results = (
        enforced(
            PAYMENTS_DEV,
            volume("vol-0pay", name="checkout-cache"),
            volume("vol-0dat", name="etl-scratch", team="data"),
            volume("vol-0gro", name="growth-tmp", team="growth"),
        ),
        enforced(NO_TEAM, volume("vol-0nt", "delete", name="scratch")),
    )

    messages = run(config, *results)

    assert [m.channel for m in messages] == ["#data-oncall", "#finops-alerts", "#payments-oncall"]
    payments, data, default = (only(messages, c) for c in ("#payments-oncall", "#data-oncall", "#finops-alerts"))
    assert "checkout-cache" in text_of(payments)
    assert "etl-scratch" not in text_of(payments)
    assert "*etl-scratch* `vol-0dat` · EBS volume · 100 GiB gp2 · payments-dev (333333333333)" in text_of(data)
    assert "team *data*" in text_of(data)
    assert "*growth-tmp* `vol-0gro`" in section(default, "Marked for deletion (1)")
    assert "*scratch* `vol-0nt`" in section(default, "Deleted (1)")
    assert "for *growth (no route in notifications.teams)*, resources without an owning team" in text_of(default)
    assert "team growth" in section(default, "Marked for deletion (1)")  # a shared channel names the team per line


# --- presenters ----------------------------------------------------------------------------------------------------


def test_the_presenter_follows_the_runs_capability(config):
    assert PRESENTERS == {"scheduler": SCHEDULER, "ebs_cleanup": CLEANUP}
    assert presenter_for("ebs_cleanup") is CLEANUP
    marks = [enforced(PAYMENTS_DEV, volume("vol-0aaa"))]

    # The default comes from ctx.capability; an explicit presenter wins; an unknown capability is listed plainly
    by_capability = digests(marks, context(), config, title=TITLE)
    explicit = digests(marks, context(), config, title=TITLE, presenter=CLEANUP)
    other = RunContext(run_id="run-7", capability="tag_enforcement", kind="daily", now=NOW, mode=Mode.ENFORCE)
    [plain] = digests(marks, other, config, title="Tags")

    assert by_capability == explicit
    assert "Marked for deletion (1)" in text_of(by_capability[0])
    assert header(plain) == "Tags: 1 mark done — Fri 27 Nov 06:00 UTC"
    assert "• `vol-0aaa` · ec2:volume · payments-dev (333333333333) · eu-west-1" in section(plain, "Mark done (1)")
    assert_valid_block_kit(plain)


# --- limits and escaping -------------------------------------------------------------------------------------------


def test_a_run_of_1000_marks_stays_within_slack_limits(config):
    # Given 1,000 marks, 300 deletions (40 failed), 60 gp3 migrations, 50 unmarks across 25 targets, 30 skip reasons,
    # and a circuit breaker tripped in 20 targets
    results = []
    for t in range(25):
        target = Target(f"{t:012}", "eu-west-1", name=f"{'payments-account-' * 3}{t}", team="payments")
        marks = [volume(f"vol-m{t:02}{n:03}", name=f"{'cache-' * 20}{n}") for n in range(40)]
        deletes = [volume(f"vol-d{t:02}{n:03}", "delete", recycle_bin_days=7) for n in range(12)]
        migrations = [gp3(f"vol-g{t:02}{n}") for n in range(2)] + ([gp3(f"vol-g{t:02}x")] if t < 10 else [])
        unmarks = [unmark(f"vol-u{t:02}{n}", "no longer eligible: in-use to i-0" + "a" * 400) for n in range(2)]
        failed = {a.resource: "VolumeInUse: " + "x" * 500 for a in deletes[:2]} if t < 20 else {}
        skips = tuple(skip(f"snap-s{t}{n}", f"backs AMI ami-{t}{n}") for n in range(2)) if t < 15 else ()
        holds = (BREAKER + " " + "y" * 800,) if t < 20 else ()
        actions = (*marks, *deletes, *migrations, *unmarks)
        results.append(enforced(target, *actions, failed=failed, skipped=skips, holds=holds))

    messages = run(config, *results)  # run() checks every block against Slack's models and limits

    payments = only(messages, "#payments-oncall")
    assert len(payments.blocks) <= MAX_BLOCKS
    assert all(len(s) <= SECTION_TEXT_LIMIT for s in sections(payments))
    assert header(payments).startswith("Storage clean-up: 1000 marked, 260 deleted, 60 migrated to gp3, 50 unmarked")
    assert header(payments).endswith(" — Fri 27 Nov 06:00 UTC")
    marked = section(payments, "Marked for deletion (1000)")
    assert f"… and {1000 - marked.count(chr(10) + '• ')} more (see the run summary, run id `run-7`)" in marked
    assert "more (see the run summary" in section(payments, "Failed (40)")
    assert "Marked: $11,000.00/month if deleted" in text_of(payments)
    assert "*Monthly saving: $3,520.00*" in text_of(payments)  # 260 x 11 + 60 x 11
    assert "… and 22 more reasons" in section(payments, "Left alone (30)")
    on_call = only(messages, "#finops-alerts")
    assert len(on_call.blocks) <= MAX_BLOCKS
    breaker = section(on_call, "Circuit breaker tripped")
    assert f"… and {20 - breaker.count(chr(10) + '• ')} more (see the run summary" in breaker


def test_names_and_reasons_from_aws_are_escaped(config):
    hostile = "<!channel> & <https://evil.example|click>"
    result = enforced(
        PAYMENTS_DEV,
        volume("vol-0aaa", name=hostile),
        unmark("vol-0bbb", f"no longer eligible: protected (finops:protect={hostile})"),
    )

    [message] = run(config, result)

    seen = text_of(message)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in seen
    assert "<!channel>" not in seen
    assert "<https://" not in seen
