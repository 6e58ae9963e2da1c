"""The cost reader: the management account's role through which the hub reads the Organization's spend by team.

Who may assume it (only the hub function that reads the spend, of this Organization), what it may do (the two Cost
Explorer reads the code calls, nothing else), and the one grant in the hub that lets that function assume it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from finops.services.tag_spend import COST_READER_PERMISSIONS, COST_READER_ROLE_NAME, SPEND_READER_ROLE_NAME
from stacks.constructs.cost_reader_role import CostReaderRole
from stacks.naming import COST_READER_FUNCTION, resource_name
from tests.stacks.template_helpers import as_list, flatten, only, resources, statements

pytestmark = pytest.mark.slow  # synthesizes stacks

MANAGEMENT, HUB = "111111111111", "222222222222"
ROLE_ARN = f"arn:${{AWS::Partition}}:iam::{MANAGEMENT}:role/finops-cost-reader"
DISABLED = {"capabilities": {"tag_compliance": {"enabled": False}}}


def cost_reader(template: Template) -> dict[str, Any]:
    _, role = only(template, "AWS::IAM::Role", {"RoleName": "finops-cost-reader"})
    return role


def test_only_the_hubs_aggregate_may_assume_it(management_template: Template) -> None:
    (trust,) = statements(cost_reader(management_template), "AssumeRolePolicyDocument")

    assert trust == {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:${{AWS::Partition}}:iam::{HUB}:root"},
        "Condition": {
            "ArnEquals": {"aws:PrincipalArn": f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-engine-aggregate"}
        },
    }


def test_with_the_organization_id_known_the_trust_requires_it(management_for: Callable[..., Template]) -> None:
    template = management_for(organization={"organization_id": "o-a1b2c3d4e5"})

    (trust,) = statements(cost_reader(template), "AssumeRolePolicyDocument")

    assert trust["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}
    assert trust["Condition"]["ArnEquals"] == {
        "aws:PrincipalArn": f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-engine-aggregate"
    }


def test_it_may_read_cost_explorer_and_nothing_else(management_template: Template) -> None:
    role = cost_reader(management_template)

    (policy,) = role["Properties"]["Policies"]
    (statement,) = as_list(flatten(policy["PolicyDocument"]["Statement"]))

    assert sorted(as_list(statement["Action"])) == ["ce:GetCostAndUsage", "ce:ListCostAllocationTags"]
    assert sorted(as_list(statement["Action"])) == sorted(COST_READER_PERMISSIONS)  # what tag_spend calls
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "*"
    assert role["Properties"]["MaxSessionDuration"] == 3600
    assert "ManagedPolicyArns" not in role["Properties"]


def test_without_tag_compliance_there_is_no_cost_reader(management_for: Callable[..., Template]) -> None:
    template = management_for(**DISABLED)

    assert resources(template, "AWS::IAM::Role", {"RoleName": "finops-cost-reader"}) == {}


def test_a_write_action_stops_the_synth() -> None:
    stack = Stack(App(), "Management")

    with pytest.raises(ValueError, match=r"reads Cost Explorer only .* not \['ce:UpdateCostAllocationTagsStatus'\]"):
        CostReaderRole(
            stack,
            "CostReader",
            role_name=COST_READER_ROLE_NAME,
            hub_account_id=HUB,
            hub_role_name="finops-engine-aggregate",
            organization_id=None,
            actions=("ce:GetCostAndUsage", "ce:UpdateCostAllocationTagsStatus"),
        )


def test_the_names_the_lambda_uses_are_the_stacks() -> None:
    """The code assumes the role by name and tells the hub's aggregate from other callers by its role name."""
    assert resource_name(COST_READER_FUNCTION) == SPEND_READER_ROLE_NAME == "finops-engine-aggregate"
    assert COST_READER_ROLE_NAME == "finops-cost-reader"


# --- the hub's grant ----------------------------------------------------------------------------------------------


def assume_role_grants(template: Template) -> dict[str, list[Any]]:
    """Role logical id -> the resources it may sts:AssumeRole, over every policy attached to it."""
    found: dict[str, list[Any]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in statements(policy):
            if "sts:AssumeRole" in as_list(statement["Action"]) and statement["Effect"] == "Allow":
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).extend(as_list(statement["Resource"]))
    return found


@pytest.mark.slow  # synthesizes the hub twice, with its assets
def test_the_hub_lets_only_the_aggregate_assume_exactly_the_cost_reader(hub_for: Callable[..., Template]) -> None:
    enabled, disabled = hub_for(), hub_for(**DISABLED)

    aggregate_id, _ = only(enabled, "AWS::IAM::Role", {"RoleName": "finops-engine-aggregate"})
    grants = assume_role_grants(enabled)
    assert grants[aggregate_id] == [ROLE_ARN]
    assert [role for role, arns in grants.items() if ROLE_ARN in arns] == [aggregate_id]
    disabled_id, _ = only(disabled, "AWS::IAM::Role", {"RoleName": "finops-engine-aggregate"})
    assert disabled_id not in assume_role_grants(disabled)
