"""Which configured severity tier an alert reaches, and whether a later notice of the same anomaly escalated it."""

from __future__ import annotations

from decimal import Decimal

from finops.models.config import SeverityTier


def classify(
    impact_usd: Decimal | None, impact_percent: Decimal | None, tiers: tuple[SeverityTier, ...]
) -> SeverityTier | None:
    """The first tier (tiers are most severe first) whose dollar AND percent floors the impact reaches; ``None`` when
    the impact is known and below the least severe tier (too small to tell anyone about).

    What is not reported never counts as small: an unreported dollar impact lands in the least severe tier, and an
    unreported percentage does not hold an anomaly below a tier whose dollar floor it reaches.
    """
    if impact_usd is None:
        return tiers[-1]
    for tier in tiers:
        if impact_usd < Decimal(str(tier.min_impact_usd)):
            continue
        if impact_percent is None or impact_percent >= Decimal(str(tier.min_impact_percent)):
            return tier
    return None


def classify_budget(amount_usd: Decimal | None, tiers: tuple[SeverityTier, ...]) -> SeverityTier:
    """A budget alert's tier, by the amount spent (or forecast): the budget's own threshold already judged the rise,
    so percent floors do not apply and a budget alert is never too small to post (it lands in the least severe tier).
    """
    return classify(amount_usd, None, tiers) or tiers[-1]


def rank(tier_name: str, tiers: tuple[SeverityTier, ...]) -> int:
    """0 for the most severe tier; a name not (or no longer) configured ranks below every tier."""
    names = [t.name for t in tiers]
    return names.index(tier_name) if tier_name in names else len(names)


def escalated(before: str, now: str, tiers: tuple[SeverityTier, ...]) -> bool:
    """Whether ``now`` is a more severe tier than ``before`` (the tier already posted)."""
    return rank(now, tiers) < rank(before, tiers)


def tiers_between(before: str, now: str, tiers: tuple[SeverityTier, ...]) -> list[str]:
    """The tiers strictly more severe than ``before`` and less severe than ``now``: passed over by an escalation."""
    low, high = rank(before, tiers), rank(now, tiers)
    return [t.name for t in tiers[high + 1 : low]]
