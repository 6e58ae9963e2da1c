"""FinOpsMember: the role in every target account, deployed by a CloudFormation StackSet (see docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.member_role import (
    CLEANUP_DELETIONS,
    MemberRole,
    organization_id_parameter,
    worker_role_names,
)


class FinOpsMemberStack(Stack):
    """Environment-agnostic and asset-free, so its template is a plain StackSet template: the body of the StackSet
    ``finops-member`` (``stacks.constructs.member_stack_sets``). Its one parameter, ``OrganizationId``, defaults to
    ``organization.organization_id`` when the config has it; the StackSet passes it from the stack that deploys it.
    Exposes ``organization_id`` (the parameter) and ``member_role``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: FinOpsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.organization_id = organization_id_parameter(self, config)
        self.member_role = MemberRole(
            self,
            "MemberRole",
            role_name=config.organization.member_role_name,
            hub_account_id=config.organization.automation_account_id,
            hub_role_names=worker_role_names(),
            organization_id=self.organization_id.value_as_string,
            protect_tag_key=config.safety.protect_tag.key,
            deletions=CLEANUP_DELETIONS,
        )
