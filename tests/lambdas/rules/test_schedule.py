"""Schedules across daylight-saving changes: a local time that does not exist takes effect right after the gap, one
that occurs twice at its first occurrence; every occurrence has one start and one stop, in every zone.

The DST table is derived from zoneinfo itself (each zone's offset changes in 2026), and checked against an oracle
that needs nothing but the instant of the change and the offsets on either side of it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finops.models.scheduler_config import DAYS, Schedule
from finops.rules import schedule as rules
from finops.rules.schedule import (
    Transition,
    changed,
    desired_state,
    next_transition,
    to_utc,
    transitions,
    windows,
)

EVERY_DAY = list(DAYS)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

DST_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "America/Santiago",  # southern; changes at midnight, so the gap starts at 00:00
    "Pacific/Auckland",
    "Australia/Adelaide",  # +9:30 / +10:30
    "America/St_Johns",  # -3:30 / -2:30
    "Pacific/Chatham",  # +12:45 / +13:45, changes at 02:45 local
    "Australia/Lord_Howe",  # +10:30 / +11: a 30-minute shift
]
FIXED_ZONES = ["Asia/Kolkata", "Asia/Kathmandu"]  # +5:30 and +5:45, no DST


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hhmm(wall: datetime) -> str:
    return f"{wall:%H:%M}"


def make(zone: str, *periods: tuple[list[str], str, str], **options: object) -> Schedule:
    return Schedule.model_validate(
        {"timezone": zone, "periods": [{"days": d, "start": a, "stop": b} for d, a, b in periods], **options}
    )


# -- the DST table, from zoneinfo ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One offset change of a zone: at ``at`` (UTC) the offset goes from ``before`` to ``after``."""

    zone: str
    at: datetime
    before: timedelta
    after: timedelta

    @property
    def kind(self) -> str:
        return "spring" if self.after > self.before else "fall" if self.after < self.before else "none"

    @property
    def wall_before(self) -> datetime:
        """The wall clock reading at the change, on the old offset: where a gap starts or a repeat ends."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        """The wall clock reading at the change, on the new offset: where a gap ends or a repeat starts."""
        return (self.at + self.after).replace(tzinfo=None)

    def expected(self, wall: datetime) -> datetime:
        """The oracle: when a local wall time near this change takes effect."""
        if self.kind == "spring" and self.wall_before <= wall < self.wall_after:
            return self.at  # in the gap: the first valid instant after it
        # A repeated time (fall-back) is before the change on the old offset: its first occurrence.
        return (wall - (self.before if wall < self.wall_before else self.after)).replace(tzinfo=UTC)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def offset_changes(name: str, start: datetime = YEAR[0], end: datetime = YEAR[1]) -> list[Change]:
    """Every change of ``name``'s UTC offset in [start, end), found by zoneinfo and pinned to the second."""
    zone, found = ZoneInfo(name), []
    day = start
    while day < end:
        low, high = day, day + timedelta(days=1)
        if _offset(zone, low) != _offset(zone, high):
            while high - low > timedelta(seconds=1):
                middle = (low + (high - low) / 2).replace(microsecond=0)
                low, high = (middle, high) if _offset(zone, middle) == _offset(zone, low) else (low, middle)
            found.append(Change(name, high, _offset(zone, low), _offset(zone, high)))
        day += timedelta(days=1)
    return found


def _changes() -> list[Change]:
    changes = [change for zone in DST_ZONES for change in offset_changes(zone)]
    for zone in FIXED_ZONES:  # the same checks on zones without DST, at the nights Europe changes
        offset = _offset(ZoneInfo(zone), YEAR[0])
        changes += [Change(zone, utc(at), offset, offset) for at in ("2026-03-29T01:00", "2026-10-25T01:00")]
    return changes


CHANGES = _changes()


