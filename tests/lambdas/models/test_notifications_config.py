"""notifications: per-team severity tiers, the contact tag, and the shipped defaults for a large Organization."""

from __future__ import annotations

from decimal import Decimal

import pytest

from finops.models.config import ConfigError, parse_config
from finops.rules.severity import classify


def with_notifications(config, **changes):
    data = config.model_dump(mode="json")
    data["notifications"].update(changes)
    return data


def test_a_team_without_its_own_tiers_uses_the_shared_ones(config):
    assert config.notifications.tiers_for("payments") == config.notifications.severity
    assert config.notifications.tiers_for(None) == config.notifications.severity
    assert config.notifications.tiers_for("nobody") == config.notifications.severity


def test_a_team_with_its_own_tiers_uses_them(config):
    assert [t.name for t in config.notifications.tiers_for("DATA")] == ["critical", "low"]


def test_team_tiers_out_of_order_name_the_key_path(config):
    teams = config.model_dump(mode="json")["notifications"]["teams"]
    teams["data"]["severity"] = [{"name": "low", "min_impact_usd": 10}, {"name": "big", "min_impact_usd": 500}]

    with pytest.raises(ConfigError) as error:
        parse_config(with_notifications(config, teams=teams), source="finops.yaml")

    assert "notifications.teams.data.severity" in str(error.value)
    assert "most severe first" in str(error.value)


def test_the_contact_tag_defaults_to_owner(config):
    data = with_notifications(config)
    del data["notifications"]["contact_tag_key"]

    assert parse_config(data, source="t").notifications.contact_tag_key == "owner"


@pytest.mark.parametrize("team", [None, "payments", "data", "platform"])
def test_the_shipped_tiers_post_nothing_for_a_twenty_percent_rise_on_a_few_dollars(config, team):
    tiers = config.notifications.tiers_for(team)

    assert classify(Decimal("6.00"), Decimal("20"), tiers) is None
    assert classify(Decimal("99.99"), Decimal("400"), tiers) is None
    assert classify(Decimal("5000"), Decimal("400"), tiers) is not None


def test_the_shipped_subscription_needs_both_bounds(config):
    threshold = config.capabilities.anomaly_alerts.threshold

    assert (threshold.absolute_usd, threshold.percentage, threshold.combine) == (100, 20, "all")
