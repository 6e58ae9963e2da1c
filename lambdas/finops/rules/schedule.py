"""When a schedule wants its resources running: exact to the second across daylight-saving changes.

Pure: no boto3, no environment, no clock. Every instant in and out is timezone-aware; results are in UTC.

A schedule's periods are local wall-clock times in its zone. Each period, on each of its days that is not a holiday
(by the window's local *start* date), makes one *occurrence*: a running window from its start to its stop (the next
day when ``stop < start``). Daylight-saving time is handled as cron documents it:

- a local time that does not exist (the spring-forward gap) takes effect at the first valid instant after the gap,
  which is the UTC instant of the change itself: Europe/Berlin 2026-03-29 02:30 is 01:00Z (03:00 CEST);
- a local time that occurs twice (fall-back) takes effect at its first occurrence; the second pass does nothing.

Both rules are one: *a local time takes effect at the first instant whose wall clock reads that time or later*. So
every occurrence has exactly one start and one stop, on every day of the year, in every zone (southern hemisphere,
half-hour and 45-minute offsets, Lord Howe's 30-minute shift), and local order is kept: a stop never comes before
its start. Two consequences, both only on a spring-forward night:

- an occurrence whose start and stop both fall in the gap (02:15-02:45 in Berlin) would start and stop at the same
  instant: it is *empty* and dropped, with neither a start nor a stop;
- when one window's stop and the next window's start fall in the same gap, they meet at one instant: the two are
  *joined* into one window, and that stop and start are not emitted (the resource keeps running).

Thus transitions strictly alternate start, stop, start, ... (a stop-only schedule has only the stops), and the state
just after each is its action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from finops.models.scheduler_config import DAYS, Schedule

__all__ = [
    "Action",
    "State",
    "Transition",
    "Window",
    "changed",
    "desired_state",
    "next_transition",
    "to_utc",
    "transitions",
    "windows",
]

State = Literal["running", "stopped"]
Action = Literal["start", "stop"]

SEARCH_DAYS = 400
# Local dates to build around an interval: a window that started up to two days before (it crosses midnight, then a
# DST change moves it), and one day after, so windows joined across a gap are joined whole.
_DAYS_BEFORE, _DAYS_AFTER = 3, 1
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Transition:
    """One action a schedule takes: ``at`` in UTC, ``local`` the same instant on the schedule's wall clock.

    Order and compare by ``at``. ``local`` is for showing: two aware datetimes in one zone compare by wall time and
    ignore ``fold`` (both 02:30s of a fall-back night are "equal"), and one inside a repeated hour never equals an
    instant in another zone (PEP 495).
    """

    at: datetime
    action: Action
    local: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """A running window in UTC, half-open: running at ``start``, stopped again at ``stop``."""

    start: datetime
    stop: datetime

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.stop


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got the naive {value.isoformat()})")
    return value.astimezone(UTC)


def _ordered(first: str, start: datetime, second: str, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware(first, start), _aware(second, end)
    if end < start:
        raise ValueError(f"{second} ({end.isoformat()}) is before {first} ({start.isoformat()})")
    return start, end


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:  # never for a ZoneInfo
        raise ValueError(f"{moment!r} has no UTC offset")
    return offset


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive local wall-clock time takes effect: the first instant whose wall clock reads it or later.

    Normal times map one to one; in a fall-back overlap the first occurrence wins (``fold=0``); in a spring-forward
    gap it is the instant of the change. zoneinfo itself resolves a gap time with the offset from *before* the change
    (``fold=0``), which lands after the gap by its length (02:30 in Berlin would read 03:30 CEST): not what cron does.
    """
    if wall.tzinfo is not None:
        raise ValueError(f"wall must be a naive local time (got {wall.isoformat()})")
    before, after = _offset(wall.replace(tzinfo=zone, fold=0)), _offset(wall.replace(tzinfo=zone, fold=1))
    naive_utc = wall - before
    if before >= after:  # one occurrence, or two (fall-back) of which fold=0 is the first
        return naive_utc.replace(tzinfo=UTC)
    # In the gap: the change lies in (wall - after, wall - before]; find it to the second (tz data is in seconds).
    low, high = (wall - after).replace(tzinfo=UTC), naive_utc.replace(tzinfo=UTC)
    offset_before_change = _offset(low.astimezone(zone))
    while high - low > _SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if _offset(middle.astimezone(zone)) == offset_before_change:
            low = middle
        else:
            high = middle
    return high


