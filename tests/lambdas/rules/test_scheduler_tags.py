"""The scheduler's tag values: the sizes it remembers on a group, the time it stopped a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from finops.rules.scheduler_tags import GroupSizes, stopped_at_value


@pytest.mark.parametrize(
    ("value", "sizes"),
    [
        ("min=1,desired=2,max=4", GroupSizes(1, 2, 4)),
        ("min=0,desired=3,max=5", GroupSizes(0, 3, 5)),
        ("max=4, desired=2 ,min=1", GroupSizes(1, 2, 4)),
        ("min=0,desired=0,max=0", GroupSizes(0, 0, 0)),
    ],
)
def test_sizes_are_read_from_the_tag(value, sizes):
    assert GroupSizes.from_tag(value) == sizes


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", "expected min=<n>,desired=<n>,max=<n>"),
        ("min=1,desired=2", "missing max"),
        ("min=1,desired=2,max=4,max=5", "expected min=<n>"),
        ("min=1,desired=two,max=4", "desired must be a whole number"),
        ("min=-1,desired=2,max=4", "min must be a whole number"),
        ("min=1,desired=5,max=4", "min <= desired <= max"),
        ("size=1,desired=2,max=4", "expected min=<n>"),
    ],
)
def test_a_tag_that_is_not_sizes_says_what_is_wrong(value, complaint):
    with pytest.raises(ValueError, match=complaint):
        GroupSizes.from_tag(value)


def test_sizes_round_trip_through_the_tag():
    assert GroupSizes(1, 2, 4).to_tag() == "min=1,desired=2,max=4"
    assert GroupSizes.from_tag(GroupSizes(0, 3, 5).to_tag()) == GroupSizes(0, 3, 5)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 19, 0, 0, 999, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_stopped_at_is_the_runs_clock_in_utc_to_the_second(now):
    assert stopped_at_value(now) == "2026-11-27T18:00:00Z"


def test_a_naive_clock_is_a_bug():
    with pytest.raises(ValueError, match="timezone-aware"):
        stopped_at_value(datetime(2026, 11, 27, 18, 0))
