"""Reading the Organization: account names and tags, and the accounts × regions a run targets.

Runs in the automation account, which the management stack delegates read-only Organizations access to. Where
there is no Organizations access (``make run`` on a standalone account), it works on the caller's own account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from finops.models.accounts import AccountRef
from finops.models.config import OrganizationConfig

logger = Logger(child=True)

# IAM actions these functions call; the hub construct grants exactly these (tests compare the two).
DIRECTORY_PERMISSIONS = ("organizations:DescribeAccount", "organizations:ListTagsForResource")
TARGET_PERMISSIONS = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
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


@dataclass(frozen=True, slots=True, order=True)
class Target:
    account: str
    region: str


def _accounts_under(org: Any, parent_id: str) -> Iterator[dict[str, Any]]:
    for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent_id):
        yield from page["Accounts"]
    for page in org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent_id):
        for ou in page["OrganizationalUnits"]:
            yield from _accounts_under(org, ou["Id"])


def list_targets(config: OrganizationConfig, organizations: Any, *, caller_account: str) -> list[Target]:
    """Active accounts in the target OUs (all of them when none are set) plus target_accounts, minus excluded,
    times the configured regions. Without Organizations access: the caller's own account."""
    alone = [Target(caller_account, r) for r in config.regions]
    try:
        if config.target_ous:
            accounts = [a for ou in config.target_ous for a in _accounts_under(organizations, ou)]
        else:
            pages = organizations.get_paginator("list_accounts").paginate()
            accounts = [a for page in pages for a in page["Accounts"]]
            if not accounts:  # an Organization always lists its management account: there is none
                logger.warning("no Organization; targeting the caller's own account", account=caller_account)
                return alone
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in _NO_ORGANIZATION:
            raise
        logger.warning("no Organizations access; targeting the caller's own account", account=caller_account)
        return alone
    ids = {a["Id"] for a in accounts if a.get("Status", "ACTIVE") == "ACTIVE"} | set(config.target_accounts)
    ids -= set(config.excluded_accounts)
    return sorted(Target(account, region) for account in ids for region in config.regions)