def points(change: Change) -> dict[str, datetime]:
    """Local times around a change: before it, at the edges of the gap or repeat, inside it, after it."""
    if change.kind == "none":
        at = change.wall_before
        return {"before": at - 30 * MINUTE, "minute-before": at - MINUTE, "at": at, "after": at + 30 * MINUTE}
    first, last = sorted((change.wall_before, change.wall_after))
    return {
        "before": first - 30 * MINUTE,
        "minute-before": first - MINUTE,
        "first-minute": first,
        "inside": first + (last - first) / 2,
        "last-minute": last - MINUTE,
        "end": last,
        "after": last + 30 * MINUTE,
    }


@dataclass(frozen=True)
class Case:
    """A schedule running four hours every day, whose start (or stop) is one of the points around a change."""

    change: Change
    point: str
    role: str  # "start": the window starts at the point; "stop": it stops there

    @property
    def wall(self) -> datetime:
        return points(self.change)[self.point]

    @property
    def walls(self) -> tuple[datetime, datetime]:
        return (self.wall, self.wall + 4 * HOUR) if self.role == "start" else (self.wall - 4 * HOUR, self.wall)

    @property
    def schedule(self) -> Schedule:
        start, stop = self.walls
        return make(self.change.zone, (EVERY_DAY, hhmm(start), hhmm(stop)))

    @property
    def edge(self) -> datetime:
        """When the action at the point takes effect."""
        return self.change.expected(self.wall)

    def __str__(self) -> str:
        return f"{self.change.zone}-{self.change.at:%m%d}-{self.change.kind}-{self.role}s-{self.point}"


CASES = [Case(change, point, role) for change in CHANGES for point in points(change) for role in ("start", "stop")]
REPEATED = [c for c in CASES if c.change.kind == "fall" and c.point in ("first-minute", "inside", "last-minute")]


def test_zoneinfo_has_the_2026_changes_the_table_is_built_from():
    """Given the tz database, when the table looks up 2026, then it finds the changes a calendar shows."""
    by_zone = {zone: offset_changes(zone) for zone in DST_ZONES}

    assert all(len(found) == 2 for found in by_zone.values()), {z: len(c) for z, c in by_zone.items()}
    berlin = by_zone["Europe/Berlin"]
    assert [(c.at, c.kind, hhmm(c.wall_before)) for c in berlin] == [
        (utc("2026-03-29T01:00"), "spring", "02:00"),
        (utc("2026-10-25T01:00"), "fall", "03:00"),
    ]
    assert {c.after - c.before for c in by_zone["Australia/Lord_Howe"]} == {
        timedelta(minutes=30),
        -timedelta(minutes=30),
    }
    santiago = [c for c in by_zone["America/Santiago"] if c.kind == "spring"]
    assert [hhmm(c.wall_before) for c in santiago] == ["00:00"]  # Chile's gap starts at midnight
    assert [hhmm(c.wall_before) for c in by_zone["Pacific/Chatham"]] == ["03:45", "02:45"]  # April ends, Sept starts


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_occurrence_on_a_dst_night_has_one_start_and_one_stop_where_cron_puts_them(case: Case):
    """Given a window whose start or stop is near a change, when we list that day's actions, then there is one start
    and one stop, each at the local time asked for, or at the end of the gap when that time does not exist."""
    start_wall, stop_wall = case.walls
    start, stop = case.change.expected(start_wall), case.change.expected(stop_wall)

    found = transitions(case.schedule, start - HOUR, stop + HOUR)

    assert [(t.action, t.at) for t in found] == [("start", start), ("stop", stop)]
    for transition, wall in zip(found, case.walls, strict=True):
        # The same instant on the schedule's clock. Not `local == at`: an aware datetime inside a repeated hour
        # never equals one in another zone (PEP 495), so compare in UTC.
        assert transition.local.astimezone(UTC) == transition.at
        assert transition.local.tzinfo == ZoneInfo(case.change.zone)
        in_gap = case.change.kind == "spring" and case.change.wall_before <= wall < case.change.wall_after
        assert transition.local.replace(tzinfo=None) == (case.change.wall_after if in_gap else wall)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_desired_state_flips_exactly_at_the_action(case: Case):
    """Given the same windows, when we ask the desired state a minute before, at, and a minute after the action,
    then it is the old state before and the new state from the action on (windows are half-open)."""
    new, old = ("running", "stopped") if case.role == "start" else ("stopped", "running")

    states = {f"t{delta:+d}min": desired_state(case.schedule, case.edge + delta * MINUTE) for delta in (-1, 0, 1)}

    assert states == {"t-1min": old, "t+0min": new, "t+1min": new}


