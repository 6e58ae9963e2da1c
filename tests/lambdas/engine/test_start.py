"""The hub's start step: from the config, the switch and the catch-up point alone, fan out or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from finops.aws.organizations import Enumeration
from finops.engine.kill_switch import NoKillSwitch, SwitchState
from finops.engine.model import Target
from finops.engine.request import parse_run_request
from finops.engine.start import start_run
from finops.engine.state import MemoryRunState
from finops.models.base import Mode
from finops.models.events import InvalidEvent
from finops.services.scheduler_run import SchedulerSpec

STOP = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # office-hours stops (19:00 Berlin, a Friday)
TARGETS = [Target("444444444444", "eu-west-1", team="payments"), Target("555555555555", "eu-west-1", team="data")]


class Engaged:
    def state(self) -> SwitchState:
        return SwitchState(True, "paused by kill switch (/finops/kill-switch = 'on')")


def start(config, when: datetime, *, state=None, switch=None, **event):
    enumerated: list[int] = []

    def enumerate_targets() -> Enumeration:
        enumerated.append(1)
        return Enumeration(list(TARGETS))

    decision = start_run(
        SchedulerSpec(),
        parse_run_request({"capability": "scheduler", "time": when.isoformat(), **event}),
        config=config,
        run_id="r1",
        state=state if state is not None else MemoryRunState(),
        kill_switch=switch or NoKillSwitch(),
        enumerate_targets=enumerate_targets,
    )
    return decision, bool(enumerated)


def test_a_tick_with_no_transition_due_starts_no_fan_out_and_reads_no_account(config):
    state = MemoryRunState()
    quiet = datetime(2026, 11, 27, 14, 15, tzinfo=UTC)

    decision, enumerated = start(config, quiet, state=state)

    assert not decision.fan_out
    assert not enumerated
    assert decision.reason == "no schedule changes state in (14:00Z, 14:15Z]"
    assert state.completed["scheduler"] == quiet  # the next tick starts from here


def test_a_tick_at_a_transition_fans_out_over_every_target(config):
    decision, _ = start(
        config, STOP + timedelta(minutes=15), state=MemoryRunState({"scheduler": STOP - timedelta(minutes=15)})
    )

    assert decision.fan_out
    assert decision.run.kind == "tick"  # 18:15 is not on the hourly reconcile grid
    assert decision.run.params["due"] == ["office-hours"]
    assert decision.targets == tuple(TARGETS)
    assert decision.run.mode is Mode.REPORT  # the shipped config


def test_on_the_reconcile_grid_the_run_always_fans_out(config):
    decision, _ = start(config, datetime(2026, 11, 27, 14, 0, tzinfo=UTC))

    assert decision.fan_out
    assert decision.run.kind == "reconcile"
    assert decision.run.params["due"] == []


def test_a_missed_tick_is_caught_up_and_older_transitions_are_reported_not_replayed(config):
    caught_up, _ = start(
        config, STOP + timedelta(minutes=45), state=MemoryRunState({"scheduler": STOP - timedelta(hours=1)})
    )
    too_old, _ = start(
        config, STOP + timedelta(days=3, minutes=15), state=MemoryRunState({"scheduler": STOP - timedelta(hours=1)})
    )

    assert caught_up.fan_out
    assert caught_up.run.params["due"] == ["office-hours"]
    assert too_old.run.since == STOP + timedelta(days=2, minutes=15)  # catch_up_hours: 24
    assert "older transition(s) not replayed" in too_old.notes[0]
    assert "office-hours stop at 2026-11-27 18:00Z" in too_old.notes[0]


def test_paused_in_the_config_or_by_the_kill_switch_nothing_fans_out(config):
    scheduler = config.capabilities.scheduler.model_copy(update={"paused": True})
    paused = config.model_copy(update={"capabilities": config.capabilities.model_copy(update={"scheduler": scheduler})})

    by_config, _ = start(paused, STOP)
    by_switch, enumerated = start(config, STOP, switch=Engaged())

    assert not by_config.fan_out
    assert by_config.reason == "paused in the config (capabilities.scheduler.paused: true)"
    assert not by_switch.fan_out
    assert by_switch.reason.startswith("paused by kill switch")
    assert not enumerated


def test_a_rerun_acts_only_on_the_listed_targets_that_are_still_targets(config):
    decision, _ = start(
        config,
        datetime(2026, 11, 27, 14, 15, tzinfo=UTC),  # nothing due: a re-run goes anyway
        targets=[
            {"account": "555555555555", "region": "eu-west-1"},
            {"account": "999999999999", "region": "eu-west-1"},
        ],
    )

    assert decision.fan_out
    assert decision.targets == (TARGETS[1],)
    assert decision.run.params["rerun"] is True
    assert "1 requested target(s) are not targets of this config" in decision.notes[-1]


def test_a_rerun_at_the_failed_runs_time_acts_on_its_transition_even_after_later_runs_completed(config):
    later = MemoryRunState({"scheduler": STOP + timedelta(hours=2)})

    decision, _ = start(config, STOP, state=later, targets=[{"account": "555555555555", "region": "eu-west-1"}])

    assert decision.fan_out
    assert decision.run.params["due"] == ["office-hours"]


def test_an_unreadable_kill_switch_pauses_and_fails_the_run(config):
    class Unreadable:
        def state(self) -> SwitchState:
            return SwitchState(True, "kill switch /finops/kill-switch unreadable (AccessDenied)", unreadable=True)

    decision, enumerated = start(config, STOP, switch=Unreadable())

    assert not decision.fan_out
    assert decision.failed
    assert decision.status == "paused"
    assert not enumerated


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "time: required key is missing"),
        ({"time": "soon"}, "time: Input should be a valid datetime"),
        ({"time": "2026-11-27T18:00:00"}, "time: timestamps need a timezone"),
    ],
)
def test_a_bad_run_request_names_the_field(event, message):
    with pytest.raises(InvalidEvent, match=message):
        parse_run_request(event)


def test_an_eventbridge_scheduled_event_is_a_run_request():
    request = parse_run_request(
        {
            "version": "0",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": "2026-11-27T18:00:00Z",
            "detail": {},
        }
    )

    assert request.now == STOP
