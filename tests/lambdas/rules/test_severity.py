"""Severity tiers: the first tier (most severe first) whose floors the impact reaches."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.models.config import SeverityTier
from finops.rules.severity import classify

TIERS = (
    SeverityTier(name="critical", min_impact_usd=1000),
    SeverityTier(name="high", min_impact_usd=250, min_impact_percent=20),
    SeverityTier(name="medium", min_impact_usd=50),
    SeverityTier(name="low", min_impact_usd=0),
)


@pytest.mark.parametrize(
    ("usd", "pct", "tier"),
    [
        ("1430", "348.78", "critical"),
        ("1000", "0", "critical"),
        ("999.99", "50", "high"),
        ("300", "10", "medium"),  # big enough in dollars, too small a change for "high"
        ("50", None, "medium"),
        ("49.99", "900", "low"),
        (None, None, "low"),  # impact not reported: still alerted, in the least severe tier
    ],
)
def test_tiers(usd, pct, tier):
    got = classify(Decimal(usd) if usd else None, Decimal(pct) if pct else None, TIERS)
    assert got.name == tier


def test_when_every_tier_has_a_floor_small_anomalies_still_get_the_last_tier():
    tiers = (SeverityTier(name="big", min_impact_usd=500), SeverityTier(name="some", min_impact_usd=100))
    assert classify(Decimal(5), Decimal(1), tiers).name == "some"


@given(st.decimals(min_value=0, max_value=10**7, places=2), st.decimals(min_value=0, max_value=10**4, places=2))
def test_more_impact_never_means_a_less_severe_tier(usd, pct):
    rank = TIERS.index(classify(usd, pct, TIERS))
    assert TIERS.index(classify(usd * 2 + 1, pct * 2 + 1, TIERS)) <= rank
