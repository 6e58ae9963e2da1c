"""FinOpsMember: a StackSet-ready role that only the hub's functions can assume, read-only for now."""

from __future__ import annotations

import fnmatch

import pytest
from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig
from stacks.constructs.member_role import READ_ONLY_ACTIONS
from tests.stacks.template_helpers import as_list, flatten, only, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"


def test_the_role_carries_the_configured_name(member_template: Template, config: FinOpsConfig) -> None:
    member_template.has_resource_properties("AWS::IAM::Role", {"RoleName": config.organization.member_role_name})


def test_only_roles_named_finops_star_in_the_hub_account_may_assume_it(member_template: Template) -> None:
    _, role = only(member_template, "AWS::IAM::Role")

    (trust,) = statements(role, "AssumeRolePolicyDocument")

    assert trust == {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:${{AWS::Partition}}:iam::{HUB}:root"},
        "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-*"}},
    }


def member_actions(member_template: Template) -> list[str]:
    _, role = only(member_template, "AWS::IAM::Role")
    (policy,) = role["Properties"]["Policies"]
    (statement,) = [flatten(s) for s in policy["PolicyDocument"]["Statement"]]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "*"
    return list(as_list(statement["Action"]))


def test_its_permissions_are_the_named_inventory_reads(member_template: Template) -> None:
    actions = member_actions(member_template)

    assert sorted(actions) == sorted(READ_ONLY_ACTIONS)
    assert set(actions) == {
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        "ec2:DescribeTags",
        "ec2:DescribeRegions",
        "rds:DescribeDBInstances",
        "rds:ListTagsForResource",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeTags",
        "tag:GetResources",
    }
    assert not member_template.find_resources("AWS::IAM::Policy")
    assert not member_template.find_resources("AWS::IAM::ManagedPolicy")


# Reads that return instance user data or the Windows administrator password: where secrets end up.
SECRET_READS = ("ec2:DescribeInstanceAttribute", "ec2:DescribeLaunchTemplateVersions", "ec2:GetPasswordData")


def test_no_wildcard_action_and_no_read_that_exposes_user_data_or_passwords(member_template: Template) -> None:
    actions = member_actions(member_template)

    assert [action for action in actions if "*" in action] == []
    # matched as IAM matches (case-insensitive, wildcards expanded), so a wildcard added back would be caught too
    assert [
        (action, secret)
        for action in actions
        for secret in SECRET_READS
        if fnmatch.fnmatchcase(secret.lower(), action.lower())
    ] == []


def test_the_template_deploys_by_stackset_without_cdk_bootstrap_or_assets(member_template: Template) -> None:
    template = member_template.to_json()

    assert "Parameters" not in template  # no BootstrapVersion parameter
    assert "Rules" not in template  # no CheckBootstrapVersion rule
    assert {r["Type"] for r in template["Resources"].values()} <= {"AWS::IAM::Role", "AWS::CDK::Metadata"}
