"""Which configured severity tier an anomaly reaches."""

from __future__ import annotations

from decimal import Decimal

from finops.models.config import SeverityTier


def classify(
    impact_usd: Decimal | None, impact_percent: Decimal | None, tiers: tuple[SeverityTier, ...]
) -> SeverityTier:
    """The first tier (tiers are most severe first) whose dollar and percent floors the impact reaches.

    An unreported impact counts as $0 and 0 %, so it lands in the least severe tier that has no floor; when every
    tier has a floor, the least severe tier is still used: an alert is never dropped for being small.
    """
    usd = impact_usd if impact_usd is not None else Decimal(0)
    percent = impact_percent if impact_percent is not None else Decimal(0)
    for tier in tiers:
        if usd >= Decimal(str(tier.min_impact_usd)) and percent >= Decimal(str(tier.min_impact_percent)):
            return tier
    return tiers[-1]
