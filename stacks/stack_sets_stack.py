"""FinOpsStackSets: the member StackSets, administered from a delegated StackSets administrator account.

Only with ``organization.stacksets.administrator: delegated``; otherwise the management stack holds the same
StackSets. Deployed to ``stacksets.delegated_admin_account_id`` in us-east-1, with that account's credentials, after
the management account has activated trusted access and registered the account as delegated administrator
(docs/deploy.md: Organizations API steps that have no CloudFormation resource).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.member_role import organization_id_parameter
from stacks.constructs.member_stack_sets import MemberStackSets, MemberTemplates


class FinOpsStackSetsStack(Stack):
    """:class:`MemberStackSets` called as ``DELEGATED_ADMIN`` (the StackSets themselves live in the management
    account, as every service-managed StackSet does), passing this stack's ``OrganizationId`` parameter (default
    ``organization.organization_id``) to the member templates. The member stacks must be created before it. Exposes
    ``organization_id`` and ``stack_sets``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: FinOpsConfig,
        member_templates: MemberTemplates,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.organization_id = organization_id_parameter(
            self, config, guards="may assume the member roles the StackSets deploy"
        )
        self.stack_sets = MemberStackSets(
            self,
            "MemberStackSets",
            templates=member_templates,
            organization=config.organization,
            parameters={"OrganizationId": self.organization_id.value_as_string},
            call_as="DELEGATED_ADMIN",
        )
