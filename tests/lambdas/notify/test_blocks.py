"""The Slack message an on-call engineer reads, for complete and drifted anomalies and for budgets."""

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

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
    route = CONFIG.team_route(owner.team)  # payments: the shared tiers
    return anomaly_message(
        anomaly, channel=route.channel, tier=tier, tiers=TIERS, owner=owner, route=route, accounts=ACCOUNTS
    )


def fields_of(message) -> dict[str, str]:
    return dict(f["text"].split("\n", 1) for block in message.blocks for f in block.get("fields", []))


def buttons(message) -> dict[str, str]:
    return {e["text"]["text"]: e["url"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]}


def cost_explorer_query(url: str) -> dict[str, str]:
    base, query = url.split("?", 1)
    assert base == "https://console.aws.amazon.com/cost-management/home#/cost-explorer"
    return {k: v[0] for k, v in parse_qs(query).items()}


def test_full_anomaly_reads_amount_percent_window_causes_team_and_link():
    message = render(event_alert("anomaly_sns"))
    seen = text_of(message)

    assert message.blocks[0]["text"]["text"] == (
        "CRITICAL · Cost anomaly: $1,430.00 (+348.8%) in Amazon Elastic Compute Cloud - Compute "
        "(payments-prod (333333333333))"
    )
    assert fields_of(message)["*Total impact*"] == "$1,430.00 (+348.8%)"
    assert "$410.00 → $1,840.00" in seen
    assert "2026-11-24 → 2026-11-26 (3 days)" in seen
    assert (
        "1. *Amazon Elastic Compute Cloud - Compute* · payments-prod (333333333333) · eu-west-1 · "
        "`EU-BoxUsage:p4d.24xlarge` · $1,210.00" in seen
    )
    assert "payments (from account tag)" in seen
    assert message.text.startswith("<!here> <!subteam^S0PAYMENTS> [CRITICAL]")
    assert buttons(message)["Cost Anomaly Detection (management account)"].endswith(
        "/anomalies/a1b2c3d4-1111-4e5f-8a9b-0c1d2e3f4a5b"
    )
    assert "Cost Anomaly Detection lives in the management account" in seen


def test_the_header_and_the_first_line_do_not_repeat_each_other():
    message = render(event_alert("anomaly_sns"))
    first = message.blocks[1]["text"]["text"]

    assert first == (
        "<!here> <!subteam^S0PAYMENTS> :red_circle: Largest cause: `EU-BoxUsage:p4d.24xlarge` · eu-west-1 · $1,210.00"
    )
    for said_in_the_header in ("CRITICAL", "Amazon Elastic Compute Cloud", "payments-prod", "$1,430.00"):
        assert said_in_the_header not in first


def test_the_cost_explorer_link_is_filtered_to_account_service_usage_type_and_window():
    message = render(event_alert("anomaly_sns"))
    query = cost_explorer_query(buttons(message)["Open in Cost Explorer"])

    assert (query["startDate"], query["endDate"], query["granularity"]) == ("2026-11-24", "2026-11-26", "Daily")
    assert {row["dimension"]["id"]: row["values"][0]["value"] for row in json.loads(query["filter"])} == {
        "LinkedAccount": "333333333333",
        "Service": "Amazon Elastic Compute Cloud - Compute",
        "UsageType": "EU-BoxUsage:p4d.24xlarge",
    }
    assert all(row["operator"] == "INCLUDES" for row in json.loads(query["filter"]))


def test_a_cause_without_a_usage_type_filters_on_what_is_known():
    message = render(event_alert("anomaly_sns_drifted"), "low", Owner(None, "none"))
    query = cost_explorer_query(buttons(message)["Open in Cost Explorer"])

    assert [row["dimension"]["id"] for row in json.loads(query["filter"])] == ["LinkedAccount", "Service"]


def test_drifted_anomaly_says_what_is_known_and_nothing_it_is_not():
    anomaly = event_alert("anomaly_sns_drifted")
    message = render(anomaly, "low", Owner(None, "none"))
    seen = text_of(message)
    fields = fields_of(message)

    assert message.blocks[0]["text"]["text"].startswith("LOW · Cost anomaly: $164.50 a day at most in")
    assert fields["*Max daily impact*"] == "$164.50 a day at most"  # only maxImpact: the largest day, not a total
    assert "*Total impact*" not in fields
    assert "not reported" not in seen
    assert "*Expected → actual*" not in fields
    assert "2026-11-25 → 2026-11-26 (2 days)" in seen
    assert "1. *Amazon Simple Storage Service*" in seen
    assert "no owning team found" in seen
    assert fields["*Monitor*"] == "`arn:aws:ce::111111111111:anomalymonitor/7c5f1a0e-1d2b-4c3e-9f4a-5b6c7d8e9f01`"
    assert "anomaly score 0.4 of 1: how unusual AWS judged it" in seen
    assert "<!here>" not in message.text  # low pages nobody


