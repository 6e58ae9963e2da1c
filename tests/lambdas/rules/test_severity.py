"""Severity tiers: the first tier (most severe first) whose dollar AND percent floors the impact reaches."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.models.config import SeverityTier
from finops.rules.severity import classify, classify_budget, escalated, rank, tiers_between

TIERS = (
    SeverityTier(name="critical", min_impact_usd=1000),
    SeverityTier(name="high", min_impact_usd=250, min_impact_percent=20),
    SeverityTier(name="low", min_impact_usd=100, min_impact_percent=20),
)


@pytest.mark.parametrize(
    ("usd", "pct", "tier"),
    [
        ("1430", "348.78", "critical"),
        ("1000", "0", "critical"),
        ("999.99", "50", "high"),
        ("300", "10", None),  # big enough in dollars, too small a change for any tier with a percent floor
        ("100", "20", "low"),
        ("300", None, "high"),  # percent not reported: the dollar floor decides
        ("5", "20", None),  # 20 % on a few dollars: nothing posted
        ("99.99", "900", None),
        (None, None, "low"),  # impact not reported: still alerted, in the least severe tier
    ],
)
def test_tiers(usd, pct, tier):
    got = classify(Decimal(usd) if usd else None, Decimal(pct) if pct else None, TIERS)
    assert (got.name if got else None) == tier


def test_a_budget_alert_is_never_too_small_to_post():
    assert classify_budget(Decimal(5), TIERS).name == "low"
    assert classify_budget(None, TIERS).name == "low"
    assert classify_budget(Decimal(300), TIERS).name == "high"  # percent floors do not apply to budgets


@pytest.mark.parametrize(
    ("before", "now", "up", "between"),
    [
        ("low", "critical", True, ["high"]),
        ("low", "high", True, []),
        ("high", "critical", True, []),
        ("critical", "critical", False, []),
        ("critical", "low", False, []),
        ("gone", "low", True, []),  # a tier no longer configured ranks below every tier
    ],
)
def test_escalation_is_only_upwards(before, now, up, between):
    assert escalated(before, now, TIERS) is up
    assert tiers_between(before, now, TIERS) == (between if up and before in {t.name for t in TIERS} else [])


def test_rank():
    assert [rank(t.name, TIERS) for t in TIERS] == [0, 1, 2]


@given(st.decimals(min_value=0, max_value=10**7, places=2), st.decimals(min_value=0, max_value=10**4, places=2))
def test_more_impact_never_means_a_less_severe_tier(usd, pct):
    def position(tier):
        return len(TIERS) if tier is None else TIERS.index(tier)

    assert position(classify(usd * 2 + 1, pct * 2 + 1, TIERS)) <= position(classify(usd, pct, TIERS))
