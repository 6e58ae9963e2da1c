"""AWS Budgets plain text → BudgetAlert, for the variants Budgets sends."""

from decimal import Decimal

import pytest

from finops.rules.budget_text import NotABudgetAlert, dollars, parse_budget_alert

ACTUAL_MONTHLY = """AWS Budget Notification November 27, 2026
AWS Account 444444444444

Dear AWS Customer,

You requested that we alert you when the ACTUAL Cost associated with your payments budget is greater than \
$800.00 for the current month. The ACTUAL Cost associated with this budget is $912.40.

Budget Name: payments
Budget Type: Cost
Budgeted Amount: $1,000.00
Alert Type: ACTUAL
Alert Threshold: > $800.00
ACTUAL Amount: $912.40
"""

FORECAST_DAILY = ACTUAL_MONTHLY.replace("ACTUAL", "FORECASTED").replace("current month", "current day")

USAGE_QUARTERLY = """AWS Budget Notification
AWS Account 555555555555
You requested that we alert you when the ACTUAL Usage associated with your s3-gb budget is greater than 800 GB \
for the current quarter.
Budget Name: s3-gb
Budget Type: Usage
Budgeted Amount: 1000 GB
Alert Type: ACTUAL
Alert Threshold: > 800 GB
ACTUAL Amount: 912 GB
"""


@pytest.mark.parametrize(
    ("text", "alert_type", "period", "amount", "amount_usd", "account"),
    [
        (ACTUAL_MONTHLY, "ACTUAL", "month", "$912.40", Decimal("912.40"), "444444444444"),
        (FORECAST_DAILY, "FORECASTED", "day", "$912.40", Decimal("912.40"), "444444444444"),
        (USAGE_QUARTERLY, "ACTUAL", "quarter", "912 GB", None, "555555555555"),
    ],
)
def test_variants_parse(text, alert_type, period, amount, amount_usd, account):
    alert = parse_budget_alert(text, message_id="m-1")

    assert alert.alert_type == alert_type
    assert alert.period == period
    assert alert.amount == amount
    assert alert.amount_usd == amount_usd
    assert alert.account_id == account
    assert alert.idempotency_key == "budget:m-1"


def test_monthly_amounts_are_read_as_dollars():
    alert = parse_budget_alert(ACTUAL_MONTHLY, message_id="m-1")

    assert (alert.budgeted_usd, alert.threshold_usd) == (Decimal("1000.00"), Decimal("800.00"))
    assert alert.budget_name == "payments"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Alert Type: ACTUAL\nACTUAL Amount: $1", "no 'Budget Name:' line"),
        ("Budget Name: x\nAlert Type: SOMETIMES", "'Alert Type:' is 'SOMETIMES'"),
        ("Budget Name: x\n", "'Alert Type:' is 'missing'"),
    ],
)
def test_broken_text_says_which_line_is_wrong(text, complaint):
    with pytest.raises(NotABudgetAlert, match=complaint):
        parse_budget_alert(text, message_id="m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$1,234.50", Decimal("1234.50")), ("> $80", Decimal("80")), ("912 GB", None), (None, None)],
)
def test_dollars(text, expected):
    assert dollars(text) == expected
