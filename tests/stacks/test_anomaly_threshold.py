"""capabilities.anomaly_alerts.threshold -> the subscription's ThresholdExpression (a pure function, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from finops.models.config import AnomalyThreshold
from stacks.constructs.anomaly_detection import threshold_expression


def at_least(key: str, value: str) -> dict[str, Any]:
    return {"Dimensions": {"Key": key, "MatchOptions": ["GREATER_THAN_OR_EQUAL"], "Values": [value]}}


ABSOLUTE_100 = at_least("ANOMALY_TOTAL_IMPACT_ABSOLUTE", "100")
PERCENT_20 = at_least("ANOMALY_TOTAL_IMPACT_PERCENTAGE", "20")


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        pytest.param({"absolute_usd": 100}, ABSOLUTE_100, id="absolute only"),
        pytest.param({"absolute_usd": None, "percentage": 20}, PERCENT_20, id="percentage only"),
        pytest.param({"absolute_usd": 100, "percentage": 20}, {"Or": [ABSOLUTE_100, PERCENT_20]}, id="both, any"),
        pytest.param(
            {"absolute_usd": 100, "percentage": 20, "combine": "all"},
            {"And": [ABSOLUTE_100, PERCENT_20]},
            id="both, all",
        ),
        pytest.param({"absolute_usd": 100, "combine": "all"}, ABSOLUTE_100, id="all with one bound is that bound"),
        pytest.param(
            {"absolute_usd": 12.5, "percentage": 7.25},
            {
                "Or": [
                    at_least("ANOMALY_TOTAL_IMPACT_ABSOLUTE", "12.5"),
                    at_least("ANOMALY_TOTAL_IMPACT_PERCENTAGE", "7.25"),
                ]
            },
            id="fractions keep their decimals",
        ),
        pytest.param({"absolute_usd": 250000}, at_least("ANOMALY_TOTAL_IMPACT_ABSOLUTE", "250000"), id="no exponent"),
    ],
)
def test_threshold_expression(threshold: dict[str, Any], expected: dict[str, Any]) -> None:
    assert threshold_expression(AnomalyThreshold.model_validate(threshold)) == expected
