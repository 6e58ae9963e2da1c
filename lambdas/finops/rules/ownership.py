"""Who owns an alert: the budget map (budgets), the account's owner tag in Organizations, then the config's
account → team map. Team names compare case-insensitively. Who to ask: the account's contact tag (``owner``)."""

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
    contact: str | None = None  # a person to ask: the account's contact tag (notifications.contact_tag_key)


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
        # The budget's account (often the management account) says nothing about who owns what it tracks.
        return Owner(team=notifications.budget_teams[budget_name], source="budget map")
    contact = _tag(account_tags, notifications.contact_tag_key)
    team = _tag(account_tags, notifications.owner_tag_key)
    if team:
        return Owner(team=team.lower(), source="account tag", contact=contact)
    team = notifications.account_teams.get(account_id or "")
    if team:
        return Owner(team=team, source="config", contact=contact)
    if lookup_error:
        return Owner(team=None, source="lookup failed", detail=lookup_error)
    return Owner(team=None, source="none", contact=contact)


def _tag(tags: Mapping[str, str], key: str) -> str | None:
    """The tag's trimmed value (its key compared case-insensitively), ``None`` when missing or blank."""
    wanted = key.strip().lower()
    for tag_key, value in tags.items():
        if tag_key.strip().lower() == wanted and value.strip():
            return value.strip()
    return None
