"""No role this app deploys may be granted a wildcard action: in every synthesized template (the shipped config's
stacks, the variant with the management account included and a delegated StackSets administrator, and the member
templates inside the StackSets), every Allow statement of every role's inline policies, every ``AWS::IAM::Policy`` and
every ``AWS::IAM::ManagedPolicy`` names its actions one by one.

Stricter than "no ``ec2:*`` on a mutating service": a ``*`` anywhere in an allowed action (``*``, ``ec2:*``,
``ec2:Create*``, even ``ec2:Describe*``, which would include the user-data reads the member role leaves out) fails, as
does an Allow with ``NotAction``, and a role with a managed policy attached that the template does not define (an AWS
managed policy's actions cannot be read here). A justified exception goes into ``JUSTIFIED`` with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from finops.models.config import FinOpsConfig
from stacks.app_stacks import FinOpsStacks, create_organization_stacks
from stacks.tagging import tag_own_resources
from tests.stacks.template_helpers import as_list, config_with

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

# (template, action) -> why the wildcard is needed. None is today.
JUSTIFIED: dict[tuple[str, str], str] = {}
VARIANT = {
    "include_management_account": True,
    "organization_id": "o-a1b2c3d4e5",
    "stacksets": {"administrator": "delegated", "delegated_admin_account_id": "444444444444"},
}


@pytest.fixture(scope="module")
def templates(
    app_and_stacks: tuple[App, FinOpsStacks], config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Template name -> template: every one the shipped config and the variant synthesize, and each StackSet's body."""
    app, _ = app_and_stacks
    found = {path.name: json.loads(path.read_text()) for path in Path(app.synth().directory).glob("*.template.json")}
    variant_app = App(outdir=str(tmp_path_factory.mktemp("wildcards-variant")))
    variant = config_with(config, organization=VARIANT)
    create_organization_stacks(variant_app, variant)
    tag_own_resources(variant_app, variant)
    for path in Path(variant_app.synth().directory).glob("*.template.json"):
        found.setdefault(path.name, json.loads(path.read_text()))
    for name, template in list(found.items()):
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::CloudFormation::StackSet":
                body = json.loads(resource["Properties"]["TemplateBody"])
                found[f"{name} > {resource['Properties']['StackSetName']}"] = body
    return found


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, policy document) for every policy a role of ``template`` gets, inline or attached."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield f"{logical_id} ({policy['PolicyName']})", policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, properties["PolicyDocument"]


def attached_elsewhere(template: dict[str, Any]) -> Iterator[str]:
    """Managed policies attached to a role that the template does not define (a Ref to its own policy is fine)."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                if not (isinstance(arn, dict) and set(arn) == {"Ref"}):
                    yield f"{logical_id}: {json.dumps(arn)}"


def test_no_role_is_allowed_a_wildcard_action(templates: dict[str, dict[str, Any]]) -> None:
    found = []
    for name, template in sorted(templates.items()):
        for what, document in policy_documents(template):
            for statement in as_list(document["Statement"]):
                if statement["Effect"] != "Allow":
                    continue
                if "NotAction" in statement:
                    found.append(f"{name}: {what} allows everything but {statement['NotAction']}")
                for action in as_list(statement.get("Action", [])):
                    if "*" in action and (name, action) not in JUSTIFIED:
                        found.append(f"{name}: {what} allows {action}")

    assert found == [], "name each action the code needs instead:\n" + "\n".join(found)


def test_no_role_gets_a_managed_policy_this_test_cannot_read(templates: dict[str, dict[str, Any]]) -> None:
    found = [
        f"{name}: {where}" for name, template in sorted(templates.items()) for where in attached_elsewhere(template)
    ]

    assert found == []


def test_the_scan_covers_every_stack_and_the_roles_that_act(
    templates: dict[str, dict[str, Any]], config: FinOpsConfig
) -> None:
    # every stack of both configs, and what the StackSets deploy
    assert {
        "FinOpsHub.template.json",
        "FinOpsManagement.template.json",
        "FinOpsMember.template.json",
        "FinOpsMemberRegional.template.json",
        "FinOpsStackSets.template.json",
        "FinOpsManagementRegional-eu-west-1.template.json",
        "FinOpsManagementRegional-us-east-1.template.json",
        "FinOpsManagement.template.json > finops-member",
        "FinOpsManagement.template.json > finops-member-regional",
        "FinOpsStackSets.template.json > finops-member",
    } <= set(templates)
    allowed = {
        action
        for template in templates.values()
        for _, document in policy_documents(template)
        for statement in as_list(document["Statement"])
        if statement["Effect"] == "Allow"
        for action in as_list(statement.get("Action", []))
    }
    # the member role's mutations, the hub's own, the forwarding role's: the scan reads the policies that act
    assert {"ec2:StopInstances", "ec2:DeleteVolume", "ec2:CreateTags", "events:PutEvents", "sts:AssumeRole"} <= allowed
    assert not JUSTIFIED or set(JUSTIFIED) <= {(n, a) for n in templates for a in allowed}, "a stale exception"