@pytest.mark.parametrize("case", REPEATED, ids=str)
def test_the_second_pass_of_a_repeated_time_does_nothing(case: Case):
    """Given a start or stop at a time the fall-back night shows twice, when the clock shows it again, then nothing
    happens: the state stays what the first occurrence made it."""
    second = (case.wall - case.change.after).replace(tzinfo=UTC)
    assert second > case.edge  # the same wall time, an offset-difference later

    assert transitions(case.schedule, second - MINUTE, second + MINUTE) == []
    assert desired_state(case.schedule, second) == ("running" if case.role == "start" else "stopped")


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        ("Europe/Berlin", "2026-03-29T02:30", "2026-03-29T01:00:00+00:00"),  # in the gap: 03:00 CEST
        ("Europe/Berlin", "2026-03-29T03:00", "2026-03-29T01:00:00+00:00"),  # the gap's end is the same instant
        ("Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00+00:00"),  # repeated: the first, CEST
        ("America/New_York", "2026-03-08T02:15", "2026-03-08T07:00:00+00:00"),
        ("America/New_York", "2026-11-01T01:30", "2026-11-01T05:30:00+00:00"),  # EDT, not EST
        ("Australia/Lord_Howe", "2026-10-04T02:15", "2026-10-03T15:30:00+00:00"),  # a 30-minute gap
        ("Pacific/Chatham", "2026-09-27T03:00", "2026-09-26T14:00:00+00:00"),  # gap 02:45-03:45
        ("America/Santiago", "2026-09-06T00:00", "2026-09-06T04:00:00+00:00"),  # midnight does not exist
        ("Asia/Kathmandu", "2026-03-29T07:00", "2026-03-29T01:15:00+00:00"),
    ],
)
def test_to_utc_examples(zone: str, wall: str, expected: str):
    assert to_utc(datetime.fromisoformat(wall), ZoneInfo(zone)).isoformat() == expected


def test_a_window_inside_the_gap_is_empty_and_takes_no_action():
    """Given 02:15-02:45 in Berlin, when the clock jumps from 02:00 to 03:00, then that night's window never opens:
    no start, no stop, stopped all night; the nights around it are normal."""
    schedule = make("Europe/Berlin", (EVERY_DAY, "02:15", "02:45"))

    found = transitions(schedule, utc("2026-03-28T00:00"), utc("2026-03-31T00:00"))

    assert [(t.action, f"{t.local:%m-%d %H:%M}") for t in found] == [
        ("start", "03-28 02:15"),
        ("stop", "03-28 02:45"),
        ("start", "03-30 02:15"),
        ("stop", "03-30 02:45"),
    ]
    assert desired_state(schedule, utc("2026-03-29T01:00")) == "stopped"


def test_a_start_moved_by_the_gap_onto_another_periods_start_time_runs_on_its_own_day():
    """Given Sunday 01:30-04:45 and Monday 02:00-03:00 in London, when 01:30 does not exist on 29 March, then Sunday
    starts at 02:00 BST (the gap's end), and Monday starts at its own 02:00: found by the year-long property."""
    schedule = make("Europe/London", (["mon"], "02:00", "03:00"), (["sun"], "01:30", "04:45"))

    found = transitions(schedule, utc("2026-03-28T00:00"), utc("2026-03-31T00:00"))

    assert [(t.action, f"{t.local:%a %H:%M}") for t in found] == [
        ("start", "Sun 02:00"),
        ("stop", "Sun 04:45"),
        ("start", "Mon 02:00"),
        ("stop", "Mon 03:00"),
    ]


