"""The Slack message an on-call engineer reads, for complete and drifted anomalies and for budgets."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from finops.models.accounts import AccountRef
from finops.models.alerts import CostAnomaly
from finops.models.config import load_config
from finops.models.events import alerts_from_event
from finops.notify.blocks import anomaly_message, budget_message, escape, percent, usd, window
from finops.rules.ownership import Owner

ROOT = Path(__file__).parents[3]
CONFIG = load_config(ROOT / "finops.yaml")
TIERS = CONFIG.notifications.severity
ACCOUNTS = {"333333333333": AccountRef("333333333333", "payments-prod", {"team": "payments"})}


def event_alert(name: str):
    alerts, _ = alerts_from_event(json.loads((ROOT / "tests/events" / f"{name}.json").read_text()))
    return alerts[0]


def text_of(message) -> str:
    """Everything a reader sees, flattened."""
    parts = [message.text]
    for block in message.blocks:
        for key in ("text",):
            if key in block:
                parts.append(block[key]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [
            e.get("text", "") if isinstance(e.get("text"), str) else e["text"]["text"]
            for e in block.get("elements", [])
        ]
    return "\n".join(parts)


PAYMENTS = Owner("payments", "account tag")


def render(anomaly: CostAnomaly, tier_name: str = "critical", owner: Owner = PAYMENTS):
    tier = next(t for t in TIERS if t.name == tier_name)
    route = CONFIG.team_route(owner.team)
    return anomaly_message(
        anomaly, channel=route.channel, tier=tier, tiers=TIERS, owner=owner, route=route, accounts=ACCOUNTS
    )


def test_full_anomaly_reads_amount_percent_window_causes_team_and_link():
    message = render(event_alert("anomaly_sns"))
    seen = text_of(message)

    assert message.blocks[0]["text"]["text"] == (
        "CRITICAL · Cost anomaly: $1,430.00 (+348.8%) in Amazon Elastic Compute Cloud - Compute "
        "(payments-prod (333333333333))"
    )
    assert "$410.00 → $1,840.00" in seen
    assert "2026-11-24 → 2026-11-26 (3 days)" in seen
    assert (
        "1. *Amazon Elastic Compute Cloud - Compute* · payments-prod (333333333333) · eu-west-1 · "
        "`EU-BoxUsage:p4d.24xlarge` · $1,210.00" in seen
    )
    assert "payments (from account tag)" in seen
    assert message.text.startswith("<!here> <!subteam^S0PAYMENTS> [CRITICAL]")
    button = message.blocks[4]["elements"][0]
    assert button["url"].endswith("/anomalies/a1b2c3d4-1111-4e5f-8a9b-0c1d2e3f4a5b")


def test_drifted_anomaly_still_reads_well():
    anomaly = event_alert("anomaly_sns_drifted")
    message = render(anomaly, "medium", Owner(None, "none"))
    seen = text_of(message)

    assert "$64.50" in message.blocks[0]["text"]["text"]  # maxImpact stands in for the missing total
    assert "2026-11-25 → 2026-11-26 (2 days)" in seen
    assert "not reported → not reported" in seen
    assert "1. *Amazon Simple Storage Service*" in seen
    assert "no owning team found" in seen
    assert "<!here>" not in message.text  # medium pages nobody
    assert message.blocks[4]["elements"][0]["url"].startswith("https://console.aws.amazon.com/cost-management")


def test_eventbridge_form_has_its_dimension_and_computed_percent():
    anomaly = event_alert("anomaly_eventbridge")

    assert anomaly.dimension_value == "Amazon Relational Database Service"
    assert anomaly.impact.impact_percent.quantize(Decimal("0.1")) == Decimal("209.2")
    assert "(+209.2%)" in render(anomaly, "high").blocks[0]["text"]["text"]


def test_anomaly_without_impact_or_causes():
    anomaly = CostAnomaly.model_validate({"anomalyId": "x-1", "impact": None, "rootCauses": None})
    message = render(anomaly, "low", Owner(None, "none"))

    assert message.blocks[0]["text"]["text"] == "LOW · Cost anomaly: impact not reported"
    assert "none reported yet" in text_of(message)


def test_names_from_aws_cannot_inject_mentions():
    anomaly = CostAnomaly.model_validate(
        {"anomalyId": "x", "rootCauses": [{"service": "<!channel> evil", "linkedAccount": "1"}]}
    )
    message = render(anomaly, "low")
    # Slack parses mentions in the notification text and in mrkdwn, never in the plain_text header.
    mrkdwn = text_of(message).replace(message.blocks[0]["text"]["text"], "")
    assert message.blocks[0]["text"]["type"] == "plain_text"
    assert "<!channel>" not in mrkdwn
    assert "&lt;!channel&gt; evil" in mrkdwn


def test_budget_message():
    alert = event_alert("budget_actual_sns")
    route = CONFIG.team_route("payments")
    message = budget_message(
        alert,
        channel=route.channel,
        owner=Owner("payments", "account tag"),
        route=route,
        account=AccountRef("444444444444", "payments-staging"),
    )
    seen = text_of(message)

    assert message.blocks[0]["text"]["text"] == (
        "Budget payments-staging-monthly has exceeded its alert threshold this month"
    )
    assert "*Actual amount*\n$912.40" in seen
    assert "*Alert threshold*\n&gt; $800.00" in seen
    assert "*Of budget*\n91%" in seen
    assert "payments-staging (444444444444)" in seen
    assert message.text.startswith("<!subteam^S0PAYMENTS> [BUDGET ACTUAL]")


def test_forecast_budget_does_not_page():
    alert = event_alert("budget_forecast_sns")
    route = CONFIG.team_route("data")
    message = budget_message(
        alert,
        channel=route.channel,
        owner=Owner("data", "account tag"),
        route=route,
        account=AccountRef("555555555555"),
    )

    assert "is forecast to exceed its alert threshold this day" in message.blocks[0]["text"]["text"]
    assert message.text.startswith("[BUDGET FORECASTED]")


@pytest.mark.parametrize(
    ("fn", "arg", "out"),
    [
        (usd, Decimal("1234.5"), "$1,234.50"),
        (usd, Decimal("-3"), "-$3.00"),
        (usd, None, "not reported"),
        (percent, Decimal("348.78"), "+348.8%"),
        (percent, None, ""),
        (escape, "a<b>&c", "a&lt;b&gt;&amp;c"),
    ],
)
def test_formatters(fn, arg, out):
    assert fn(arg) == out


def test_window_open_ended():
    anomaly = CostAnomaly.model_validate({"anomalyId": "x", "anomalyStartDate": "2026-11-20"})
    assert window(anomaly.start, anomaly.end) == "since 2026-11-20 (ongoing)"
