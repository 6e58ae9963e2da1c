"""The app's stacks: one per account and blast radius, composed from the constructs in ``stacks.constructs``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Environment

from finops.models.config import FinOpsConfig, StackSetAdministrator
from stacks.constructs.member_stack_sets import MemberTemplates, StackSetTemplate
from stacks.hub_stack import FinOpsHubStack
from stacks.management_stack import FinOpsManagementStack
from stacks.member_regional_stack import FinOpsMemberRegionalStack
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import ALERTS_REGION
from stacks.stack_sets_stack import FinOpsStackSetsStack
from stacks.tagging import tag_own_resources

STACK_SETS_STACK = "FinOpsStackSets"
MANAGEMENT_REGIONAL_STACK = "FinOpsManagementRegional-{region}"


@dataclass(frozen=True)
class OrganizationStacks:
    """Every stack but the hub: none has assets, so they synthesize in a moment."""

    member: FinOpsMemberStack
    member_regional: FinOpsMemberRegionalStack
    management: FinOpsManagementStack
    stack_sets: FinOpsStackSetsStack | None
    management_regional: tuple[FinOpsMemberRegionalStack, ...]


@dataclass(frozen=True)
class FinOpsStacks:
    management: FinOpsManagementStack
    member: FinOpsMemberStack
    member_regional: FinOpsMemberRegionalStack
    hub: FinOpsHubStack
    # With organization.stacksets.administrator: delegated, the StackSets' stack in the delegated admin account.
    stack_sets: FinOpsStackSetsStack | None = None
    # With organization.include_management_account, the regional member stack in each region of the management account.
    management_regional: tuple[FinOpsMemberRegionalStack, ...] = ()


def create_organization_stacks(app: App, config: FinOpsConfig) -> OrganizationStacks:
    """The member stacks (StackSet templates), then the stacks that deploy them as StackSets and, with
    ``organization.include_management_account``, the member resources of the management account.

    The member stacks come first: CDK synthesizes stacks in the order they were created, and the StackSets take the
    templates the member stacks wrote (``stacks.constructs.member_stack_sets``).
    """
    organization = config.organization
    # StackSet templates: no environment, no assets, no bootstrap-version check (member accounts are not
    # CDK-bootstrapped).
    member = FinOpsMemberStack(
        app,
        "FinOpsMember",
        config=config,
        synthesizer=StackSetTemplate(),
        description="FinOps: the role the hub assumes in this account (deployed by a StackSet)",
    )
    # The same, in every configured region of every member account (a second StackSet).
    member_regional = FinOpsMemberRegionalStack(
        app,
        "FinOpsMemberRegional",
        config=config,
        synthesizer=StackSetTemplate(),
        description="FinOps: Recycle Bin rules for deleted EBS snapshots and volumes in this region (StackSet)",
    )
    templates = MemberTemplates(member=member, member_regional=member_regional)
    management = FinOpsManagementStack(
        app,
        "FinOpsManagement",
        config=config,
        member_templates=templates,
        env=Environment(account=organization.management_account_id, region=ALERTS_REGION),
        description="FinOps: Organizations delegation, anomaly detection, billing alert topics (management)",
    )
    stacksets = organization.stacksets
    stack_sets = None
    if stacksets.enabled and stacksets.administrator is StackSetAdministrator.DELEGATED:
        stack_sets = FinOpsStackSetsStack(
            app,
            STACK_SETS_STACK,
            config=config,
            member_templates=templates,
            env=Environment(account=stacksets.delegated_admin_account_id, region=ALERTS_REGION),
            description="FinOps: the member StackSets, administered from the delegated StackSets administrator",
        )
    # Service-managed StackSets never deploy to the management account: with include_management_account it gets the
    # member role from FinOpsManagement and the regional member stack from one CDK stack per configured region, each
    # deployed like FinOpsManagement (management-account credentials, that region bootstrapped).
    management_regional = tuple(
        FinOpsMemberRegionalStack(
            app,
            MANAGEMENT_REGIONAL_STACK.format(region=region),
            config=config,
            env=Environment(account=organization.management_account_id, region=region),
            description="FinOps: Recycle Bin rules and CloudTrail forwarding of the management account in this region",
        )
        for region in (organization.regions if organization.include_management_account else ())
    )
    return OrganizationStacks(
        member=member,
        member_regional=member_regional,
        management=management,
        stack_sets=stack_sets,
        management_regional=management_regional,
    )


def create_stacks(app: App, config: FinOpsConfig, *, layer_dir: Path) -> FinOpsStacks:
    """Every stack for ``config`` (:func:`create_organization_stacks`, then the hub), every resource tagged with
    ``own_tags`` (which the config model has checked against the taxonomy the config ships).

    Raises ``stacks.constructs.layers.LayerNotBuiltError`` before creating anything that could deploy
    half-configured.
    """
    organization = create_organization_stacks(app, config)
    hub = FinOpsHubStack(
        app,
        "FinOpsHub",
        config=config,
        layer_dir=layer_dir,
        env=Environment(account=config.organization.automation_account_id, region=ALERTS_REGION),
        description="FinOps: alert functions, Slack delivery and audit trail (automation account)",
    )
    tag_own_resources(app, config)
    return FinOpsStacks(
        management=organization.management,
        member=organization.member,
        member_regional=organization.member_regional,
        hub=hub,
        stack_sets=organization.stack_sets,
        management_regional=organization.management_regional,
    )
