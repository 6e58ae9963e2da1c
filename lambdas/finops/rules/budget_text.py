"""Parse the plain-text AWS Budgets notification that arrives on SNS.

The text is meant for e-mail, so this reads the ``Key: value`` lines it always carries and the sentence that names
the period. Actual and forecast alerts, and daily/monthly/quarterly/annual budgets, share this shape.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from finops.models.alerts import BudgetAlert

_LINE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]+?)\s*:\s*(?P<value>.+?)\s*$", re.MULTILINE)
_ACCOUNT = re.compile(r"AWS Account\s+(?P<account>\d{12})")
_PERIOD = re.compile(r"for the current (?P<period>day|month|quarter|year)", re.IGNORECASE)
_MONEY = re.compile(r"\$\s*(?P<amount>[0-9][0-9,]*(?:\.[0-9]+)?)")


class NotABudgetAlert(ValueError):
    """The text is not an AWS Budgets notification (or lacks the lines that make one)."""


def looks_like_budget_alert(text: str) -> bool:
    return "Budget Name:" in text and "Alert Type:" in text


def dollars(text: str | None) -> Decimal | None:
    """``"$1,234.50"`` → ``Decimal("1234.50")``; ``None`` when there is no dollar amount in the text."""
    match = _MONEY.search(text or "")
    if not match:
        return None
    try:
        return Decimal(match["amount"].replace(",", ""))
    except InvalidOperation:
        return None


def parse_budget_alert(text: str, *, message_id: str) -> BudgetAlert:
    fields = {m["key"].strip().lower(): m["value"] for m in _LINE.finditer(text)}
    name = fields.get("budget name")
    alert_type = (fields.get("alert type") or "").upper()
    if not name:
        raise NotABudgetAlert("budget alert text has no 'Budget Name:' line")
    if alert_type not in ("ACTUAL", "FORECASTED"):
        raise NotABudgetAlert(
            f"budget alert {name!r}: 'Alert Type:' is {alert_type or 'missing'!r}, expected ACTUAL or FORECASTED"
        )
    amount = fields.get(f"{alert_type.lower()} amount")
    account = _ACCOUNT.search(text)
    period = _PERIOD.search(text)
    return BudgetAlert(
        message_id=message_id,
        account_id=account["account"] if account else None,
        budget_name=name,
        budget_type=fields.get("budget type"),
        alert_type=alert_type,
        period=period["period"].lower() if period else None,
        budgeted_amount=fields.get("budgeted amount"),
        threshold=fields.get("alert threshold"),
        amount=amount,
        amount_usd=dollars(amount),
        threshold_usd=dollars(fields.get("alert threshold")),
        budgeted_usd=dollars(fields.get("budgeted amount")),
        covers=_covers(fields),
    )


def _covers(fields: dict[str, str]) -> str | None:
    """What the budget's filters select, when the notification carries a filter line (``Cost Filters: ...``,
    ``Budget Filters: ...``). AWS's default text has none; then the message says so instead of guessing."""
    for key, value in fields.items():
        if "filter" in key and value.strip():
            return value.strip()
    return None
