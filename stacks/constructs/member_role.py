"""The role the hub's functions assume in each member account."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

# Read-only for now: inventory for reports. Each later capability (tag enforcement, scheduler, EBS clean-up) adds
# the exact mutating actions its code declares, next to that code, and a test checks the two agree.
READ_ONLY_ACTIONS: tuple[str, ...] = (
    "autoscaling:Describe*",
    "ec2:Describe*",
    "rds:Describe*",
    "tag:GetResources",
)


class MemberRole(Construct):
    """IAM role ``role_name`` trusted by ``hub_account_id``, only for its roles named ``<hub_role_prefix>*``.

    Exposes ``role``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, role_name: str, hub_account_id: str, hub_role_prefix: str
    ) -> None:
        super().__init__(scope, construct_id)
        hub_roles = f"arn:{Stack.of(self).partition}:iam::{hub_account_id}:role/{hub_role_prefix}*"
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Assumed by the FinOps hub's functions; read-only until a capability needs more",
            assumed_by=iam.AccountPrincipal(hub_account_id).with_conditions(
                {"ArnLike": {"aws:PrincipalArn": hub_roles}}
            ),
            inline_policies={
                "ReadOnlyInventory": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=list(READ_ONLY_ACTIONS), resources=["*"])]
                )
            },
        )
        # cdk-nag v3 reports each wildcard as its own finding; each is acknowledged on this role with the reason.
        reason = (
            "Read-only inventory of the whole account: ec2:Describe* and tag:GetResources support no resource-level "
            "permissions, and every action in the Describe* families only reads."
        )
        findings = [f"Action::{action}" for action in READ_ONLY_ACTIONS if "*" in action] + ["Resource::*"]
        Validations.of(self.role).acknowledge(
            *(Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason) for finding in findings)
        )
