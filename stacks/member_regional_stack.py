"""FinOpsMemberRegional: the Recycle Bin rules in every region of every target account, deployed by a StackSet.

How it is deployed: a second service-managed StackSet from the management account (or a delegated StackSets
administrator), with the same deployment targets as the member StackSet, the template
``cdk.out/FinOpsMemberRegional.template.json`` as it is, and *every* region of ``organization.regions`` (the member
StackSet takes one region: its role is global). It names no resource, so its instances in all those regions, the
member role's region included, never collide with each other or with ``FinOpsMember``. Like ``FinOpsMember`` it has
no environment, no assets and no bootstrap-version check (member accounts are not CDK-bootstrapped), and no
parameters. The management account, which service-managed StackSets skip, gets it only by hand (a stack per
region) when ``organization.include_management_account`` is set.

It is deployed whatever ``capabilities.ebs_cleanup`` says: the rules themselves cost nothing, and they keep every
deleted snapshot and volume of the region restorable, whoever deleted it (what they retain is billed at its usual
rate until its retention ends). With ``capabilities.ebs_cleanup.require_recycle_bin`` (the default), the clean-up
deletes nothing in a region without them.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.recycle_bin import RecycleBinRetention


class FinOpsMemberRegionalStack(Stack):
    """The region-level Recycle Bin rules (:class:`RecycleBinRetention`) from ``capabilities.ebs_cleanup.
    recycle_bin_rules``. Exposes ``recycle_bin``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: FinOpsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.recycle_bin = RecycleBinRetention(
            self, "RecycleBin", rules=config.capabilities.ebs_cleanup.recycle_bin_rules
        )
