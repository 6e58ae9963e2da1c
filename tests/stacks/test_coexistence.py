"""Coexistence with what an Organization already has: its Cost Anomaly monitors and its one Organizations resource
policy (docs/coexistence.md).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig, parse_config
from stacks.app_stacks import create_organization_stacks
from tests.stacks.template_helpers import flatten, only, resources
from tools import org_policy

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

MANAGEMENT = "111111111111"
HUB = "222222222222"
THEIRS = f"arn:aws:ce::{MANAGEMENT}:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
ALSO_THEIRS = f"arn:aws:ce::{MANAGEMENT}:anomalymonitor/11111111-2222-3333-4444-555555555555"


def with_monitors(config: FinOpsConfig, monitors: dict[str, Any]) -> Template:
    """The management stack for ``config`` with ``capabilities.anomaly_alerts.monitors`` written as ``monitors``,
    exactly (the keys it leaves out take their defaults, as in a user's file)."""
    data = config.model_dump(mode="json")
    data["capabilities"]["anomaly_alerts"]["monitors"] = monitors
    variant = parse_config(data, source="test variant")
    return Template.from_stack(create_organization_stacks(App(), variant).management)


def test_existing_monitors_are_subscribed_and_none_of_ours_is_created(config: FinOpsConfig) -> None:
    # Given the management account's own services monitor (AWS allows one per dimension) and another of theirs
    template = with_monitors(config, {"existing_arns": [THEIRS, ALSO_THEIRS]})

    # Then no monitor is created, and the subscription watches exactly theirs, alerting to our topic
    assert resources(template, "AWS::CE::AnomalyMonitor") == {}
    topic_id, _ = only(template, "AWS::SNS::Topic", {"TopicName": "finops-cost-anomalies"})
    _, subscription = only(template, "AWS::CE::AnomalySubscription")
    assert subscription["Properties"]["MonitorArnList"] == [THEIRS, ALSO_THEIRS]
    assert subscription["Properties"]["Subscribers"] == [{"Type": "SNS", "Address": {"Ref": topic_id}}]


def test_an_existing_monitor_beside_one_of_ours_the_config_asks_for(config: FinOpsConfig) -> None:
    # Given their services monitor, and our linked-accounts monitor asked for explicitly
    template = with_monitors(config, {"existing_arns": [THEIRS], "linked_accounts": True})

    monitor_id, monitor = only(template, "AWS::CE::AnomalyMonitor")
    _, subscription = only(template, "AWS::CE::AnomalySubscription")

    # Then only that one is created, and the subscription watches both
    assert monitor["Properties"]["MonitorDimension"] == "LINKED_ACCOUNT"
    assert subscription["Properties"]["MonitorArnList"] == [{"Fn::GetAtt": [monitor_id, "MonitorArn"]}, THEIRS]


def test_with_the_resource_policy_left_to_the_user_none_is_created(management_for: Callable[..., Template]) -> None:
    template = management_for(organization={"manage_resource_policy": False})

    assert resources(template, "AWS::Organizations::ResourcePolicy") == {}
    # the alert topics are still there
    assert len(resources(template, "AWS::SNS::Topic")) == 2


def printed_statement(config_file: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = org_policy.main(["--config", str(config_file)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_make_org_resource_policy_prints_exactly_the_statement_the_stack_deploys(
    management_template: Template, config: FinOpsConfig, tmp_path: Path
) -> None:
    # Given the statement the management stack deploys when it owns the policy
    _, policy = only(management_template, "AWS::Organizations::ResourcePolicy")
    (deployed,) = flatten(policy["Properties"]["Content"]["Statement"])
    # and a config that leaves the policy to the user
    data = config.model_dump(mode="json")
    data["organization"]["manage_resource_policy"] = False
    config_file = tmp_path / "finops.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")

    # When the user asks for the statement to merge
    code, out, err = printed_statement(config_file)

    # Then stdout is that statement alone, in the aws partition, and stderr says how to merge it
    assert code == 0
    printed = json.loads(out)
    assert json.loads(json.dumps(deployed).replace("${AWS::Partition}", "aws")) == printed
    assert printed["Principal"] == {"AWS": HUB}
    assert printed["Condition"] == {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{HUB}:role/finops-*"}}
    assert "aws organizations put-resource-policy --content file://policy.json" in err
    assert "manage_resource_policy is true" not in err


def test_make_org_resource_policy_says_when_the_stack_owns_the_policy() -> None:
    code, _, err = printed_statement(Path(__file__).parents[2] / "finops.yaml")

    assert code == 0
    assert "organization.manage_resource_policy is true, so FinOpsManagement creates this policy itself" in err


def test_make_org_resource_policy_names_a_bad_config_key(config: FinOpsConfig, tmp_path: Path) -> None:
    data = config.model_dump(mode="json")
    data["organization"]["manage_resource_policy"] = "sometimes"
    config_file = tmp_path / "finops.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")

    code, out, err = printed_statement(config_file)

    assert (code, out) == (2, "")
    assert "organization.manage_resource_policy:" in err