def test_two_windows_that_meet_in_the_gap_are_one_window():
    """Given 22:00-02:15 and 02:45-06:00 in Berlin, when both 02:15 and 02:45 fall in the gap, then the resource keeps
    running across it: no stop and start at the same instant."""
    schedule = make("Europe/Berlin", (["sat"], "22:00", "02:15"), (["sun"], "02:45", "06:00"))

    found = transitions(schedule, utc("2026-03-28T00:00"), utc("2026-03-30T00:00"))

    assert [(t.action, f"{t.local:%a %H:%M}") for t in found] == [("start", "Sat 22:00"), ("stop", "Sun 06:00")]
    assert desired_state(schedule, utc("2026-03-29T01:00")) == "running"


# -- the whole year, any zone, any period ----------------------------------------------------------------------------

ALL_ZONES = DST_ZONES + FIXED_ZONES
quarter_hours = st.integers(0, 95).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")
# Where the zones above change: in, at the edges of, and around their gaps and repeated hours.
dst_times = st.sampled_from(["00:00", "01:00", "01:30", "01:45", "02:00", "02:15", "02:30", "02:45", "03:00", "03:45"])
times = st.one_of(quarter_hours, dst_times)
periods = st.fixed_dictionaries(
    {"days": st.sets(st.sampled_from(DAYS), min_size=1).map(sorted), "start": times, "stop": times}
)


