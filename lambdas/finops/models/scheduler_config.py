"""The scheduler's part of ``finops.yaml``: which schedules exist, and how the hub ticks through them.

A schedule is a set of weekly running windows in one IANA time zone; resources name their schedule in a tag. The
model checks everything it can without a clock: that each zone exists, that windows are well formed and never
overlap or touch (in local time, including windows that cross midnight or the sunday-to-monday wrap), that no window
is shorter than a tick, and that every name a resource could carry in a tag is one RDS accepts as a tag value.
What happens at a daylight-saving change is decided in :mod:`finops.rules.schedule`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from functools import cache
from itertools import combinations
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, field_validator, model_validator

from finops.models.base import Mode, StrictModel
from finops.models.problems import Loc, PathProblems

__all__ = ["DAYS", "Day", "Period", "Schedule", "SchedulerConfig", "rds_tag_problem"]

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Keys that zoneinfo resolves but that are not a place: the host's own zone, tzdata's build artefacts, and the
# leap-second ("right/") and POSIX-rule copies of the real zones.
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})
# RDS allows in tag keys and values: Unicode letters (L), separators (Z), numbers (N) and these.
_RDS_PUNCTUATION = frozenset("_.:/=+-@")
RDS_TAG_VALUE_MAX = 256
RDS_TAG_KEY_MAX = 128


def rds_tag_problem(text: str, *, max_length: int = RDS_TAG_VALUE_MAX) -> str | None:
    """Why ``text`` cannot be written as an RDS tag value (or key), or None when it can.

    RDS is the strictest of the services the scheduler tags: ``^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$``, at most 256
    characters for a value (128 for a key). EC2 accepts everything RDS does.
    """
    bad = sorted({ch for ch in text if unicodedata.category(ch)[0] not in "LZN" and ch not in _RDS_PUNCTUATION})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        return f"has characters RDS does not allow in tags ({shown}): use letters, digits, spaces and _ . : / = + - @"
    if len(text) > max_length:
        return f"is {len(text)} characters long, more than the {max_length} RDS allows"
    return None


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the whole tz database: only when a name is wrong


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone this runtime knows, or None when it is."""
    try:
        if name in _NOT_A_PLACE or name.startswith(("posix/", "right/")):
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = [zone for zone in _known_zones() if zone.lower() == name.strip().lower() and zone not in _NOT_A_PLACE]
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name such as Europe/Berlin or America/New_York"
        return f"unknown time zone {name!r} ({hint})"
    return None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Period(StrictModel):
    """One running window, repeated on each of ``days``: from ``start`` until ``stop``, in the schedule's zone.

    ``days`` name the day the window starts; a ``stop`` earlier than ``start`` ends the next day.
    """

    days: tuple[Day, ...]
    start: str
    stop: str

    @field_validator("days", mode="before")
    @classmethod
    def _fold_day_names(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(day.strip().lower() if isinstance(day, str) else day for day in value)
        return value

    @field_validator("days")
    @classmethod
    def _each_day_once(cls, days: tuple[Day, ...]) -> tuple[Day, ...]:
        # Not Field(min_length=1): pydantic would also report "too short" whenever one item is invalid.
        if not days:
            raise ValueError("needs at least one day (mon, tue, wed, thu, fri, sat, sun)")
        twice = sorted({day for day in days if days.count(day) > 1}, key=DAYS.index)
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return days

    @field_validator("start", "stop", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 19:00 as the base-60 number 1140.
            raise ValueError(f'write times in quotes, e.g. "{value // 60:02d}:{value % 60:02d}" (YAML read a number)')
        if isinstance(value, str) and not _HHMM.match(value.strip()):
            raise ValueError('expected a 24-hour time "HH:MM", e.g. "07:00" or "19:30"')
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _has_a_length(self) -> Period:
        if self.start == self.stop:
            raise ValueError(f"start and stop are both {self.start}: a window needs a length")
        return self

    @property
    def start_time(self) -> time:
        return time(*divmod(_minutes(self.start), 60))

    @property
    def stop_time(self) -> time:
        return time(*divmod(_minutes(self.stop), 60))

    @property
    def crosses_midnight(self) -> bool:
        return _minutes(self.stop) < _minutes(self.start)

    @property
    def minutes(self) -> int:
        """How long each window lasts on the local clock (a DST night may make it an hour longer or shorter)."""
        return (_minutes(self.stop) - _minutes(self.start)) % MINUTES_PER_DAY

    def label(self) -> str:
        return f"{self.start}-{self.stop}"

    def week_spans(self) -> list[tuple[int, int]]:
        """Each window as [start, stop) in minutes from monday 00:00, local time; a stop may pass the week's end."""
        first = _minutes(self.start)
        return [
            (DAYS.index(day) * MINUTES_PER_DAY + first, DAYS.index(day) * MINUTES_PER_DAY + first + self.minutes)
            for day in self.days
        ]


def _meet(first: Period, second: Period) -> tuple[str, int] | None:
    """Whether two periods overlap or touch in the weekly local model: ("overlap" | "touch", minute of the week)."""
    touch: int | None = None
    for a_start, a_stop in first.week_spans():
        for b_start, b_stop in second.week_spans():
            for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK):
                b0, b1 = b_start + shift, b_stop + shift
                if a_start < b1 and b0 < a_stop:
                    return "overlap", max(a_start, b0)
                if touch is None and (a_stop == b0 or b1 == a_start):
                    touch = a_stop if a_stop == b0 else a_start
    return ("touch", touch) if touch is not None else None


class Schedule(StrictModel):
    """Weekly running windows in one time zone. Outside every window, resources on this schedule are stopped."""

    timezone: str = Field(description="IANA zone; days, times and holidays are local to it")
    periods: tuple[Period, ...]
    holidays: tuple[date, ...] = Field(default=(), description="a window whose local start date is listed is dropped")
    stop_only: bool = Field(default=False, description="never start; running inside a window is tolerated")
    enforced: bool = Field(default=False, description="re-stop what someone started by hand outside a window")
    hibernate: bool = Field(default=False, description="hibernate EC2 instances that support it instead of stopping")

    @field_validator("periods")
    @classmethod
    def _at_least_one(cls, periods: tuple[Period, ...]) -> tuple[Period, ...]:
        if not periods:
            raise ValueError("needs at least one period: a schedule without a window would stop its resources for good")
        return periods

    @model_validator(mode="after")
    def _zone_exists_and_periods_apart(self) -> Schedule:
        found: list[tuple[Loc, str]] = []
        if problem := zone_problem(self.timezone):
            found.append((("timezone",), problem))
        for (i, first), (j, second) in combinations(enumerate(self.periods), 2):
            if meeting := _meet(first, second):
                how, minute = meeting
                day = DAYS[(minute % MINUTES_PER_WEEK) // MINUTES_PER_DAY]
                verb, fix = (
                    ("overlaps", "") if how == "overlap" else ("touches", ": leave a gap, or make them one period")
                )
                found.append(
                    (("periods", j), f"{verb} periods[{i}] on {day} ({first.label()} and {second.label()}){fix}")
                )
        if found:
            raise PathProblems(found)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances


class SchedulerConfig(StrictModel):
    """``capabilities.scheduler``: start and stop resources by the schedule named in their tag."""

    mode: Mode = Mode.REPORT
    paused: bool = False
    tick_minutes: int = Field(default=15, ge=1, le=60, description="the tick cadence, on the UTC grid")
    reconcile_minutes: int = Field(
        default=60,
        ge=1,
        le=MINUTES_PER_DAY,
        description="enforced schedules, overrides that expired, the RDS 7-day re-stop",
    )
    catch_up_hours: int = Field(
        default=24,
        ge=1,  # 0 would drop every tick's own transition
        le=168,
        description="a missed tick is caught up by the next one up to this far back; older transitions are reported",
    )
    tag_key: str = Field(default="schedule", min_length=1, max_length=RDS_TAG_KEY_MAX)
    opt_out_value: str = Field(default="always-on", min_length=1)
    override_tag_key: str = Field(default="schedule-override", min_length=1, max_length=RDS_TAG_KEY_MAX)
    default_by_environment: dict[str, str] = Field(
        default_factory=dict, description="environment tag value -> schedule, for resources without the tag (opt-in)"
    )
    schedules: dict[str, Schedule] = Field(default_factory=dict)

    @field_validator("tick_minutes")
    @classmethod
    def _tick_divides_the_hour(cls, minutes: int) -> int:
        if 60 % minutes:
            divisors = [d for d in range(1, 61) if 60 % d == 0]
            listed = ", ".join(map(str, divisors[:-1])) + f" or {divisors[-1]}"
            raise ValueError(f"must be one of {listed}: a divisor of 60, so ticks fall on the same minutes every hour")
        return minutes

    @field_validator("reconcile_minutes")
    @classmethod
    def _reconcile_divides_the_day(cls, minutes: int) -> int:
        if MINUTES_PER_DAY % minutes:
            raise ValueError("must divide 1440, the minutes of a day, so reconciles fall at the same times every day")
        return minutes

    @field_validator("tag_key", "override_tag_key", "opt_out_value")
    @classmethod
    def _writable_on_rds(cls, text: str) -> str:
        if problem := rds_tag_problem(text):
            raise ValueError(problem)
        return text

    @field_validator("default_by_environment")
    @classmethod
    def _environments_fold_case(cls, mapping: dict[str, str]) -> dict[str, str]:
        folded = {environment.strip().lower(): schedule for environment, schedule in mapping.items()}
        if len(folded) != len(mapping):
            raise ValueError("two environments differ only in case; environment values compare case-insensitively")
        return folded

    @field_validator("schedules")
    @classmethod
    def _names_are_tag_values(cls, schedules: dict[str, Schedule]) -> dict[str, Schedule]:
        found: list[tuple[Loc, str]] = []
        for name in schedules:
            if not name.strip():
                found.append(((name,), "the schedule name is empty: resources name their schedule in a tag"))
            elif problem := rds_tag_problem(name):
                found.append(((name,), f"the schedule name {problem}"))
        if found:
            raise PathProblems(found)
        return schedules

    @model_validator(mode="after")
    def _consistent(self) -> SchedulerConfig:
        found: list[tuple[Loc, str]] = []
        if self.reconcile_minutes % self.tick_minutes:
            found.append(
                (
                    ("reconcile_minutes",),
                    f"{self.reconcile_minutes} is not a multiple of tick_minutes ({self.tick_minutes})",
                )
            )
        if self.tag_key == self.override_tag_key:
            found.append((("override_tag_key",), f"is the same as tag_key ({self.tag_key!r})"))
        clash = [name for name in self.schedules if name.lower() == self.opt_out_value.lower()]
        if clash:  # compared case-insensitively, as resources' tag values are
            found.append((("opt_out_value",), f"{self.opt_out_value!r} is also the name of a schedule ({clash[0]!r})"))
        known = ", ".join(sorted(self.schedules)) or "none defined"
        for environment, name in self.default_by_environment.items():
            if name != self.opt_out_value and name not in self.schedules:
                found.append(
                    (
                        ("default_by_environment", environment),
                        f"unknown schedule {name!r} (known: {known}, or {self.opt_out_value!r} to opt out)",
                    )
                )
        for name, schedule in self.schedules.items():
            for i, period in enumerate(schedule.periods):
                if period.minutes < self.tick_minutes:
                    found.append(
                        (
                            ("schedules", name, "periods", i),
                            f"the window {period.label()} lasts {period.minutes} minute(s), "
                            f"shorter than tick_minutes ({self.tick_minutes})",
                        )
                    )
        if found:
            raise PathProblems(found)
        return self

    def schedule_for_environment(self, environment: str | None) -> str | None:
        """The schedule (or the opt-out value) a resource without the schedule tag gets from its environment tag."""
        return self.default_by_environment.get((environment or "").strip().lower())
