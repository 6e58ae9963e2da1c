"""Tag compliance in the synthesized stacks: the hub runs it daily at ``tag_compliance.run_at`` on its own state
machine, or not at all when ``enabled: false``; the member role lets it remove its own mark and nothing else, on EC2
and RDS, and never write or remove the protect tag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, BootstraplessSynthesizer, Environment
from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig
from finops.services.tag_compliance import MEMBER_PERMISSIONS
from stacks.hub_stack import FinOpsHubStack, run_schedule, worker_timeout
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import ALERTS_REGION
from tests.stacks.template_helpers import config_with
from tools.build_layer import ROOT, ensure_layer

pytestmark = pytest.mark.slow

MACHINE, WORKER = "finops-tag-compliance", "finops-tag-compliance-worker"


def hub(config: FinOpsConfig, tmp_path: Path) -> Template:
    app = App(outdir=str(tmp_path / "cdk.out"))
    env = Environment(account=config.organization.automation_account_id, region=ALERTS_REGION)
    layer = ensure_layer(ROOT / "build" / "layer")
    return Template.from_stack(FinOpsHubStack(app, "FinOpsHub", config=config, layer_dir=layer, env=env))


def named(template: Template, kind: str, key: str) -> dict[str, dict[str, Any]]:
    return {r["Properties"][key]: r for r in template.find_resources(kind).values() if key in r["Properties"]}


def test_it_runs_daily_at_run_at_with_the_scheduler_s_worker_timeout(config: FinOpsConfig) -> None:
    capabilities = config_with(config, capabilities={"tag_compliance": {"run_at": "04:30"}}).capabilities

    assert run_schedule("tag_compliance", capabilities).description == "Daily at 04:30 UTC"
    assert worker_timeout("tag_compliance", config.engine).to_seconds() == 600


def test_disabled_the_hub_has_no_worker_state_machine_or_schedule_for_it(config: FinOpsConfig, tmp_path: Path) -> None:
    off = hub(config_with(config, capabilities={"tag_compliance": {"enabled": False}}), tmp_path)

    assert MACHINE not in named(off, "AWS::Scheduler::Schedule", "Name")
    assert MACHINE not in named(off, "AWS::StepFunctions::StateMachine", "StateMachineName")
    assert WORKER not in named(off, "AWS::Lambda::Function", "FunctionName")
    # the other capabilities are as they were
    assert {"finops-scheduler", "finops-ebs-cleanup"} <= set(named(off, "AWS::Scheduler::Schedule", "Name"))
    assert {"finops-scheduler-worker", "finops-ebs-cleanup-worker"} <= set(
        named(off, "AWS::Lambda::Function", "FunctionName")
    )


def test_the_member_role_removes_only_the_marks_and_never_touches_the_protect_tag(config: FinOpsConfig) -> None:
    stack = FinOpsMemberStack(App(), "FinOpsMember", config=config, synthesizer=BootstraplessSynthesizer())
    [role] = Template.from_stack(stack).find_resources("AWS::IAM::Role").values()
    statements = {
        s.get("Sid"): s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]
    }
    trusted = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]

    assert f":role/{WORKER}" in json.dumps(trusted["aws:PrincipalArn"])
    allowed = {
        action
        for s in statements.values()
        if s["Effect"] == "Allow"
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert set(MEMBER_PERMISSIONS) <= allowed
    assert (
        "finops:tag-deadline"
        in statements["RemoveOnlyTheMarks"]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    )
    assert statements["RemoveOnlyTheMarksRds"] == {
        "Sid": "RemoveOnlyTheMarksRds",
        "Effect": "Allow",
        "Action": "rds:RemoveTagsFromResource",
        "Resource": "*",
        "Condition": {
            "ForAllValues:StringEquals": {"aws:TagKeys": ["finops:tag-deadline"]},
            "Null": {"aws:TagKeys": "false"},
        },
    }
    assert statements["NeverChangeTheProtectTagRds"] == {
        "Sid": "NeverChangeTheProtectTagRds",
        "Effect": "Deny",
        "Action": ["rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": ["finops:protect"]}},
    }
    # RemoveTagsFromResource is granted by its conditioned statement alone
    unconditioned = [s for s in statements.values() if s["Effect"] == "Allow" and "Condition" not in s]
    assert not any("rds:RemoveTagsFromResource" in str(s["Action"]) for s in unconditioned)