def _changes_near(zone: str, day: date) -> bool:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return any(c.kind == "spring" for c in offset_changes(zone, start - 2 * 24 * HOUR, start + 2 * 24 * HOUR))


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(ALL_ZONES),
    chosen=st.lists(periods, min_size=1, max_size=2),
    holidays=st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=4),
)
@example(
    zone="Europe/London",
    chosen=[{"days": ["mon"], "start": "02:00", "stop": "03:00"}, {"days": ["sun"], "start": "01:30", "stop": "04:45"}],
    holidays=[],
)
def test_over_a_year_actions_alternate_and_each_occurrence_starts_and_stops_once(zone, chosen, holidays):
    """Given any zone and periods, when we list a year of actions, then they alternate start/stop, the state just
    after each is its action, each local day of the schedule starts once, and each action happens at a configured
    local time or at the end of a DST gap."""
    try:
        schedule = Schedule.model_validate({"timezone": zone, "periods": chosen, "holidays": holidays})
    except ValidationError:
        assume(False)  # overlapping, touching or empty periods: the config rejects them
        raise
    zoneinfo = ZoneInfo(zone)

    found = transitions(schedule, *YEAR)

    assert found, "a schedule with a period runs at least once a year"
    assert all(a.at < b.at for a, b in pairwise(found))
    assert all(a.action != b.action for a, b in pairwise(found))
    for transition in found[:: max(1, len(found) // 40)] + found[-2:]:  # a spread of them: desired_state is slower
        state = "running" if transition.action == "start" else "stopped"
        assert desired_state(schedule, transition.at) == state
        assert desired_state(schedule, transition.at - timedelta(microseconds=1)) != state
    configured = {p.start for p in schedule.periods} | {p.stop for p in schedule.periods}
    moved = set()
    for transition in found:
        if _offset(zoneinfo, transition.at - timedelta(seconds=1)) != _offset(zoneinfo, transition.at):
            moved.add(transition.at)  # at the end of a DST gap: its configured time did not exist that night
        assert f"{transition.local:%H:%M}" in configured or transition.at in moved
    assert max(Counter((t.local.date(), f"{t.local:%H:%M}") for t in found if t.action == "start").values()) == 1
    # A start moved by a gap may land on another period's start time (Sunday 01:30 in London becomes 02:00, the
    # start of a Monday period): only the starts at their own configured time are checked against the days.
    starts = Counter((t.local.date(), f"{t.local:%H:%M}") for t in found if t.action == "start" and t.at not in moved)
    day = date(2026, 1, 3)
    while day <= date(2026, 12, 28):
        for start in {p.start for p in schedule.periods}:
            occurs = day not in schedule.holidays and any(
                p.start == start and DAYS[day.weekday()] in p.days for p in schedule.periods
            )
            if occurs and not starts[(day, start)]:  # only a spring-forward night may drop or move a start
                assert _changes_near(zone, day), (day, start)
            assert occurs or not starts[(day, start)], (day, start)
        day += timedelta(days=1)


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(ALL_ZONES),
    period=periods,
    at=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
)
def test_desired_state_agrees_with_the_windows(zone, period, at):
    try:
        schedule = Schedule.model_validate({"timezone": zone, "periods": [period]})
    except ValidationError:
        assume(False)
        raise
    inside = any(at in window for window in windows(schedule, at - 2 * 24 * HOUR, at + 2 * 24 * HOUR))

    assert desired_state(schedule, at) == ("running" if inside else "stopped")


# -- holidays, midnight, stop-only ----------------------------------------------------------------------------------


def test_a_holiday_drops_the_window_that_starts_on_it():
    """Given office hours with Christmas Eve (a thursday) off, then nothing starts or stops that day."""
    schedule = make("Europe/Berlin", (WEEKDAYS, "07:00", "19:00"), holidays=["2026-12-24"])

    found = transitions(schedule, utc("2026-12-23T00:00"), utc("2026-12-26T00:00"))

    assert [(t.action, t.local.isoformat()) for t in found] == [
        ("start", "2026-12-23T07:00:00+01:00"),
        ("stop", "2026-12-23T19:00:00+01:00"),
        ("start", "2026-12-25T07:00:00+01:00"),
        ("stop", "2026-12-25T19:00:00+01:00"),
    ]
    assert desired_state(schedule, utc("2026-12-24T10:00")) == "stopped"


def test_a_window_that_starts_the_day_before_a_holiday_runs_into_it():
    """Given a nightly batch 22:00-02:00 and the 24th a holiday, then the night of the 23rd still stops at 02:00 on
    the 24th, and the night of the 24th never starts."""
    schedule = make("Europe/Berlin", (WEEKDAYS, "22:00", "02:00"), holidays=["2026-12-24"])

    found = transitions(schedule, utc("2026-12-23T12:00"), utc("2026-12-26T12:00"))

    assert [(t.action, f"{t.local:%d %H:%M}") for t in found] == [
        ("start", "23 22:00"),
        ("stop", "24 02:00"),
        ("start", "25 22:00"),
        ("stop", "26 02:00"),
    ]
    assert desired_state(schedule, utc("2026-12-24T00:30")) == "running"  # 01:30 local, the night of the 23rd
    assert desired_state(schedule, utc("2026-12-24T22:30")) == "stopped"


def test_windows_include_one_that_began_before_the_interval():
    schedule = make("Europe/Berlin", (["fri"], "22:00", "02:00"))

    found = windows(schedule, utc("2026-06-05T23:00"), utc("2026-06-06T06:00"))  # 01:00 CEST, saturday

    assert [(w.start.isoformat(), w.stop.isoformat()) for w in found] == [
        ("2026-06-05T20:00:00+00:00", "2026-06-06T00:00:00+00:00")
    ]


def test_sunday_night_crosses_into_monday_and_the_new_week():
    schedule = make("America/New_York", (["sun"], "23:00", "01:00"))

    found = transitions(schedule, utc("2026-06-07T00:00"), utc("2026-06-09T00:00"))

    assert [(t.action, f"{t.local:%a %H:%M}") for t in found] == [("start", "Sun 23:00"), ("stop", "Mon 01:00")]


def test_a_stop_only_schedule_never_starts_and_tolerates_running_inside_its_window():
    schedule = make("Europe/Berlin", (WEEKDAYS, "07:00", "19:00"), stop_only=True)

    found = transitions(schedule, utc("2026-03-27T00:00"), utc("2026-03-31T00:00"))

    assert [(t.action, f"{t.local:%a %H:%M}") for t in found] == [("stop", "Fri 19:00"), ("stop", "Mon 19:00")]
    assert desired_state(schedule, utc("2026-03-30T10:00")) == "running"  # tolerated, not started
    assert desired_state(schedule, utc("2026-03-30T18:00")) == "stopped"
    assert next_transition(schedule, utc("2026-03-30T00:00"), "start") is None
    assert next_transition(schedule, utc("2026-03-30T00:00")) == found[1]


# -- what a tick acts on ---------------------------------------------------------------------------------------------

OFFICE = make("Europe/Berlin", (WEEKDAYS, "07:00", "19:00"))
MONDAY_START = utc("2026-03-30T05:00")  # 07:00 CEST, the first monday after the change


@pytest.mark.parametrize(
    ("since", "until", "actions"),
    [
        ("2026-03-30T04:45", "2026-03-30T05:00", ["start"]),  # the tick at the start acts on it
        ("2026-03-30T05:00", "2026-03-30T05:15", []),  # and the next one does not again
        ("2026-03-30T04:45", "2026-03-30T04:59:59", []),
        ("2026-03-30T04:00", "2026-03-30T18:00", ["start", "stop"]),  # a missed day is caught up in order
        ("2026-03-30T05:00", "2026-03-30T05:00", []),
    ],
)
def test_changed_is_half_open_since_exclusive_until_inclusive(since, until, actions):
    assert [t.action for t in changed(OFFICE, utc(since), utc(until))] == actions


def test_ticks_on_a_fifteen_minute_grid_see_every_transition_exactly_once():
    """Given ticks every 15 minutes through both changes of a year, each acting on changed(previous tick, tick),
    then together they act on exactly the year's transitions, each once, and on time."""
    schedule = make("Europe/Berlin", (EVERY_DAY, "02:30", "06:00"), (WEEKDAYS, "22:00", "01:00"))
    start, end = utc("2026-03-27T00:00"), utc("2026-03-31T00:00")
    seen: list[tuple[datetime, Transition]] = []
    tick = start
    while tick < end:
        seen += [(tick + 15 * MINUTE, t) for t in changed(schedule, tick, tick + 15 * MINUTE)]
        tick += 15 * MINUTE

    assert [t for _, t in seen] == transitions(schedule, start + timedelta(microseconds=1), end + MINUTE)
    assert all(t.at <= tick_at < t.at + 15 * MINUTE for tick_at, t in seen)


def test_changed_looks_at_a_few_days_not_a_year(monkeypatch):
    """A tick calls changed() for every schedule every 15 minutes: it must not build a year of windows."""
    calls = []
    real = rules.to_utc
    monkeypatch.setattr(rules, "to_utc", lambda wall, zone: calls.append(wall) or real(wall, zone))

    changed(OFFICE, MONDAY_START - 15 * MINUTE, MONDAY_START)

    assert 0 < len(calls) <= 2 * 7  # a start and a stop for each weekday of about a week


def test_next_transition_is_strictly_after_and_can_ask_for_one_action():
    assert next_transition(OFFICE, MONDAY_START) == Transition(
        utc("2026-03-30T17:00"), "stop", utc("2026-03-30T17:00").astimezone(ZoneInfo("Europe/Berlin"))
    )
    assert next_transition(OFFICE, MONDAY_START - MINUTE).at == MONDAY_START
    friday_evening = utc("2026-04-03T18:00")
    assert next_transition(OFFICE, friday_evening, "start").local.isoformat() == "2026-04-06T07:00:00+02:00"


def test_next_transition_gives_up_after_400_days():
    schedule = make(
        "Europe/Berlin",
        (["mon"], "07:00", "19:00"),
        holidays=[date(2026, 3, 30) + timedelta(weeks=w) for w in range(60)],
    )

    assert next_transition(schedule, utc("2026-03-29T00:00")) is None


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda naive: desired_state(OFFICE, naive), "t"),
        (lambda naive: transitions(OFFICE, naive, YEAR[1]), "start"),
        (lambda naive: transitions(OFFICE, YEAR[0], naive), "end"),
        (lambda naive: windows(OFFICE, naive, YEAR[1]), "start"),
        (lambda naive: changed(OFFICE, naive, YEAR[1]), "since"),
        (lambda naive: changed(OFFICE, YEAR[0], naive), "until"),
        (lambda naive: next_transition(OFFICE, naive), "after"),
    ],
)
def test_naive_instants_are_refused_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be timezone-aware"):
        call(datetime(2026, 6, 1, 12, 0))


def test_an_interval_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match=r"until .* is before since"):
        changed(OFFICE, MONDAY_START, MONDAY_START - MINUTE)
