"""Which accounts a run may act in, and which of them are prod: pure decisions over what Organizations told us."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from finops.models.config import FinOpsConfig, tag_value


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """One account as the enumeration saw it: its id, name, status, tags and every OU above it."""

    id: str
    name: str | None = None
    status: str = "ACTIVE"
    tags: Mapping[str, str] = field(default_factory=dict)
    ancestors: frozenset[str] = frozenset()  # OU ids from its parent up to (not including) the root
    listed_explicitly: bool = False  # named in organization.target_accounts
    tags_unreadable: str | None = None  # the error code when Organizations would not give its tags


@dataclass(frozen=True, slots=True)
class AccountDecision:
    excluded: str | None  # why no run may act here; None = a target
    prod: str | None  # why it is a prod account; None = not prod
    team: str | None


def decide_account(account: AccountFacts, config: FinOpsConfig) -> AccountDecision:
    """Exclusions win over everything; prod accounts stay targets (reads and reports) but nothing in them changes."""
    organization, safety = config.organization, config.safety
    team = (account.tags.get(config.notifications.owner_tag_key) or "").strip().lower() or None
    team = team or config.notifications.account_teams.get(account.id)
    excluded: str | None = None
    if account.id in organization.excluded_accounts:
        excluded = "listed in organization.excluded_accounts"
    elif organization.excluded_ous and (hit := sorted(account.ancestors & set(organization.excluded_ous))):
        excluded = f"in excluded OU {hit[0]} (organization.excluded_ous)"
    elif account.tags_unreadable:
        excluded = f"account tags unreadable ({account.tags_unreadable}): cannot tell whether it is prod or excluded"
    elif organization.exclude_account_tag.matches(account.tags):
        tag = organization.exclude_account_tag
        excluded = f"account tag {tag.key}={tag.value_in(account.tags)} (organization.exclude_account_tag)"
    elif account.id == organization.management_account_id and not organization.include_management_account:
        excluded = "the management account (organization.include_management_account is false)"
    elif account.status != "ACTIVE":
        excluded = f"account status {account.status}"
    prod: str | None = None
    if account.id in organization.prod_accounts:
        prod = "listed in organization.prod_accounts"
    elif organization.prod_ous and (hit := sorted(account.ancestors & set(organization.prod_ous))):
        prod = f"in prod OU {hit[0]} (organization.prod_ous)"
    elif safety.is_prod(account.tags):
        prod = f"account tag {safety.environment_tag_key}={tag_value(account.tags, safety.environment_tag_key)}"
    return AccountDecision(excluded=excluded, prod=prod, team=team)
