"""The Organizations resource policy that lets the hub's functions read accounts, OUs and their tags directly."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_organizations as organizations
from constructs import Construct

from finops.handlers import HANDLERS
from stacks.constructs.lambda_function import handler_permissions

READ_ONLY_PREFIXES = ("organizations:Describe", "organizations:List")


def delegated_actions() -> tuple[str, ...]:
    """Exactly the ``organizations:*`` actions the hub's handlers declare in their ``PERMISSIONS``, sorted.

    Today that is the account lookup of ``anomaly_alerts`` (name and owner tags for routing alerts). A handler that
    later declares the OU walk (``finops.aws.organizations.TARGET_PERMISSIONS``) gets it delegated with no change
    here. Read-only, always: a capability that needs a write action runs in the management account instead, so a
    declared action outside Describe*/List* stops the synth.
    """
    actions: set[str] = set()
    for name, module in HANDLERS.items():
        declared = {action for action in handler_permissions(name) if action.startswith("organizations:")}
        writes = sorted(action for action in declared if not action.startswith(READ_ONLY_PREFIXES))
        if writes:
            raise ValueError(f"the Organizations delegation is read-only; {module} declares {writes}")
        actions |= declared
    return tuple(sorted(actions))


STATEMENT_ID = "FinOpsHubReadOnly"


def delegation_statement(*, reader_account_id: str, reader_role_prefix: str, partition: str) -> dict[str, Any]:
    """The resource-policy statement delegating :func:`delegated_actions` to ``reader_account_id``'s roles named
    ``<reader_role_prefix>*``.

    The one source of the statement: :class:`OrganizationsReadDelegation` deploys it (``partition`` a token there),
    and ``make org-resource-policy`` prints it (``partition`` ``aws``) for an Organization whose resource policy is
    someone else's (``organization.manage_resource_policy: false``), to merge into theirs.
    """
    reader_roles = f"arn:{partition}:iam::{reader_account_id}:role/{reader_role_prefix}*"
    return {
        "Sid": STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"AWS": reader_account_id},
        "Action": list(delegated_actions()),
        "Resource": "*",
        "Condition": {"ArnLike": {"aws:PrincipalArn": reader_roles}},
    }


class OrganizationsReadDelegation(Construct):
    """``AWS::Organizations::ResourcePolicy`` delegating :func:`delegated_actions` to ``reader_account_id``, usable
    only by that account's roles named ``<reader_role_prefix>*`` (``aws:PrincipalArn``), the hub's function roles.

    The hub's roles still need the same actions in their own IAM policies (the function factory grants each
    handler's ``PERMISSIONS``); the condition keeps any other role of the hub account out even if it is granted
    ``organizations:*``. An organization has exactly one resource policy; deploying this fails if another tool
    already created one: set ``organization.manage_resource_policy: false`` and merge :func:`delegation_statement`
    there instead. Exposes ``actions`` and ``policy``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, reader_account_id: str, reader_role_prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.actions = delegated_actions()
        statement = delegation_statement(
            reader_account_id=reader_account_id,
            reader_role_prefix=reader_role_prefix,
            partition=Stack.of(self).partition,
        )
        self.policy = organizations.CfnResourcePolicy(
            self, "Policy", content={"Version": "2012-10-17", "Statement": [statement]}
        )
