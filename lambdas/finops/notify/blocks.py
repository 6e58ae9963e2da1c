"""Block Kit messages, built by pure functions from the alert and what we know of its accounts.

The reader is an on-call engineer on a phone: the first line says how bad, how much and where; the body says
what changed, who owns it and where to look next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from finops.models.accounts import AccountRef
from finops.models.alerts import BudgetAlert, CostAnomaly, RootCause
from finops.models.config import SeverityTier, TeamRoute
from finops.rules.ownership import Owner

MAX_ROOT_CAUSES = 8
_TIER_EMOJI = (":red_circle:", ":large_orange_circle:", ":large_yellow_circle:")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What we post: the channel, the notification text (also the fallback) and the blocks.

    ``mentions`` is the paging prefix the text and the first section start with (so a redirected copy can drop it);
    ``thread_ts`` makes the message a reply in that thread (bot token only; a webhook posts it to the channel)."""

    channel: str
    text: str
    blocks: tuple[dict[str, Any], ...]
    mentions: str = ""
    thread_ts: str | None = None

    def with_banner(self, note: str) -> SlackMessage:
        """The same message with a note on top (why it came here, why it is late), in the text and the blocks."""
        banner = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":warning: {escape(note)}"}]}
        return replace(self, text=f"({escape(note)}) {self.text}", blocks=(banner, *self.blocks))

    def without_mentions(self) -> SlackMessage:
        """The same message paging nobody: what goes to a channel on another team's behalf."""
        if not self.mentions:
            return self
        blocks = tuple(
            {**block, "text": {**block["text"], "text": block["text"]["text"].replace(self.mentions, "", 1)}}
            if block.get("type") == "section" and isinstance(block.get("text"), dict)
            else block
            for block in self.blocks
        )
        return replace(self, text=self.text.replace(self.mentions, "", 1), blocks=blocks, mentions="")

    def to(self, channel: str) -> SlackMessage:
        return replace(self, channel=channel)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"channel": self.channel, "text": self.text, "blocks": list(self.blocks)}
        if self.mentions:
            data["mentions"] = self.mentions
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlackMessage:
        return cls(
            channel=str(data["channel"]),
            text=str(data["text"]),
            blocks=tuple(data.get("blocks", ())),
            mentions=str(data.get("mentions", "")),
            thread_ts=data.get("thread_ts"),
        )


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


def mentions(tier: SeverityTier, route: TeamRoute) -> str:
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


def _headline_where(anomaly: CostAnomaly, causes: Sequence[RootCause], accounts: Mapping[str, AccountRef]) -> str:
    service = (causes[0].service if causes else None) or anomaly.dimension_value
    main = next((c.linked_account for c in causes if c.linked_account), None) or anomaly.main_account
    account = accounts.get(main or "") or AccountRef(main)
    where = f" in {service}" if service else ""
    return f"{where} ({account.label})" if main else where


def _impact(anomaly: CostAnomaly, part_usd: Decimal | None = None) -> tuple[str, str]:
    """(label, amount) as the numbers allow: the total, or only the largest single day when that is all AWS sent;
    for one team's part of a shared anomaly, that part of the whole."""
    impact = anomaly.impact
    change = percent(impact.impact_percent)
    suffix = f" ({change})" if change else ""
    if impact.impact_usd is None:
        label, amount = "Total impact", "impact not reported"
    elif impact.daily_max_only:
        label, amount = "Max daily impact", f"{usd(impact.impact_usd)} a day at most{suffix}"
    else:
        label, amount = "Total impact", f"{usd(impact.impact_usd)}{suffix}"
    if part_usd is None:
        return label, amount
    return f"Your part of the {label.lower()}", f"{usd(part_usd)} of {amount}"


def _spend_field(anomaly: CostAnomaly) -> str | None:
    expected, actual = anomaly.impact.total_expected_spend, anomaly.impact.total_actual_spend
    if expected is not None and actual is not None:
        return f"*Expected → actual*\n{usd(expected)} → {usd(actual)}"
    if actual is not None:
        return f"*Actual spend*\n{usd(actual)}"
    if expected is not None:
        return f"*Expected spend*\n{usd(expected)}"
    return None


def _monitor(anomaly: CostAnomaly) -> str | None:
    """The monitor that found it, by name or ARN; never the service (that is the dimension, not the monitor)."""
    if anomaly.monitor_name:
        return escape(anomaly.monitor_name)
    if anomaly.monitor_arn:
        return f"`{escape(anomaly.monitor_arn)}`"
    return None


