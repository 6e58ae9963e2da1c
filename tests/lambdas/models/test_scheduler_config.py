"""capabilities.scheduler in finops.yaml: the shipped schedules are valid; a bad one is rejected with its key path."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from finops.models.config import ConfigError, Mode, load_config, parse_config
from finops.models.scheduler_config import SchedulerConfig, rds_tag_problem

ROOT = Path(__file__).parents[3]
AT = "capabilities.scheduler"


def shipped() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "finops.yaml").read_text())


def problems_with(**scheduler: Any) -> list[str]:
    """The problems of the shipped config with ``capabilities.scheduler`` keys replaced (or added)."""
    data = shipped()
    data["capabilities"]["scheduler"].update(scheduler)
    with pytest.raises(ConfigError) as error:
        parse_config(data, source="finops.yaml")
    return error.value.problems


def with_office_periods(*periods: dict[str, Any], **schedule: Any) -> dict[str, Any]:
    schedules = shipped()["capabilities"]["scheduler"]["schedules"]
    schedules["office-hours"].update(periods=list(periods), **schedule)
    return schedules


def test_the_shipped_schedules_parse():
    scheduler = load_config(ROOT / "finops.yaml").capabilities.scheduler

    assert scheduler.mode == Mode.REPORT
    assert sorted(scheduler.schedules) == ["nightly-batch", "office-hours", "us-office-hours"]
    office = scheduler.schedules["office-hours"]
    assert office.zone.key == "Europe/Berlin"
    assert office.periods[0].days == ("mon", "tue", "wed", "thu", "fri")
    assert date(2026, 12, 24) in office.holidays
    assert scheduler.schedules["nightly-batch"].periods[0].crosses_midnight
    assert scheduler.schedule_for_environment("Dev") == "office-hours"
    assert scheduler.schedule_for_environment(None) is None


def test_defaults_are_report_only_with_no_schedules():
    scheduler = SchedulerConfig()

    assert (scheduler.mode, scheduler.paused, scheduler.tick_minutes, scheduler.reconcile_minutes) == (
        Mode.REPORT,
        False,
        15,
        60,
    )
    assert (scheduler.tag_key, scheduler.opt_out_value, scheduler.override_tag_key) == (
        "schedule",
        "always-on",
        "schedule-override",
    )
    assert (scheduler.catch_up_hours, scheduler.schedules, scheduler.default_by_environment) == (24, {}, {})


def test_the_config_survives_the_trip_to_the_lambdas():
    """The config layer carries model_dump(mode="json"); parsing that again gives the same schedules."""
    scheduler = load_config(ROOT / "finops.yaml").capabilities.scheduler

    assert SchedulerConfig.model_validate(scheduler.model_dump(mode="json")) == scheduler


def test_day_names_fold_to_lowercase():
    schedules = with_office_periods({"days": ["Mon", "TUE", " wed "], "start": "07:00", "stop": "19:00"})

    scheduler = SchedulerConfig.model_validate({"schedules": schedules})

    assert scheduler.schedules["office-hours"].periods[0].days == ("mon", "tue", "wed")


OFFICE = f"{AT}.schedules.office-hours"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {
                "schedules": with_office_periods(
                    {"days": ["mon", "tue"], "start": "07:00", "stop": "19:00"},
                    {"days": ["tue"], "start": "18:00", "stop": "20:00"},
                )
            },
            f"{OFFICE}.periods[1]: overlaps periods[0] on tue (07:00-19:00 and 18:00-20:00)",
        ),
        (
            {
                "schedules": with_office_periods(
                    {"days": ["tue"], "start": "07:00", "stop": "19:00"},
                    {"days": ["tue"], "start": "19:00", "stop": "20:00"},
                )
            },
            f"{OFFICE}.periods[1]: touches periods[0] on tue (07:00-19:00 and 19:00-20:00)",
        ),
        (  # crossing midnight into the next day's window
            {
                "schedules": with_office_periods(
                    {"days": ["fri"], "start": "22:00", "stop": "02:00"},
                    {"days": ["sat"], "start": "01:00", "stop": "05:00"},
                )
            },
            f"{OFFICE}.periods[1]: overlaps periods[0] on sat (22:00-02:00 and 01:00-05:00)",
        ),
        (  # sunday night into monday: the week wraps
            {
                "schedules": with_office_periods(
                    {"days": ["mon"], "start": "00:00", "stop": "06:00"},
                    {"days": ["sun"], "start": "20:00", "stop": "00:00"},
                )
            },
            f"{OFFICE}.periods[1]: touches periods[0] on mon (00:00-06:00 and 20:00-00:00)",
        ),
        (
            {
                "schedules": with_office_periods(
                    {"days": ["mon"], "start": "07:00", "stop": "19:00"},
                    {"days": ["sat"], "start": "10:00", "stop": "10:10"},
                )
            },
            f"{OFFICE}.periods[1]: the window 10:00-10:10 lasts 10 minute(s), shorter than tick_minutes (15)",
        ),
        (
            {
                "schedules": with_office_periods({"days": ["mon"], "start": "07:00", "stop": "07:20"}),
                "tick_minutes": 30,
            },
            f"{OFFICE}.periods[0]: the window 07:00-07:20 lasts 20 minute(s), shorter than tick_minutes (30)",
        ),
        (
            {
                "schedules": with_office_periods(
                    {"days": ["mon"], "start": "07:00", "stop": "19:00"}, timezone="Europe/Berlinn"
                )
            },
            f"{OFFICE}.timezone: unknown time zone 'Europe/Berlinn'",
        ),
        (
            {
                "schedules": with_office_periods(
                    {"days": ["mon"], "start": "07:00", "stop": "19:00"}, timezone="europe/berlin"
                )
            },
            f"{OFFICE}.timezone: unknown time zone 'europe/berlin' (did you mean 'Europe/Berlin'?)",
        ),
        (
            {
                "schedules": with_office_periods(
                    {"days": ["mon"], "start": "07:00", "stop": "19:00"}, timezone="localtime"
                )
            },
            f"{OFFICE}.timezone: unknown time zone 'localtime'",  # the host's zone is no place
        ),
        (
            {"default_by_environment": {"dev": "offce-hours"}},
            f"{AT}.default_by_environment.dev: unknown schedule 'offce-hours' "
            "(known: nightly-batch, office-hours, us-office-hours, or 'always-on' to opt out)",
        ),
        (
            {
                "schedules": {"office,hours": shipped()["capabilities"]["scheduler"]["schedules"]["office-hours"]},
                "default_by_environment": {},
            },
            f"{AT}.schedules.office,hours: the schedule name has characters RDS does not allow in tags (',')",
        ),
        (
            {
                "schedules": {"a&b": shipped()["capabilities"]["scheduler"]["schedules"]["office-hours"]},
                "default_by_environment": {},
            },
            f"{AT}.schedules.a&b: the schedule name has characters RDS does not allow in tags ('&')",
        ),
        (
            {"opt_out_value": "always;on"},
            f"{AT}.opt_out_value: has characters RDS does not allow in tags (';')",
        ),
        (
            {"tick_minutes": 7},
            f"{AT}.tick_minutes: must be one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60: a divisor of 60",
        ),
        ({"tick_minutes": 0}, f"{AT}.tick_minutes: Input should be greater than or equal to 1"),
        ({"reconcile_minutes": 50}, f"{AT}.reconcile_minutes: must divide 1440"),
        ({"reconcile_minutes": 2880}, f"{AT}.reconcile_minutes: Input should be less than or equal to 1440"),
        (
            {"reconcile_minutes": 48, "tick_minutes": 20},
            f"{AT}.reconcile_minutes: 48 is not a multiple of tick_minutes (20)",
        ),
        (
            {"opt_out_value": "Office-Hours"},
            f"{AT}.opt_out_value: 'Office-Hours' is also the name of a schedule ('office-hours')",
        ),
        ({"override_tag_key": "schedule"}, f"{AT}.override_tag_key: is the same as tag_key ('schedule')"),
        ({"pause": True}, f"{AT}.pause: unknown key"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value.split(": ", 1)[-1][:40],
)
def test_bad_scheduler_settings_name_the_key_path(change, problem):
    found = problems_with(**change)

    assert any(line.startswith(problem) for line in found), found


@pytest.mark.parametrize(
    ("period", "problem"),
    [
        ({"days": ["mon", "monday"]}, ".days[1]: Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"),
        ({"days": ["mon", "Mon"]}, ".days: lists mon more than once"),
        ({"days": []}, ".days: needs at least one day"),
        ({"start": "7:00"}, '.start: expected a 24-hour time "HH:MM"'),
        ({"stop": "24:00"}, '.stop: expected a 24-hour time "HH:MM"'),
        ({"stop": 1140}, '.stop: write times in quotes, e.g. "19:00"'),  # YAML's reading of an unquoted 19:00
        ({"stop": "07:00"}, ": start and stop are both 07:00: a window needs a length"),
        ({"begin": "07:00"}, ".begin: unknown key"),
    ],
)
def test_a_bad_period_names_its_schedule_and_index(period, problem):
    schedules = with_office_periods(
        {"days": ["sat"], "start": "10:00", "stop": "12:00"},
        {"days": ["mon"], "start": "07:00", "stop": "19:00", **period},
    )

    found = problems_with(schedules=schedules)

    assert [line for line in found if line.startswith(f"{OFFICE}.periods[1]{problem}")], found
    assert len(found) == 1, found  # and nothing else: no echo of the same mistake


def test_a_schedule_needs_a_period():
    found = problems_with(schedules=with_office_periods())

    assert found == [
        f"{OFFICE}.periods: needs at least one period: a schedule without a window would stop its resources for good"
    ]


def test_a_holiday_must_be_a_date():
    found = problems_with(
        schedules=with_office_periods({"days": ["mon"], "start": "07:00", "stop": "19:00"}, holidays=["2026-13-01"])
    )

    assert found[0].startswith(f"{OFFICE}.holidays[0]: Input should be a valid date")


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("office-hours", True),
        ("Bürozeiten 9:00/17:00 @berlin+1=ok_.", True),  # letters of any script, spaces, the allowed punctuation
        ("営業時間", True),
        ("office,hours", False),
        ("a&b", False),
        ("tab\there", False),  # a control character is not a separator (\p{Z})
        ("x" * 256, True),
        ("x" * 257, False),
    ],
)
def test_schedule_names_are_checked_against_rds_tag_values(text, allowed):
    assert (rds_tag_problem(text) is None) == allowed
