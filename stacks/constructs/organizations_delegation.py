"""The Organizations resource policy that lets the hub read accounts, OUs and their tags directly."""

from __future__ import annotations

from aws_cdk import aws_organizations as organizations
from constructs import Construct

from finops.aws.organizations import DIRECTORY_PERMISSIONS, TARGET_PERMISSIONS

READ_ONLY_PREFIXES = ("organizations:Describe", "organizations:List")


def delegated_actions() -> tuple[str, ...]:
    """Exactly the Organizations actions the runtime declares next to its calls (account names and owner tags for
    routing alerts; the accounts and OUs a run targets), sorted.

    Read-only, always: a capability that needs a write action runs in the management account instead, so a
    declared action outside Describe*/List* stops the synth.
    """
    actions = tuple(sorted(set(DIRECTORY_PERMISSIONS) | set(TARGET_PERMISSIONS)))
    writes = [action for action in actions if not action.startswith(READ_ONLY_PREFIXES)]
    if writes:
        raise ValueError(f"the Organizations delegation is read-only; the runtime declares {writes}")
    return actions


class OrganizationsReadDelegation(Construct):
    """``AWS::Organizations::ResourcePolicy`` delegating :func:`delegated_actions` to ``reader_account_id``.

    An organization has exactly one resource policy; deploying this fails if another tool already created one (merge
    the statement there instead). Exposes ``actions`` and ``policy``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, reader_account_id: str) -> None:
        super().__init__(scope, construct_id)
        self.actions = delegated_actions()
        self.policy = organizations.CfnResourcePolicy(
            self,
            "Policy",
            content={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "FinOpsHubReadOnly",
                        "Effect": "Allow",
                        "Principal": {"AWS": reader_account_id},
                        "Action": list(self.actions),
                        "Resource": "*",
                    }
                ],
            },
        )
