"""Uninstall and reinstall: what a deleted stack keeps never has a name a reinstall would collide with, and a
reinstall can adopt the kept audit trail (docs/uninstall.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from finops.handlers import HANDLERS
from finops.models.config import FinOpsConfig
from stacks.naming import retained_name
from tests.stacks.template_helpers import as_list, flatten, only, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"
KEPT = {"Retain", "RetainExceptOnUpdate", "Snapshot"}


def physical_names(properties: dict[str, Any]) -> dict[str, Any]:
    """The properties that name a resource in its account: ``TableName``, ``LogGroupName``, ``AliasName``, ``Name``."""
    return {key: value for key, value in properties.items() if key == "Name" or key.endswith("Name")}


def refers_to_the_stack_id(value: Any) -> bool:
    if isinstance(value, dict):
        return value == {"Ref": "AWS::StackId"} or any(refers_to_the_stack_id(v) for v in value.values())
    if isinstance(value, list):
        return any(refers_to_the_stack_id(v) for v in value)
    return False


def kept_with_fixed_names(template: Template) -> Iterator[tuple[str, str, str, Any]]:
    """(type, logical id, property, value) of every resource kept on stack deletion (or replacement) whose name is
    the same in every install: a literal, or built only from the partition, region, account or stack name. Only
    the stack's id differs between two installs of the same stack."""
    for logical_id, resource in template.to_json()["Resources"].items():
        if not {resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")} & KEPT:
            continue
        for key, value in physical_names(resource.get("Properties", {})).items():
            if not refers_to_the_stack_id(value):
                yield resource["Type"], logical_id, key, flatten(value)


def kept(template: Template) -> set[str]:
    return {
        resource["Type"]
        for resource in template.to_json()["Resources"].values()
        if resource.get("DeletionPolicy") in KEPT
    }


def test_nothing_an_uninstall_keeps_has_a_name_a_reinstall_would_collide_with(
    hub_template: Template,
    management_template: Template,
    member_template: Template,
    member_regional_template: Template,
    management_for: Callable[..., Template],
) -> None:
    # Given every stack, and the management stack with the member role it deploys for the management account
    with_member_role = management_for(organization={"include_management_account": True})
    templates = [hub_template, management_template, member_template, member_regional_template, with_member_role]

    # Then nothing kept on deletion has a fixed name...
    assert [found for template in templates for found in kept_with_fixed_names(template)] == []
    # ...and that covers what is kept: the trail, the run state, the engine bucket, the logs, the topics' keys
    assert kept(hub_template) == {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::KMS::Key"}
    assert kept(management_template) == {"AWS::KMS::Key"}


def test_the_check_finds_a_kept_log_group_with_a_fixed_name() -> None:
    stack = Stack(App(), "Sample")
    logs.LogGroup(stack, "Fixed", log_group_name="/aws/lambda/finops-x", removal_policy=RemovalPolicy.RETAIN)
    logs.LogGroup(stack, "PerInstall", log_group_name=retained_name(stack, "/aws/lambda/finops-y"))
    logs.LogGroup(stack, "Deleted", log_group_name="/aws/lambda/finops-z", removal_policy=RemovalPolicy.DESTROY)

    found = list(kept_with_fixed_names(Template.from_stack(stack)))

    assert [(kind, key, value) for kind, _, key, value in found] == [
        ("AWS::Logs::LogGroup", "LogGroupName", "/aws/lambda/finops-x")
    ]


def test_the_topic_key_aliases_go_with_the_stack(management_template: Template, hub_template: Template) -> None:
    # the keys are kept (anything they encrypted stays readable); their fixed aliases are deleted, so a reinstall
    # creates them again
    aliases = [
        *resources(management_template, "AWS::KMS::Alias").values(),
        *resources(hub_template, "AWS::KMS::Alias").values(),
    ]

    assert sorted(a["Properties"]["AliasName"] for a in aliases) == [
        "alias/finops-alarms",
        "alias/finops-budget-alerts",
        "alias/finops-cost-anomalies",
    ]
    assert all(a.get("DeletionPolicy", "Delete") == "Delete" for a in aliases)


def test_the_member_role_keeps_its_fixed_name_and_goes_with_the_stack(
    member_template: Template, config: FinOpsConfig
) -> None:
    # the hub's workers assume it by name in every account, so its name is fixed; it is deleted with the stack
    _, role = only(member_template, "AWS::IAM::Role", {"RoleName": config.organization.member_role_name})

    assert role.get("DeletionPolicy", "Delete") == "Delete"
    assert role.get("UpdateReplacePolicy", "Delete") == "Delete"


def test_the_hubs_function_roles_that_the_member_role_trusts_by_name_go_with_the_stack(
    hub_template: Template,
) -> None:
    roles = resources(hub_template, "AWS::IAM::Role", {"RoleName": Match.string_like_regexp("^finops-")})

    assert len(roles) == len(HANDLERS)  # one role per function
    assert all(role.get("DeletionPolicy", "Delete") == "Delete" for role in roles.values())


def test_a_reinstall_adopts_the_kept_audit_trail_and_run_state_by_name(hub_for: Callable[..., Template]) -> None:
    # Given the tables an uninstall kept, named in the config
    template = hub_for(
        reinstall={"audit_table_name": "FinOpsHub-StateAudit72B3E683-1A2B3C", "state_table_name": "old-state"}
    )

    # Then the stack creates neither (only the idempotency table, which goes with the stack)...
    tables = resources(template, "AWS::DynamoDB::Table")
    assert [t["Properties"]["KeySchema"] for t in tables.values()] == [[{"AttributeName": "id", "KeyType": "HASH"}]]
    # ...every function writes the adopted trail and reads the adopted state...
    functions = resources(template, "AWS::Lambda::Function", {"FunctionName": Match.string_like_regexp("^finops-")})
    assert len(functions) == len(HANDLERS)
    for body in functions.values():
        variables = body["Properties"]["Environment"]["Variables"]
        assert variables["AUDIT_TABLE_NAME"] == "FinOpsHub-StateAudit72B3E683-1A2B3C"
        assert variables["STATE_TABLE_NAME"] == "old-state"
    # ...and may do there exactly what it could on a table of its own: append to the trail, nothing else
    audit_arn = f"arn:${{AWS::Partition}}:dynamodb:us-east-1:{HUB}:table/FinOpsHub-StateAudit72B3E683-1A2B3C"
    on_audit = {
        action
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in statements(policy)
        if audit_arn in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    assert on_audit == {"dynamodb:PutItem"}


def test_without_reinstall_keys_the_hub_creates_its_tables(hub_template: Template) -> None:
    tables = resources(hub_template, "AWS::DynamoDB::Table")

    assert len(tables) == 3
    assert all("TableName" not in t["Properties"] for t in tables.values())