def test_the_monitor_is_never_the_service():
    anomaly = CostAnomaly.model_validate({"anomalyId": "x", "dimensionalValue": "AWS Lambda", "rootCauses": []})
    message = render(anomaly, "low", Owner(None, "none"))

    assert "*Monitor*" not in fields_of(message)
    assert "anomaly score" not in text_of(message)  # no score reported: none shown


def test_the_account_owner_tag_is_shown_as_who_to_ask():
    message = render(event_alert("anomaly_sns"), owner=Owner("payments", "account tag", contact="maria@acme.example"))

    assert fields_of(message)["*Owner*"] == "maria@acme.example"


def test_a_part_of_a_shared_anomaly_names_its_share_and_the_other_teams():
    anomaly = event_alert("anomaly_sns")
    [_first, second] = anomaly.ranked_causes()
    message = anomaly_message(
        anomaly,
        channel="#payments-oncall",
        tier=TIERS[0],
        tiers=TIERS,
        owner=PAYMENTS,
        route=CONFIG.team_route("payments"),
        accounts=ACCOUNTS,
        causes=[second],
        shared_with=["data"],
        part_usd=Decimal(220),
    )
    seen = text_of(message)

    assert fields_of(message)["*Your part of the total impact*"] == "$220.00 of $1,430.00 (+348.8%)"
    assert "`EU-EBS:VolumeUsage.gp3`" in seen
    assert "`EU-BoxUsage:p4d.24xlarge`" not in seen
    assert "…and 1 in other teams' accounts (sent to data)" in seen


def test_an_escalation_says_from_which_tier():
    message = anomaly_message(
        event_alert("anomaly_sns"),
        channel="#payments-oncall",
        tier=TIERS[0],
        tiers=TIERS,
        owner=PAYMENTS,
        route=CONFIG.team_route("payments"),
        accounts=ACCOUNTS,
        escalated_from="high",
    )

    assert message.blocks[0]["text"]["text"].startswith("CRITICAL (was HIGH) · Cost anomaly: $1,430.00")
    assert "*Escalated from HIGH to CRITICAL*: AWS now reports $1,430.00 (+348.8%)" in message.blocks[1]["text"]["text"]


def test_a_copy_for_another_channel_pages_nobody():
    message = render(event_alert("anomaly_sns")).with_banner("Meant for #payments-oncall").without_mentions()

    assert "<!here>" not in text_of(message)
    assert "<!subteam^S0PAYMENTS>" not in text_of(message)
    assert message.blocks[0]["elements"][0]["text"] == ":warning: Meant for #payments-oncall"


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


def budget(name: str, tier_name: str, team: str = "payments", owner: Owner | None = None):
    route = CONFIG.team_route(team)
    tier = next(t for t in CONFIG.notifications.tiers_for(team) if t.name == tier_name)
    return budget_message(
        event_alert(name),
        channel=route.channel,
        owner=owner or Owner(team, "budget map"),
        route=route,
        account=AccountRef("111111111111", "acme-management"),
        tier=tier,
    )


def test_budget_message_links_to_the_budget_and_names_the_account_once():
    message = budget("budget_actual_sns", "high")
    seen = text_of(message)
    fields = fields_of(message)

    assert message.blocks[0]["text"]["text"] == (
        "HIGH · Budget payments-staging-monthly has exceeded its alert threshold this month"
    )
    assert message.blocks[1]["text"]["text"] == ":money_with_wings: *ACTUAL*: $912.40 spent, 91% of the budget"
    assert fields["*Actual amount*"] == "$912.40"
    assert fields["*Alert threshold*"] == "&gt; $800.00"
    assert fields["*Of budget*"] == "91%"
    assert fields["*Budget covers*"].startswith("what its filters select")
    assert seen.count("acme-management (111111111111)") == 1
    assert buttons(message) == {
        "Open budget payments-staging-monthly": (
            "https://console.aws.amazon.com/costmanagement/home#/budgets/details?name=payments-staging-monthly"
        )
    }


def test_an_actual_budget_alert_pages_only_in_a_tier_with_a_mention():
    assert not budget("budget_actual_sns", "high").text.startswith("<")
    paged = budget("budget_actual_sns", "critical")
    assert paged.text.startswith("<!here> <!subteam^S0PAYMENTS> [BUDGET ACTUAL]")


def test_forecast_budget_does_not_page_even_in_a_paging_tier():
    message = budget("budget_forecast_sns", "critical", team="data", owner=Owner("data", "budget map"))

    assert "is forecast to exceed its alert threshold this day" in message.blocks[0]["text"]["text"]
    assert message.text.startswith("[BUDGET FORECASTED]")


def test_a_budget_notification_that_names_its_filters_says_what_it_covers():
    alert = event_alert("budget_actual_sns").model_copy(update={"covers": "Service: Amazon EC2; Tag team=payments"})
    route = CONFIG.team_route("payments")
    message = budget_message(
        alert, channel=route.channel, owner=PAYMENTS, route=route, account=AccountRef("111111111111")
    )

    assert fields_of(message)["*Budget covers*"] == "Service: Amazon EC2; Tag team=payments"


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
