"""The app's stacks: one per account and blast radius, composed from the constructs in ``stacks.constructs``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, BootstraplessSynthesizer, Environment

from finops.models.config import FinOpsConfig
from stacks.hub_stack import FinOpsHubStack
from stacks.management_stack import FinOpsManagementStack
from stacks.member_regional_stack import FinOpsMemberRegionalStack
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import ALERTS_REGION
from stacks.tagging import tag_own_resources


@dataclass(frozen=True)
class FinOpsStacks:
    management: FinOpsManagementStack
    member: FinOpsMemberStack
    member_regional: FinOpsMemberRegionalStack
    hub: FinOpsHubStack


def create_stacks(app: App, config: FinOpsConfig, *, layer_dir: Path) -> FinOpsStacks:
    """The four stacks for ``config``, every resource tagged with ``own_tags`` (which the config model has checked
    against the taxonomy the config ships).

    Raises ``stacks.constructs.layers.LayerNotBuiltError`` before creating anything that could deploy
    half-configured.
    """
    organization = config.organization
    stacks = FinOpsStacks(
        management=FinOpsManagementStack(
            app,
            "FinOpsManagement",
            config=config,
            env=Environment(account=organization.management_account_id, region=ALERTS_REGION),
            description="FinOps: Organizations delegation, anomaly detection, billing alert topics (management)",
        ),
        # A StackSet template: no environment, no assets, no bootstrap-version check (member accounts are not
        # CDK-bootstrapped).
        member=FinOpsMemberStack(
            app,
            "FinOpsMember",
            config=config,
            synthesizer=BootstraplessSynthesizer(),
            description="FinOps: the role the hub assumes in this account (deployed by a StackSet)",
        ),
        # The same, in every configured region of every member account (a second StackSet).
        member_regional=FinOpsMemberRegionalStack(
            app,
            "FinOpsMemberRegional",
            config=config,
            synthesizer=BootstraplessSynthesizer(),
            description="FinOps: Recycle Bin rules for deleted EBS snapshots and volumes in this region (StackSet)",
        ),
        hub=FinOpsHubStack(
            app,
            "FinOpsHub",
            config=config,
            layer_dir=layer_dir,
            env=Environment(account=organization.automation_account_id, region=ALERTS_REGION),
            description="FinOps: alert functions, Slack delivery and audit trail (automation account)",
        ),
    )
    tag_own_resources(app, config)
    return stacks
