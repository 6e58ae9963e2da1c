"""Block Kit messages, built by pure functions from the alert and what we know of its accounts.

The reader is an on-call engineer on a phone: the first line says how bad, how much and where; the body says
what changed, who owns it and where to look next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from finops.models.accounts import AccountRef
from finops.models.alerts import BudgetAlert, CostAnomaly, RootCause
from finops.models.config import SeverityTier, TeamRoute
from finops.rules.ownership import Owner

MAX_ROOT_CAUSES = 8
_TIER_EMOJI = (":red_circle:", ":large_orange_circle:", ":large_yellow_circle:")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What we post: the channel, the notification text (also the fallback) and the blocks."""

    channel: str
    text: str
    blocks: tuple[dict[str, Any], ...]

    def with_banner(self, note: str) -> SlackMessage:
        """The same message with a note on top (why it came here, why it is late), in the text and the blocks."""
        banner = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":warning: {escape(note)}"}]}
        return SlackMessage(self.channel, text=f"({escape(note)}) {self.text}", blocks=(banner, *self.blocks))

    def to(self, channel: str) -> SlackMessage:
        return SlackMessage(channel, self.text, self.blocks)

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "text": self.text, "blocks": list(self.blocks)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlackMessage:
        return cls(channel=str(data["channel"]), text=str(data["text"]), blocks=tuple(data.get("blocks", ())))