def _lead(causes: Sequence[RootCause], accounts: Mapping[str, AccountRef]) -> str:
    """What to look at first: the largest root cause of this team's part, without repeating the header."""
    if not causes:
        return "root causes not reported yet: open Cost Explorer below"
    top = causes[0]
    what = [f"`{escape(top.usage_type)}`" if top.usage_type else escape(top.service or "unknown service")]
    if top.region:
        what.append(escape(top.region))
    if top.impact_contribution is not None:
        what.append(usd(top.impact_contribution))
    return "Largest cause: " + " · ".join(what)


def cost_explorer_link(
    *,
    account: str | None,
    service: str | None,
    usage_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> str:
    """Cost Explorer, daily, grouped by usage type, filtered to the account, service and usage type (where known)
    over the anomaly's window. Opens in whichever account the reader is signed in to: a member account sees its own
    costs, the management account every account's."""
    rows: list[dict[str, Any]] = []
    for dimension, label, value in (
        ("LinkedAccount", "Linked account", account),
        ("Service", "Service", service),
        ("UsageType", "Usage type", usage_type),
    ):
        if value:
            rows.append(
                {
                    "dimension": {"id": dimension, "displayValue": label},
                    "operator": "INCLUDES",
                    "values": [{"value": value, "displayValue": value}],
                }
            )
    params = {
        "chartStyle": "STACK",
        "costAggregate": "unBlendedCost",
        "granularity": "Daily",
        "groupBy": json.dumps(["UsageType"], separators=(",", ":")),
        "filter": json.dumps(rows, separators=(",", ":")),
    }
    if start is not None:
        last = (end or start).date()
        params |= {"historicalRelativeRange": "CUSTOM", "startDate": start.date().isoformat(), "endDate": str(last)}
    else:
        params["historicalRelativeRange"] = "LAST_7_DAYS"
    return f"{COST_EXPLORER}?{urlencode(params, quote_via=quote)}"


COST_EXPLORER = "https://console.aws.amazon.com/cost-management/home#/cost-explorer"
SCORE_MEANING = "how unusual AWS judged it"


def anomaly_message(
    anomaly: CostAnomaly,
    *,
    channel: str,
    tier: SeverityTier,
    tiers: tuple[SeverityTier, ...],
    owner: Owner,
    route: TeamRoute,
    accounts: Mapping[str, AccountRef],
    causes: Sequence[RootCause] | None = None,
    shared_with: Sequence[str] = (),
    page: bool = True,
    escalated_from: str | None = None,
    part_usd: Decimal | None = None,
) -> SlackMessage:
    """The message for one owning team. ``causes`` are that team's part of the anomaly (all of it by default);
    ``shared_with`` names the other teams told about their parts; ``page=False`` mentions nobody (the message goes
    to a channel on another team's behalf); ``escalated_from`` is the tier already posted for this anomaly;
    ``part_usd`` is the team's share of the impact, when the anomaly is shared and the contributions are known."""
    mine = list(causes) if causes is not None else anomaly.ranked_causes()
    label, amount = _impact(anomaly, part_usd)
    where = _headline_where(anomaly, mine, accounts)
    severity = tier.name.upper()
    was = f" (was {escalated_from.upper()})" if escalated_from else ""
    headline = f"Cost anomaly: {amount}{where}"
    paging = mentions(tier, route) if page else ""

    cause_lines = [_cause_line(i, c, accounts) for i, c in enumerate(mine[:MAX_ROOT_CAUSES], start=1)]
    if len(mine) > MAX_ROOT_CAUSES:
        cause_lines.append(f"…and {len(mine) - MAX_ROOT_CAUSES} more in the console")
    elsewhere = len(anomaly.root_causes) - len(mine)
    if elsewhere > 0:
        cause_lines.append(
            f"…and {elsewhere} in other teams' accounts"
            + (f" (sent to {', '.join(escape(t) for t in shared_with)})" if shared_with else "")
        )

    fields = [f"*{label}*\n{amount}", _spend_field(anomaly)]
    if anomaly.start is not None:
        fields.append(f"*Window*\n{window(anomaly.start, anomaly.end)}")
    fields.append(f"*Owning team*\n{_owner_line(owner)}")
    if owner.contact:
        fields.append(f"*Owner*\n{escape(owner.contact)}")
    monitor = _monitor(anomaly)
    if monitor:
        fields.append(f"*Monitor*\n{monitor}")

    lead = _lead(mine, accounts)
    if escalated_from:
        lead = f"*Escalated from {escalated_from.upper()} to {severity}*: AWS now reports {amount}. {lead}"
    if shared_with:
        lead += (
            f" · this anomaly spans other teams' accounts too; {', '.join(escape(t) for t in shared_with)} got theirs"
        )

    top = mine[0] if mine else None
    explorer = cost_explorer_link(
        account=(top.linked_account if top else None) or anomaly.main_account,
        service=(top.service if top else None) or anomaly.dimension_value,
        usage_type=top.usage_type if top else None,
        start=anomaly.start,
        end=anomaly.end,
    )
    context = [f"Anomaly `{escape(anomaly.anomaly_id)}`"]
    if anomaly.subscription_name:
        context.append(f"subscription {escape(anomaly.subscription_name)}")
    if anomaly.score.max_score is not None:
        context.append(f"anomaly score {anomaly.score.max_score} of 1: {SCORE_MEANING}")
    context.append(
        "Cost Explorer opens in the account you are signed in to; Cost Anomaly Detection lives in the management "
        "account"
    )

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{severity}{was} · {headline}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{paging}{_tier_emoji(tier, tiers)} {lead}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields if f]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Root causes*\n" + ("\n".join(cause_lines) or "none reported yet")},
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in Cost Explorer"},
                    "url": explorer,
                    "action_id": "open_cost_explorer",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Cost Anomaly Detection (management account)"},
                    "url": anomaly.console_link,
                    "action_id": "open_anomaly",
                },
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    text = f"{paging}[{severity}{was}] {escape(headline)}; team {escape(owner.team or 'unknown')}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks), mentions=paging)


