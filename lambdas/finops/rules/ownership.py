"""Who owns an alert: the budget map (budgets), the account's owner tag in Organizations, then the config's
account → team map. Team names compare case-insensitively."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from finops.models.config import FinOpsConfig

Source = Literal["budget map", "account tag", "config", "none", "lookup failed"]


@dataclass(frozen=True, slots=True)
class Owner:
    team: str | None
    source: Source
    detail: str = ""  # why there is no owner, when the Organizations lookup failed


def owning_team(
    account_id: str | None,
    account_tags: Mapping[str, str],
    config: FinOpsConfig,
    *,
    lookup_error: str | None = None,
    budget_name: str | None = None,
) -> Owner:
    notifications = config.notifications
    if budget_name is not None and budget_name in notifications.budget_teams:
        return Owner(team=notifications.budget_teams[budget_name], source="budget map")
    key = notifications.owner_tag_key.lower()
    for tag_key, value in account_tags.items():
        if tag_key.lower() == key and value.strip():
            return Owner(team=value.strip().lower(), source="account tag")
    team = notifications.account_teams.get(account_id or "")
    if team:
        return Owner(team=team, source="config")
    if lookup_error:
        return Owner(team=None, source="lookup failed", detail=lookup_error)
    return Owner(team=None, source="none")
