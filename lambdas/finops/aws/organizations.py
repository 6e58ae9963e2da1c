"""Reading the Organization: account names and tags, and the accounts × regions a run targets.

Runs in the automation account, which the management stack delegates read-only Organizations access to. Without
Organizations access, alerts still go out (owner lookups say why they failed) and runs act only on the accounts the
config lists explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from finops.engine.model import Target
from finops.models.accounts import AccountRef
from finops.models.config import FinOpsConfig, OrganizationConfig
from finops.rules.targets import AccountFacts, decide_account

logger = Logger(child=True)

# IAM actions these functions call; the hub construct grants exactly these (tests compare the two).
DIRECTORY_PERMISSIONS = ("organizations:DescribeAccount", "organizations:ListTagsForResource")
TARGET_PERMISSIONS = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListRoots",
    "organizations:ListTagsForResource",
)
_NO_ORGANIZATION = {"AccessDeniedException", "AWSOrganizationsNotInUseException", "AccessDenied"}


class AccountDirectory:
    """Account names and tags by id, asked once per id per invocation."""

    def __init__(self, organizations: Any) -> None:
        self._org = organizations
        self._known: dict[str, AccountRef] = {}

    def lookup(self, account_id: str | None) -> AccountRef:
        if not account_id:
            return AccountRef(None)
        if account_id not in self._known:
            self._known[account_id] = self._describe(account_id)
        return self._known[account_id]

    def _describe(self, account_id: str) -> AccountRef:
        try:
            name = self._org.describe_account(AccountId=account_id)["Account"]["Name"]
            pages = self._org.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id)
            tags = {t["Key"]: t["Value"] for page in pages for t in page["Tags"]}
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in _NO_ORGANIZATION | {"AccountNotFoundException"}:
                raise
            logger.warning("account not readable in Organizations", account=account_id, error=code)
            return AccountRef(account_id, lookup_error=None if code == "AccountNotFoundException" else code)
        return AccountRef(account_id, name, tags)


@dataclass(frozen=True, slots=True)
class Enumeration:
    """The targets of a run, and what was left out and why (every exclusion is reported, never silent)."""

    targets: list[Target]
    excluded: list[dict[str, str]] = field(default_factory=list)  # {"account", "reason"}
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"targets": len(self.targets), "excluded": self.excluded, "notes": self.notes}


def _pages(org: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in org.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def _walk(org: Any, parent_id: str, ancestors: frozenset[str]) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """Every account under ``parent_id`` (nested OUs included) with the OU ids above it."""
    for account in _pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent_id):
        yield account, ancestors
    for ou in _pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id):
        yield from _walk(org, ou["Id"], ancestors | {ou["Id"]})


def _listed_accounts(config: OrganizationConfig, org: Any) -> list[tuple[dict[str, Any], frozenset[str]]]:
    """Accounts with their OU ancestry. The whole tree is walked only when an OU setting needs the ancestry."""
    if not (config.target_ous or config.excluded_ous or config.prod_ous):
        return [(account, frozenset()) for account in _pages(org, "list_accounts", "Accounts")]
    roots = list(_pages(org, "list_roots", "Roots"))
    return [pair for root in roots for pair in _walk(org, root["Id"], frozenset())]


def enumerate_targets(config: FinOpsConfig, organizations: Any) -> Enumeration:
    """Active accounts in the target OUs (all of them when none are set) plus ``target_accounts``, minus every
    exclusion (accounts, OUs, the exclude tag, the management account unless included), times the regions.

    Without Organizations access there is no silent fallback to the caller's own account: only the explicitly
    listed ``target_accounts`` are targets, and the notes say so.
    """
    organization = config.organization
    notes: list[str] = []
    facts: dict[str, AccountFacts] = {}
    try:
        listed = _listed_accounts(organization, organizations)
        if not listed:  # an Organization always lists its management account: there is none
            raise _NoOrganization("AWSOrganizationsNotInUseException")
    except (ClientError, _NoOrganization) as exc:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else str(exc)
        if code not in _NO_ORGANIZATION:
            raise
        listed = []
        explicit = ", ".join(organization.target_accounts) or "none"
        notes.append(
            f"no Organizations access ({code}): acting only on organization.target_accounts ({explicit}); their "
            "account tags and OUs cannot be read, so only organization.prod_accounts marks one of them prod; grant "
            "the hub the Organizations delegation to target OUs"
        )
        logger.warning("no Organizations access; only explicit target_accounts", error=code)
    wanted_ous = set(organization.target_ous)
    for described, ancestors in listed:
        if wanted_ous and not ancestors & wanted_ous and described["Id"] not in organization.target_accounts:
            continue
        facts[described["Id"]] = AccountFacts(
            id=described["Id"],
            name=described.get("Name"),
            status=described.get("Status", "ACTIVE"),
            ancestors=ancestors,
        )
    for account_id in organization.target_accounts:
        facts.setdefault(account_id, AccountFacts(id=account_id))
    targets: list[Target] = []
    excluded: list[dict[str, str]] = []
    for account_id in sorted(facts):
        account = facts[account_id]
        if listed and account_id not in organization.excluded_accounts:
            try:
                account = replace(account, tags=_tags(organizations, account_id))
            except ClientError as exc:  # never guess that an account is neither prod nor excluded
                account = replace(account, tags_unreadable=exc.response["Error"]["Code"])
        decision = decide_account(account, config)
        if decision.excluded:
            excluded.append({"account": account_id, "reason": decision.excluded})
            continue
        targets += [
            Target(
                account_id,
                region,
                name=account.name,
                team=decision.team,
                prod=bool(decision.prod),
                prod_reason=decision.prod,
            )
            for region in organization.regions
        ]
    return Enumeration(targets=targets, excluded=excluded, notes=notes)


class _NoOrganization(Exception):
    pass


def _tags(org: Any, account_id: str) -> dict[str, str]:
    """The account's tags; a failed read raises (the caller excludes the account rather than guess)."""
    return {t["Key"]: t["Value"] for t in _pages(org, "list_tags_for_resource", "Tags", ResourceId=account_id)}