def _occurrences(schedule: Schedule, first: date, last: date) -> Iterable[Window]:
    zone, holidays = schedule.zone, set(schedule.holidays)
    day = first
    while day <= last:
        if day not in holidays:
            weekday = DAYS[day.weekday()]
            for period in schedule.periods:
                if weekday in period.days:
                    stop_day = day + timedelta(days=1) if period.crosses_midnight else day
                    start = to_utc(datetime.combine(day, period.start_time), zone)
                    stop = to_utc(datetime.combine(stop_day, period.stop_time), zone)
                    if stop > start:  # empty only when both fall in one spring-forward gap: dropped
                        yield Window(start, stop)
        day += timedelta(days=1)


def _built(schedule: Schedule, start: datetime, end: datetime) -> list[Window]:
    """Every window of the local dates around [start, end], sorted, windows that meet joined into one."""
    zone = schedule.zone
    first = start.astimezone(zone).date() - timedelta(days=_DAYS_BEFORE)
    last = end.astimezone(zone).date() + timedelta(days=_DAYS_AFTER)
    joined: list[Window] = []
    for window in sorted(_occurrences(schedule, first, last), key=lambda w: w.start):
        if joined and window.start <= joined[-1].stop:
            joined[-1] = Window(joined[-1].start, max(joined[-1].stop, window.stop))
        else:
            joined.append(window)
    return joined


def _actions(schedule: Schedule, built: Iterable[Window]) -> list[Transition]:
    zone, found = schedule.zone, []
    for window in built:
        if not schedule.stop_only:
            found.append(Transition(at=window.start, action="start", local=window.start.astimezone(zone)))
        found.append(Transition(at=window.stop, action="stop", local=window.stop.astimezone(zone)))
    return found


def windows(schedule: Schedule, start: datetime, end: datetime) -> list[Window]:
    """Every running window that intersects [start, end), sorted; a window may begin before ``start``."""
    start, end = _ordered("start", start, "end", end)
    return [w for w in _built(schedule, start, end) if w.stop > start and w.start < end]


def desired_state(schedule: Schedule, t: datetime) -> State:
    """``running`` inside a window [start, stop), else ``stopped``.

    For a stop-only schedule ``running`` means *tolerated*: the scheduler never starts anything, but it does not
    stop what runs inside a window either.
    """
    t = _aware("t", t)
    return "running" if any(t in window for window in _built(schedule, t, t)) else "stopped"


def transitions(schedule: Schedule, start: datetime, end: datetime) -> list[Transition]:
    """Every action in [start, end), sorted. A stop-only schedule has no starts."""
    start, end = _ordered("start", start, "end", end)
    return [x for x in _actions(schedule, _built(schedule, start, end)) if start <= x.at < end]


def changed(schedule: Schedule, since: datetime, until: datetime) -> list[Transition]:
    """The actions in (since, until]: what a tick at ``until``, whose last completed tick ran at ``since``, acts on.

    A transition exactly at ``until`` is this tick's; one exactly at ``since`` was the previous tick's. Builds only
    the few days around the interval, so a tick can call it for every schedule. On a spring-forward night a window
    can become shorter than a tick, so one interval may hold both the start and the stop of one window: act on the
    last action per resource, or on :func:`desired_state` at ``until``.
    """
    since, until = _ordered("since", since, "until", until)
    return [x for x in _actions(schedule, _built(schedule, since, until)) if since < x.at <= until]


def next_transition(schedule: Schedule, after: datetime, action: Action | None = None) -> Transition | None:
    """The first transition strictly after ``after`` (only ``action``s, when given), within 400 days; else None."""
    after = _aware("after", after)
    if action == "start" and schedule.stop_only:
        return None
    horizon, step = after + timedelta(days=SEARCH_DAYS), timedelta(days=7)
    cursor = after
    while cursor < horizon:
        chunk_end = min(cursor + step, horizon)
        for found in _actions(schedule, _built(schedule, cursor, chunk_end)):
            if after < found.at and cursor <= found.at <= chunk_end and action in (None, found.action):
                return found
        cursor = chunk_end
    return None
