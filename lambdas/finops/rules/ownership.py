"""Who owns an account: the owner tag in Organizations first, then the config's account → team map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from finops.models.config import FinOpsConfig


@dataclass(frozen=True, slots=True)
class Owner:
    team: str | None
    source: Literal["account tag", "config", "none"]


def owning_team(account_id: str | None, account_tags: dict[str, str], config: FinOpsConfig) -> Owner:
    key = config.notifications.owner_tag_key.lower()
    for tag_key, value in account_tags.items():
        if tag_key.lower() == key and value.strip():
            return Owner(team=value.strip().lower(), source="account tag")
    team = config.notifications.account_teams.get(account_id or "")
    if team:
        return Owner(team=team, source="config")
    return Owner(team=None, source="none")
