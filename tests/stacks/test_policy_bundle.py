"""FinOpsManagement deploys the policy bundle: one AWS::Organizations::Policy per generated document, attached to
exactly policies.target_ous with policies.attach, to nothing without it; tagged like every resource; cdk-nag and
cfn-lint clean.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from finops.models.config import ConfigError, FinOpsConfig
from stacks.app_stacks import create_organization_stacks
from stacks.policies import PolicyLimitError, build_bundle
from stacks.tagging import tag_own_resources
from tests.stacks.template_helpers import config_with, resources

TEST_OU = "ou-ab12-cd34ef56"
PROD_OU = "ou-ab12-99887766"
ROOT_ID = "r-ab12"


def policies_of(template: Template) -> dict[str, dict[str, Any]]:
    """Policy name -> properties."""
    return {
        r["Properties"]["Name"]: r["Properties"] for r in resources(template, "AWS::Organizations::Policy").values()
    }


def test_every_generated_policy_is_deployed_as_it_is_reviewed_and_attached_nowhere_by_default(
    management_for: Callable[..., Template], config: FinOpsConfig
) -> None:
    deployed = policies_of(management_for())
    bundle = build_bundle(config)

    assert sorted(deployed) == sorted(p.name for p in bundle.policies)
    for policy in bundle.policies:
        props = deployed[policy.name]
        assert props["Type"] == policy.type.value
        assert props["Content"] == policy.document  # the document the reviewer read, as an object (drift detection)
        assert props["Description"] == policy.description
        assert "TargetIds" not in props  # policies.attach is false in the shipped config


def test_with_attach_the_policies_go_to_exactly_the_target_ous(management_for: Callable[..., Template]) -> None:
    deployed = policies_of(management_for(policies={"attach": True, "target_ous": [TEST_OU, PROD_OU]}))

    assert deployed
    for name, props in deployed.items():
        assert sorted(props["TargetIds"]) == sorted([TEST_OU, PROD_OU]), name


def test_the_root_is_a_target_only_with_allow_root(
    management_for: Callable[..., Template], config: FinOpsConfig
) -> None:
    with pytest.raises(ConfigError, match=r"policies: .*names the root r-ab12.*allow_root"):
        config_with(config, policies={"attach": True, "target_ous": [ROOT_ID]})

    deployed = policies_of(management_for(policies={"attach": True, "target_ous": [ROOT_ID], "allow_root": True}))

    assert {tuple(props["TargetIds"]) for props in deployed.values()} == {(ROOT_ID,)}


def test_the_stack_stops_with_the_limit_and_the_fix_when_the_bundle_does_not_fit(
    management_for: Callable[..., Template],
) -> None:
    many = [{"key": f"cost-allocation-dimension-{i:02d}"} for i in range(12)]
    with pytest.raises(PolicyLimitError, match=r"policies\.max_scp_slots: .* need \d+ SCPs .* allows 1 per target"):
        management_for(
            taxonomy={"tags": many},
            own_tags={f"cost-allocation-dimension-{i:02d}": "x" for i in range(12)},
            policies={"max_scp_slots": 1},
        )


@pytest.fixture(scope="module")
def attached(config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[App, Path]:
    """The management stack alone with the policies attached, tagged as create_stacks tags it, synthesized."""
    variant = config_with(
        config,
        policies={
            "attach": True,
            "target_ous": [TEST_OU],
            "enforced_for": ["ec2:instance", "ec2:volume"],
            "exempt_roles": ["arn:aws:iam::*:role/service-role/AWSBackupDefaultServiceRole"],
            "admin_roles": ["arn:aws:iam::222222222222:role/FinOpsAdmin"],
        },
    )
    outdir = tmp_path_factory.mktemp("policies-cdk.out")
    app = App(outdir=str(outdir))
    create_organization_stacks(app, variant)
    tag_own_resources(app, variant)
    app.synth()
    return app, outdir


def test_the_policies_carry_our_own_tags(attached: tuple[App, Path], config: FinOpsConfig) -> None:
    _, outdir = attached
    template = json.loads((outdir / "FinOpsManagement.template.json").read_text())
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::Organizations::Policy"]

    assert policies
    for policy in policies:
        assert {t["Key"]: t["Value"] for t in policy["Properties"]["Tags"]} == config.own_tags


@pytest.mark.slow
def test_attached_the_stack_is_cdk_nag_and_cfn_lint_clean(attached: tuple[App, Path]) -> None:
    app, outdir = attached
    report = AwsSolutionsChecks(verbose=True).validate_scope(app)
    path = outdir / "FinOpsManagement.template.json"
    body = json.loads(path.read_text())["Resources"]
    lint = [
        f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}"
        for m in lint_file(path, config=ManualArgs(regions=["us-east-1"]))
        if body.get(m.path[1] if len(m.path) > 1 else "", {}).get("Type") == "AWS::Organizations::Policy"
        or len(m.path) <= 1
    ]

    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []
    assert lint == []