def escape(text: str) -> str:
    """Slack mrkdwn control characters, escaped so names from AWS cannot turn into mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def usd(amount: Decimal | None) -> str:
    if amount is None:
        return "not reported"
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+,.1f}%"


def window(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "not reported"
    first = start.date().isoformat()
    if end is None:
        return f"since {first} (ongoing)"
    days = (end.date() - start.date()).days + 1
    return f"{first} → {end.date().isoformat()} ({days} day{'s' if days != 1 else ''})"


def _tier_emoji(tier: SeverityTier, tiers: tuple[SeverityTier, ...]) -> str:
    rank = tiers.index(tier) if tier in tiers else len(tiers)
    return _TIER_EMOJI[rank] if rank < len(_TIER_EMOJI) else ":white_circle:"


def _mentions(tier: SeverityTier, route: TeamRoute) -> str:
    """Page people only for tiers that carry a mention; the team's handle joins the tier's then."""
    if not tier.mention:
        return ""
    return " ".join(m for m in (tier.mention, route.mention) if m) + " "


def _owner_line(owner: Owner) -> str:
    if owner.source == "lookup failed":
        return f"unknown: Organizations lookup failed ({escape(owner.detail)}); check the FinOpsManagement delegation"
    if owner.team is None:
        return "no owning team found (no owner tag on the account, not in account_teams)"
    return f"{escape(owner.team)} (from {owner.source})"


def _cause_line(index: int, cause: RootCause, accounts: Mapping[str, AccountRef]) -> str:
    parts = [f"*{escape(cause.service or 'unknown service')}*"]
    if cause.linked_account or cause.linked_account_name:
        known = accounts.get(cause.linked_account or "")
        name = (known.name if known else None) or cause.linked_account_name
        parts.append(escape(AccountRef(cause.linked_account, name).label))
    if cause.region:
        parts.append(escape(cause.region))
    if cause.usage_type:
        parts.append(f"`{escape(cause.usage_type)}`")
    if cause.impact_contribution is not None:
        parts.append(usd(cause.impact_contribution))
    return f"{index}. " + " · ".join(parts)


def _headline_where(anomaly: CostAnomaly, accounts: Mapping[str, AccountRef]) -> str:
    causes = anomaly.ranked_causes()
    service = (causes[0].service if causes else None) or anomaly.dimension_value
    account = accounts.get(anomaly.main_account or "") or AccountRef(anomaly.main_account)
    where = f" in {service}" if service else ""
    return f"{where} ({account.label})" if anomaly.main_account else where


def anomaly_message(
    anomaly: CostAnomaly,
    *,
    channel: str,
    tier: SeverityTier,
    tiers: tuple[SeverityTier, ...],
    owner: Owner,
    route: TeamRoute,
    accounts: Mapping[str, AccountRef],
) -> SlackMessage:
    impact = anomaly.impact
    amount = usd(impact.impact_usd) if impact.impact_usd is not None else "impact not reported"
    change = percent(impact.impact_percent)
    where = _headline_where(anomaly, accounts)
    severity = tier.name.upper()
    headline = f"Cost anomaly: {amount}{f' ({change})' if change else ''}{where}"

    causes = anomaly.ranked_causes()
    cause_lines = [_cause_line(i, c, accounts) for i, c in enumerate(causes[:MAX_ROOT_CAUSES], start=1)]
    if len(causes) > MAX_ROOT_CAUSES:
        cause_lines.append(f"…and {len(causes) - MAX_ROOT_CAUSES} more in the console")

    fields = [
        f"*Total impact*\n{amount}{f' ({change})' if change else ''}",
        f"*Expected → actual*\n{usd(impact.total_expected_spend)} → {usd(impact.total_actual_spend)}",
        f"*Window*\n{window(anomaly.start, anomaly.end)}",
        f"*Owning team*\n{_owner_line(owner)}",
    ]
    if anomaly.monitor_name or anomaly.dimension_value:
        fields.append(f"*Monitor*\n{escape(anomaly.monitor_name or anomaly.dimension_value or '')}")
    context = [f"Anomaly `{escape(anomaly.anomaly_id)}`"]
    if anomaly.subscription_name:
        context.append(f"subscription {escape(anomaly.subscription_name)}")
    if anomaly.score.max_score is not None:
        context.append(f"score {anomaly.score.max_score}")

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{severity} · {headline}", 150)}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{_mentions(tier, route)}{_tier_emoji(tier, tiers)} *{severity}* cost anomaly{escape(where)}",
            },
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Root causes*\n" + ("\n".join(cause_lines) or "none reported yet")},
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in Cost Anomaly Detection"},
                    "url": anomaly.console_link,
                    "action_id": "open_anomaly",
                }
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    text = f"{_mentions(tier, route)}[{severity}] {escape(headline)}; team {escape(owner.team or 'unknown')}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks))


def budget_message(
    alert: BudgetAlert, *, channel: str, owner: Owner, route: TeamRoute, account: AccountRef
) -> SlackMessage:
    verb = "has exceeded" if alert.alert_type == "ACTUAL" else "is forecast to exceed"
    period = f" this {alert.period}" if alert.period else ""
    headline = f"Budget {alert.budget_name} {verb} its alert threshold{period}"
    fields = [
        f"*{alert.alert_type.title()} amount*\n{escape(alert.amount or 'not reported')}",
        f"*Alert threshold*\n{escape(alert.threshold or 'not reported')}",
        f"*Budgeted amount*\n{escape(alert.budgeted_amount or 'not reported')}",
        f"*Account*\n{escape(account.label)}",
        f"*Owning team*\n{_owner_line(owner)}",
    ]
    if alert.amount_usd is not None and alert.budgeted_usd:
        used = alert.amount_usd / alert.budgeted_usd * 100
        fields.append(f"*Of budget*\n{used:,.0f}%")
    emoji = ":money_with_wings:" if alert.alert_type == "ACTUAL" else ":crystal_ball:"
    route_mention = f"{route.mention} " if route.mention and alert.alert_type == "ACTUAL" else ""  # spent, not forecast
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline, 150)}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{route_mention}{emoji} *{alert.alert_type}* budget alert · {escape(account.label)}",
            },
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open AWS Budgets"},
                    "url": alert.console_link,
                    "action_id": "open_budgets",
                }
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _budget_context(alert)}],
        },
    ]
    text = f"{route_mention}[BUDGET {alert.alert_type}] {escape(headline)}: {escape(alert.amount or 'not reported')}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks))


def _budget_context(alert: BudgetAlert) -> str:
    return f"Budget type {escape(alert.budget_type or 'not reported')} · SNS message `{escape(alert.message_id)}`"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
