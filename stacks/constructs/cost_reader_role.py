"""The role the hub assumes in the management account to read the Organization's spend from Cost Explorer."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from finops.services.tag_spend import COST_READER_PERMISSIONS

READ_PREFIXES = ("Get", "List", "Describe")


class CostReaderRole(Construct):
    """IAM role ``role_name`` that may only read Cost Explorer: ``actions`` (by default exactly what
    :mod:`finops.services.tag_spend` calls, :data:`~finops.services.tag_spend.COST_READER_PERMISSIONS`).

    Trust: the hub account as principal with ``ArnEquals aws:PrincipalArn`` the one hub role ``hub_role_name`` (the
    function that reads the spend; a role ARN as principal would break while that role does not exist yet, or once
    it is recreated), and ``StringEquals aws:PrincipalOrgID`` when ``organization_id`` is known. Sessions last at most
    an hour. An action that is not a ``ce:`` read stops the synth. Exposes ``role`` and ``actions``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        hub_account_id: str,
        hub_role_name: str,
        organization_id: str | None,
        actions: Sequence[str] = COST_READER_PERMISSIONS,
    ) -> None:
        super().__init__(scope, construct_id)
        writes = sorted(a for a in actions if not a.startswith("ce:") or not a[3:].startswith(READ_PREFIXES))
        if writes or not actions:
            raise ValueError(f"the cost reader role reads Cost Explorer only (ce:Get*/List*/Describe*), not {writes}")
        self.actions = tuple(sorted(actions))
        partition = Stack.of(self).partition
        conditions: dict[str, dict[str, str]] = {
            "ArnEquals": {"aws:PrincipalArn": f"arn:{partition}:iam::{hub_account_id}:role/{hub_role_name}"}
        }
        if organization_id:
            conditions["StringEquals"] = {"aws:PrincipalOrgID": organization_id}
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description=f"Assumed by the FinOps hub's {hub_role_name}: the Organization's spend by team tag",
            assumed_by=iam.AccountPrincipal(hub_account_id).with_conditions(conditions),
            max_session_duration=Duration.hours(1),
            inline_policies={
                "CostExplorerReads": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(sid="CostExplorerReads", actions=list(self.actions), resources=["*"])
                    ]
                )
            },
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    f"Read-only and named: {', '.join(self.actions)}. These Cost Explorer reads name no resource "
                    "(a GetCostAndUsage without a billing view, ListCostAllocationTags), so Resource '*' is what "
                    f"they accept; only {hub_role_name} of the hub account may assume the role."
                ),
            )
        )
