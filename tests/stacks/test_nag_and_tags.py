"""cdk-nag AwsSolutions: nothing unacknowledged; each acknowledgment one finding on one resource, with a reason.
Tags: every resource we tag passes the taxonomy the config ships as tag policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from finops.models.config import FinOpsConfig, tag_rule_problem
from stacks.app_stacks import FinOpsStacks, create_stacks

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)


def findings(app: App) -> list[tuple[str, str, str]]:
    """(rule, severity, resource path) for every AwsSolutions violation, errors and warnings alike."""
    report = AwsSolutionsChecks(verbose=True).validate_scope(app)
    return sorted(
        (violation.rule_name, violation.severity, resource.construct_path)
        for violation in report.violations
        for resource in violation.violating_resources
    )


def test_no_unacknowledged_aws_solutions_error_or_warning(app_and_stacks: tuple[App, FinOpsStacks]) -> None:
    app, _ = app_and_stacks

    assert findings(app) == []


def test_no_stack_carries_a_cdk_warning_or_error(stacks: FinOpsStacks) -> None:
    # cdk-nag v3 reports through policy validation above, not annotations; these are aws-cdk-lib's own
    for stack in (stacks.management, stacks.member, stacks.member_regional, stacks.hub):
        annotations = Annotations.from_stack(stack)
        assert annotations.find_error("*", Match.any_value()) == []
        assert annotations.find_warning("*", Match.any_value()) == []


class _Recorded:
    def __init__(self, scope: IConstruct, log: list[tuple[IConstruct, str, str]]) -> None:
        self.scope, self.log = scope, log

    def acknowledge(self, *rules: aws_cdk.Acknowledgment) -> None:
        self.log.extend((self.scope, rule.id, rule.reason) for rule in rules)


@pytest.fixture
def unacknowledged(
    config: FinOpsConfig, layer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[App, list[tuple[IConstruct, str, str]]]:
    """The same app built with every acknowledgment recorded instead of applied."""
    log: list[tuple[IConstruct, str, str]] = []
    monkeypatch.setattr(aws_cdk.Validations, "of", staticmethod(lambda scope: _Recorded(scope, log)))
    app = App(outdir=str(tmp_path / "cdk.out"))
    create_stacks(app, config, layer_dir=layer_dir)
    monkeypatch.undo()
    return app, log


def test_every_acknowledgment_answers_exactly_one_real_finding_on_one_resource(
    unacknowledged: tuple[App, list[tuple[IConstruct, str, str]]],
) -> None:
    app, acknowledgments = unacknowledged
    raw = findings(app)
    assert acknowledgments, "expected the acknowledgments this app documents"

    covered = set()
    for scope, rule, reason in acknowledgments:
        assert not isinstance(scope, (App, Stack)), f"{rule} is acknowledged for a whole {scope.node.path}"
        assert rule.startswith("AwsSolutions-"), rule
        assert len(reason) >= 60, f"{rule} on {scope.node.path}: say why ({reason!r})"
        prefix = scope.node.path + "/"
        hits = [f for f in raw if f[0] == rule and (f[2] == scope.node.path or f[2].startswith(prefix))]
        assert len(hits) == 1, f"{rule} on {scope.node.path} answers {len(hits)} findings: {hits}"
        covered.update(hits)

    assert covered == set(raw), "every finding is acknowledged (the test above shows none is left)"


def tagged_resources(templates: list[Template]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for template in templates:
        for logical_id, resource in template.to_json()["Resources"].items():
            properties: dict[str, Any] = resource.get("Properties", {})
            tags = properties.get("Tags", properties.get("ResourceTags"))
            if isinstance(tags, list):
                yield resource["Type"], logical_id, {t["Key"]: t["Value"] for t in tags}


def test_every_tagged_resource_passes_the_shipped_taxonomy(
    hub_template: Template,
    management_template: Template,
    member_template: Template,
    member_regional_template: Template,
    config: FinOpsConfig,
) -> None:
    tagged = list(tagged_resources([hub_template, management_template, member_template, member_regional_template]))
    types = {resource_type for resource_type, _, _ in tagged}

    # the resources a tag policy would look at are all tagged...
    assert {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::CE::AnomalyMonitor",
        "AWS::CE::AnomalySubscription",
        "AWS::Organizations::ResourcePolicy",
        "AWS::StepFunctions::StateMachine",
        "AWS::S3::Bucket",
        "AWS::Rbin::Rule",
    } <= types
    # ...and every tag a required taxonomy key asks for is there, with a value its rule accepts
    for resource_type, logical_id, tags in tagged:
        for rule in config.taxonomy.tags:
            value = tags.get(rule.key)
            if rule.required:
                assert value is not None, f"{resource_type} {logical_id} lacks {rule.key}"
            if value is not None:
                assert tag_rule_problem(rule, value) is None, (resource_type, logical_id, rule.key, value)
