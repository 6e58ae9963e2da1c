"""FinOpsMember: a StackSet-ready role that only the hub's functions can assume, read-only for now."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig
from stacks.constructs.member_role import READ_ONLY_ACTIONS
from tests.stacks.template_helpers import flatten, only, statements

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


def test_its_permissions_only_read(member_template: Template) -> None:
    _, role = only(member_template, "AWS::IAM::Role")

    (policy,) = role["Properties"]["Policies"]
    (statement,) = [flatten(s) for s in policy["PolicyDocument"]["Statement"]]

    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(READ_ONLY_ACTIONS)
    assert set(statement["Action"]) == {"ec2:Describe*", "rds:Describe*", "autoscaling:Describe*", "tag:GetResources"}
    assert not member_template.find_resources("AWS::IAM::Policy")
    assert not member_template.find_resources("AWS::IAM::ManagedPolicy")


def test_the_template_deploys_by_stackset_without_cdk_bootstrap_or_assets(member_template: Template) -> None:
    template = member_template.to_json()

    assert "Parameters" not in template  # no BootstrapVersion parameter
    assert "Rules" not in template  # no CheckBootstrapVersion rule
    assert {r["Type"] for r in template["Resources"].values()} <= {"AWS::IAM::Role", "AWS::CDK::Metadata"}
