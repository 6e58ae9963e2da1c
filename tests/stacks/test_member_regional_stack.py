"""FinOpsMemberRegional: the region-level Recycle Bin rules a StackSet deploys to every region of every target
account, so a deleted snapshot or volume stays restorable; locked when the config asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from finops.models.config import FinOpsConfig
from tests.stacks.template_helpers import only, resources

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

RULE = "AWS::Rbin::Rule"


def rule(template: Template, resource_type: str) -> dict[str, Any]:
    _, body = only(template, RULE, {"ResourceType": resource_type})
    properties: dict[str, Any] = body["Properties"]
    return properties


def test_one_snapshot_and_one_volume_rule_keep_every_deleted_one_of_the_region(
    member_regional_template: Template, config: FinOpsConfig
) -> None:
    rules = config.capabilities.ebs_cleanup.recycle_bin_rules
    assert (rules.snapshot_retention_days, rules.volume_retention_days) == (30, 7)

    snapshots = rule(member_regional_template, "EBS_SNAPSHOT")
    volumes = rule(member_regional_template, "EBS_VOLUME")

    assert snapshots["RetentionPeriod"] == {"RetentionPeriodValue": 30, "RetentionPeriodUnit": "DAYS"}
    assert volumes["RetentionPeriod"] == {"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}
    for properties in (snapshots, volumes):
        # region-level: whatever deleted it, no tag decides
        assert "ResourceTags" not in properties
        assert "ExcludeResourceTags" not in properties
        # unlocked as shipped (unlock_delay_days: null)
        assert "LockConfiguration" not in properties
    member_regional_template.resource_count_is(RULE, 2)


def test_the_rules_follow_the_configured_retention_and_lock_with_the_unlock_delay(
    member_regional_for: Callable[..., Template],
) -> None:
    template = member_regional_for(
        capabilities={
            "ebs_cleanup": {
                "recycle_bin_rules": {
                    "snapshot_retention_days": 90,
                    "volume_retention_days": 3,
                    "unlock_delay_days": 14,
                }
            }
        }
    )

    snapshots = rule(template, "EBS_SNAPSHOT")
    volumes = rule(template, "EBS_VOLUME")
    assert snapshots["RetentionPeriod"]["RetentionPeriodValue"] == 90
    assert volumes["RetentionPeriod"]["RetentionPeriodValue"] == 3
    # CloudFormation's LockConfiguration is the UnlockDelay itself (the API nests it one level deeper)
    for properties in (snapshots, volumes):
        assert properties["LockConfiguration"] == {"UnlockDelayValue": 14, "UnlockDelayUnit": "DAYS"}


def test_nothing_is_named_so_one_instance_per_region_never_collides(member_regional_template: Template) -> None:
    template = member_regional_template.to_json()

    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        named = {key for key in properties if key.endswith("Name")}
        if resource["Type"] == "AWS::Events::Rule":  # a rule's name is its region's own
            named -= {"Name"}
        if resource["Type"] == "AWS::IAM::Role" and {"Ref": "AWS::Region"} in properties["RoleName"]["Fn::Join"][1]:
            named -= {"RoleName"}  # IAM is global: the region is in the name
        assert not named, (logical_id, named)
    # the rules carry a description saying what they keep, and for how long
    member_regional_template.has_resource_properties(
        RULE, {"ResourceType": "EBS_SNAPSHOT", "Description": Match.string_like_regexp("30 days")}
    )


def test_the_rules_exist_whether_or_not_the_clean_up_acts(member_regional_for: Callable[..., Template]) -> None:
    for mode in ("report", "enforce"):
        for paused in (True, False):
            template = member_regional_for(capabilities={"ebs_cleanup": {"mode": mode, "paused": paused}})
            assert len(resources(template, RULE)) == 2, (mode, paused)


def test_the_template_deploys_by_stackset_without_cdk_bootstrap_assets_or_parameters(
    member_regional_template: Template,
) -> None:
    template = member_regional_template.to_json()

    assert "Parameters" not in template  # no BootstrapVersion parameter, nothing for the operator to pass
    assert "Rules" not in template  # no CheckBootstrapVersion rule
    # the Recycle Bin rules, and the CloudTrail forwarding to the auto-tagger (test_cloudtrail_forwarding.py)
    assert {r["Type"] for r in template["Resources"].values()} <= {
        RULE,
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::CDK::Metadata",
    }