def escalation_reply(anomaly: CostAnomaly, *, channel: str, thread_ts: str, before: str, now: str) -> SlackMessage:
    """The note in the first message's thread, so whoever is reading that thread sees it grew."""
    _, amount = _impact(anomaly)
    text = f"Escalated from {before.upper()} to {now.upper()}: AWS now reports {amount}. A new message has the details."
    return SlackMessage(channel=channel, text=escape(text), blocks=(), thread_ts=thread_ts)


def budget_message(
    alert: BudgetAlert,
    *,
    channel: str,
    owner: Owner,
    route: TeamRoute,
    account: AccountRef,
    tier: SeverityTier | None = None,
    page: bool = True,
) -> SlackMessage:
    """An AWS Budgets alert. Only an ACTUAL alert in a tier with a mention pages people (a forecast never does)."""
    verb = "has exceeded" if alert.alert_type == "ACTUAL" else "is forecast to exceed"
    period = f" this {alert.period}" if alert.period else ""
    headline = f"Budget {alert.budget_name} {verb} its alert threshold{period}"
    fields = [
        f"*{alert.alert_type.title()} amount*\n{escape(alert.amount or 'not reported')}",
        f"*Alert threshold*\n{escape(alert.threshold or 'not reported')}",
        f"*Budgeted amount*\n{escape(alert.budgeted_amount or 'not reported')}",
        "*Budget covers*\n"
        + (
            escape(alert.covers)
            if alert.covers
            else "what its filters select (AWS's notification does not list them: open the budget)"
        ),
        f"*Owning team*\n{_owner_line(owner)}",
    ]
    if owner.contact:
        fields.append(f"*Owner*\n{escape(owner.contact)}")
    used = ""
    if alert.amount_usd is not None and alert.budgeted_usd:
        share = alert.amount_usd / alert.budgeted_usd * 100
        fields.append(f"*Of budget*\n{share:,.0f}%")
        used = f", {share:,.0f}% of the budget"
    emoji = ":money_with_wings:" if alert.alert_type == "ACTUAL" else ":crystal_ball:"
    paging = mentions(tier, route) if tier and page and alert.alert_type == "ACTUAL" else ""  # spent, not forecast
    severity = f"{tier.name.upper()} · " if tier else ""
    done = "spent" if alert.alert_type == "ACTUAL" else "forecast"
    lead = f"{escape(alert.amount or 'amount not reported')} {done}{used}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{severity}{headline}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{paging}{emoji} *{alert.alert_type}*: {lead}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": clip(f"Open budget {alert.budget_name}", 75)},
                    "url": alert.console_link,
                    "action_id": "open_budget",
                }
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _budget_context(alert, account)}]},
    ]
    text = f"{paging}[BUDGET {alert.alert_type}] {escape(headline)}: {escape(alert.amount or 'not reported')}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks), mentions=paging)


def _budget_context(alert: BudgetAlert, account: AccountRef) -> str:
    return (
        f"The budget belongs to account {escape(account.label)}: open it signed in there · "
        f"budget type {escape(alert.budget_type or 'not reported')} · SNS message `{escape(alert.message_id)}`"
    )


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
