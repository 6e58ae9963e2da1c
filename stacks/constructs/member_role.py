"""The role the hub's functions assume in each member account."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

# Read-only for now: the inventory later capabilities (reports, tag enforcement, scheduler, EBS clean-up) start from,
# named one by one. No wildcards: ec2:Describe* would include DescribeInstanceAttribute and
# DescribeLaunchTemplateVersions, which return user data, where secrets often live. Each capability adds the exact
# mutating actions its code declares, next to that code, and a test checks the two agree.
READ_ONLY_ACTIONS: tuple[str, ...] = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeSnapshots",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "rds:DescribeDBInstances",
    "rds:ListTagsForResource",
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
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Read-only inventory of every region of the account, named action by action: the EC2 and Auto "
                    "Scaling describes and tag:GetResources support no resource-level permissions, and the two RDS "
                    "reads would need the ARN of every database in every region, which the StackSet template cannot "
                    "know."
                ),
            )
        )
