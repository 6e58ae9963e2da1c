"""How late a parked alert was delivered, as its banner says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from finops.services.redrive import how_late

PARKED = datetime(2026, 11, 27, 8, 14, 3, 512000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("waited", "said"),
    [
        (timedelta(seconds=20), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=46, seconds=59), "47 minutes"),
        (timedelta(minutes=119), "119 minutes"),
        (timedelta(hours=3, minutes=5), "3 hours 5 minutes"),
        (timedelta(hours=12), "12 hours"),
        (timedelta(days=2, hours=4), "2 days 4 hours"),
        (timedelta(seconds=-5), "less than a minute"),  # clocks a little apart
    ],
)
def test_how_late(waited, said):
    assert how_late(PARKED, PARKED + waited) == said
