"""The Organizations resource policy that lets the hub read accounts, OUs and their tags directly."""

from __future__ import annotations

from aws_cdk import aws_organizations as organizations
from constructs import Construct

# Read-only: account names and owner tags for routing alerts, and the OU tree for target_ous. No write action is
# delegated, ever; a capability that needs one runs in the management account instead.
READ_ACTIONS: tuple[str, ...] = (
    "organizations:DescribeAccount",
    "organizations:DescribeOrganization",
    "organizations:DescribeOrganizationalUnit",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
    "organizations:ListParents",
    "organizations:ListTagsForResource",
)


class OrganizationsReadDelegation(Construct):
    """``AWS::Organizations::ResourcePolicy`` delegating :data:`READ_ACTIONS` to ``reader_account_id``.

    An organization has exactly one resource policy; deploying this fails if another tool already created one (merge
    the statement there instead). Exposes ``policy``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, reader_account_id: str) -> None:
        super().__init__(scope, construct_id)
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
                        "Action": list(READ_ACTIONS),
                        "Resource": "*",
                    }
                ],
            },
        )
