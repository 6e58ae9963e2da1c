"""FinOpsMemberRegional: the Recycle Bin rules in every region of every target account, deployed by a StackSet.

How it is deployed: the service-managed StackSet ``finops-member-regional``, which the management stack (or
``FinOpsStackSets`` in a delegated StackSets administrator) creates with the same deployment targets as the member
StackSet, this stack's synthesized template as its body (``stacks.constructs.member_stack_sets``), and *every* region
of ``organization.regions`` (the member StackSet takes one region: its role is global). It names nothing global but by
its region (see below), so its instances in all those regions, the member role's region included, never collide with
each other or with ``FinOpsMember``. Like ``FinOpsMember`` it has no environment, no assets and no bootstrap-version
check (member accounts are not CDK-bootstrapped), and no parameters. The management account, which service-managed
StackSets skip, gets the same stack as ``FinOpsManagementRegional-<region>``, one CDK stack per configured region
(``stacks.app_stacks``), when ``organization.include_management_account`` is set.

It is deployed whatever ``capabilities.ebs_cleanup`` says: the rules themselves cost nothing, and they keep every
deleted snapshot and volume of the region restorable, whoever deleted it (what they retain is billed at its usual
rate until its retention ends). With ``capabilities.ebs_cleanup.require_recycle_bin`` (the default), the clean-up
deletes nothing in a region without them.

It also forwards the region's CloudTrail create events (RunInstances, CreateVolume, CreateDBInstance, ...) to the hub's
event bus for the auto-tagger: the rule ``finops-cloudtrail-forwarding`` on the default bus (rule names are per
region) and the role ``finops-cloudtrail-forwarding-<region>`` (IAM is global: the region keeps the names apart), which
may only put events on that bus. So the StackSet acknowledges ``CAPABILITY_NAMED_IAM``. The rule sees events
only where a trail logs management events (docs/auto-tagger.md).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.cloudtrail_forwarding import CloudTrailForwarder
from stacks.constructs.recycle_bin import RecycleBinRetention
from stacks.naming import cloudtrail_bus_arn


class FinOpsMemberRegionalStack(Stack):
    """The region-level Recycle Bin rules (:class:`RecycleBinRetention`) from ``capabilities.ebs_cleanup.
    recycle_bin_rules``, and the forwarding of the region's CloudTrail create events to the hub's auto-tagger
    (:class:`CloudTrailForwarder`). Exposes ``recycle_bin`` and ``cloudtrail``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: FinOpsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.recycle_bin = RecycleBinRetention(
            self, "RecycleBin", rules=config.capabilities.ebs_cleanup.recycle_bin_rules
        )
        self.cloudtrail = CloudTrailForwarder(
            self, "CloudTrailForwarding", hub_bus_arn=cloudtrail_bus_arn(self, config)
        )
