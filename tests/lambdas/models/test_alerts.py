"""Alert models accept how real anomaly messages drift."""

from decimal import Decimal

import pytest

from finops.models.alerts import CostAnomaly


@pytest.mark.parametrize(
    ("message", "owner"),
    [
        (
            {
                "rootCauses": [
                    {"linkedAccount": "333333333333", "impactContribution": 5},
                    {"linkedAccount": "444444444444", "impactContribution": 50},
                ]
            },
            "444444444444",
        ),
        ({"rootCauses": [{"service": "AWS Lambda"}], "dimensionalValue": "555555555555"}, "555555555555"),
        ({"rootCauses": [{"service": "AWS Lambda"}], "dimensionValue": "AWS Lambda"}, "111111111111"),
        ({}, "111111111111"),
    ],
)
def test_the_owning_account(message, owner):
    anomaly = CostAnomaly.model_validate({"anomalyId": "a", "accountId": "111111111111", **message})
    assert anomaly.main_account == owner


def test_contribution_may_be_nested_and_causes_rank_by_it():
    anomaly = CostAnomaly.model_validate(
        {
            "anomalyId": "a",
            "rootCauses": [
                {"service": "small", "impact": {"contribution": 1.5}},
                {"service": "unknown"},
                {"service": "big", "impactContribution": 90},
            ],
        }
    )
    assert [c.service for c in anomaly.ranked_causes()] == ["big", "small", "unknown"]
    assert anomaly.ranked_causes()[1].impact_contribution == Decimal("1.5")


@pytest.mark.parametrize(
    ("impact", "usd", "percent"),
    [
        ({"totalImpact": 100, "totalImpactPercentage": 25}, Decimal(100), Decimal(25)),
        ({"totalActualSpend": 300, "totalExpectedSpend": 200}, Decimal(100), Decimal(50)),
        ({"maxImpact": 40}, Decimal(40), None),
        ({}, None, None),
    ],
)
def test_impact_from_whatever_fields_arrived(impact, usd, percent):
    anomaly = CostAnomaly.model_validate({"anomalyId": "a", "impact": impact})
    assert anomaly.impact.impact_usd == usd
    assert anomaly.impact.impact_percent == percent


def test_dates_may_be_date_only_or_timestamps():
    anomaly = CostAnomaly.model_validate(
        {"anomalyId": "a", "anomalyStartDate": "2026-11-25", "anomalyEndDate": "2026-11-26T00:00:00Z"}
    )
    assert anomaly.start.isoformat() == "2026-11-25T00:00:00+00:00"
    assert anomaly.end.isoformat() == "2026-11-26T00:00:00+00:00"


def test_console_link_is_built_when_the_message_has_none():
    anomaly = CostAnomaly.model_validate(
        {"anomalyId": "a-1", "monitorArn": "arn:aws:ce::111111111111:anomalymonitor/m-9"}
    )
    assert anomaly.console_link.endswith("#/anomaly-detection/monitors/m-9/anomalies/a-1")
