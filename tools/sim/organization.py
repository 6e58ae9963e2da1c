"""The Organization: the management account, OUs, member accounts and their tags, the member role, and the sessions
that reach each account.

Seeding runs as an operator would: the management account creates the Organization, its OUs and its accounts, tags
them and moves them into their OUs; the member role is then deployed into every account the estate says the
StackSet reached (``member_role``, default true). The others are the simulated fault of an account the StackSet
missed: no role there, and ``_moto_internals`` makes AssumeRole into it fail with AccessDenied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from tools.sim import _moto_internals
from tools.sim._common import pages, tags_of
from tools.sim.model import Account, ManagementAccount

OPERATOR_USER = "finops-simulator"  # the management account's IAM user whose keys become the default credentials


class SimulationError(RuntimeError):
    """The simulation cannot be built in the current moto setup, or cannot do what was asked of it."""


# -- sessions ----------------------------------------------------------------------------------------------------------


def session(**kwargs: Any) -> boto3.Session:
    """A boto3 session sharing one model loader: a fresh one re-reads the JSON models (~50 ms for EC2) each time."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.Session(botocore_session=core, **kwargs)


@cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


class InAccount:
    """A botocore hook that addresses moto's backend for ``account`` through its ``x-moto-account-id`` header.

    Used where AWS itself, or an account's own administrators, act in an account without our credentials:
    bootstrapping the management account's operator user, deploying the member role the way the product's StackSet
    does, and building and reading an account the member role never reached.
    """

    def __init__(self, account: str) -> None:
        self.account = account

    def __call__(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.account

    def session(self, region: str | None = "us-east-1") -> boto3.Session:
        in_account = session(region_name=region)
        in_account.events.register("before-sign", self)
        return in_account


def as_account_itself(account_id: str) -> boto3.Session:
    """A session acting as ``account_id``'s own administrators, for an account the member role never reached."""
    return InAccount(account_id).session(region=None)


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def assume(sts: Any, account_id: str, role_name: str, region: str | None = None) -> boto3.Session:
    credentials = sts.assume_role(RoleArn=role_arn(account_id, role_name), RoleSessionName="finops-simulator")[
        "Credentials"
    ]
    return session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


# -- seeding -----------------------------------------------------------------------------------------------------------


def become_management(management: ManagementAccount) -> boto3.Session:
    """Make the default credentials an IAM user's in the management account, and return a session with them."""
    iam = InAccount(management.id).session().client("iam")
    try:
        iam.create_user(UserName=OPERATOR_USER, Tags=[{"Key": "purpose", "Value": "simulated operator"}])
    except iam.exceptions.EntityAlreadyExistsException:
        raise SimulationError(
            "this mock_aws() already holds a seeded Organization: seed once per mock (a nested mock_aws() "
            "shares and does not reset the outer one's state)"
        ) from None
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    os.environ["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    boto3.setup_default_session()
    return session()


def create_ous(org: Any, root_id: str, paths: list[str]) -> dict[str, str]:
    ou_ids: dict[str, str] = {}
    for path in paths:  # parents first
        parent, _, name = path.rpartition("/")
        created = org.create_organizational_unit(ParentId=ou_ids[parent] if parent else root_id, Name=name)
        ou_ids[path] = created["OrganizationalUnit"]["Id"]
    return ou_ids


def create_account(org: Any, account: Account, root_id: str, ou_ids: Mapping[str, str]) -> None:
    with _moto_internals.next_account_id(account.id):
        status = org.create_account(AccountName=account.name, Email=account.email)["CreateAccountStatus"]
    if status["AccountId"] != account.id:
        raise SimulationError(f"moto gave account {account.name} the id {status['AccountId']}, not {account.id}")
    if account.tags:
        org.tag_resource(ResourceId=account.id, Tags=[{"Key": k, "Value": v} for k, v in account.tags.items()])
    if account.ou is not None:
        org.move_account(AccountId=account.id, SourceParentId=root_id, DestinationParentId=ou_ids[account.ou])


def deploy_member_role(accounts: Iterable[Account], role_name: str, organization_id: str) -> None:
    """What the product's StackSet does: the member role in each account it reached, assumable from the Organization."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            }
        ],
    }
    target = InAccount("")
    iam = target.session().client("iam")
    for account in accounts:
        if not account.member_role:
            continue
        target.account = account.id
        iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust), Description="FinOps member role (simulated)"
        )


# -- reading back ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedAccount:
    """A member account as Organizations lists it."""

    id: str
    name: str
    email: str
    ou: str | None
    tags: dict[str, str]


def list_member_accounts(org: Any, management_id: str, ou_paths: Mapping[str, str | None]) -> list[ListedAccount]:
    """Every active member account, under each parent of ``ou_paths`` (see :func:`ou_paths`)."""
    accounts = []
    for parent_id, path in ou_paths.items():
        for listed in pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent_id):
            if listed["Id"] == management_id or listed["Status"] != "ACTIVE":
                continue
            tags = pages(org, "list_tags_for_resource", "Tags", ResourceId=listed["Id"])
            accounts.append(ListedAccount(listed["Id"], listed["Name"], listed["Email"], path, tags_of(tags)))
    return accounts


def ou_paths(org: Any, root_id: str) -> dict[str, str | None]:
    """Every parent id (the root and each OU) with its OU path; the root's is None."""
    paths: dict[str, str | None] = {root_id: None}
    pending = [root_id]
    while pending:
        parent = pending.pop()
        for ou in pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent):
            paths[ou["Id"]] = f"{paths[parent]}/{ou['Name']}" if paths[parent] else ou["Name"]
            pending.append(ou["Id"])
    return paths


def leaves(paths: Iterable[str]) -> tuple[str, ...]:
    """The OU paths no other path runs through (``Workloads/Prod`` stands for ``Workloads`` too)."""
    every = set(paths)
    return tuple(sorted(p for p in every if not any(other.startswith(f"{p}/") for other in every)))
