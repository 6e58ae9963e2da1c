"""checkov, the IaC scanner security reviewers run, on every template the app synthesizes (and on the management
stack's variant with the heartbeat and the member role on): nothing it fails is left unacknowledged, and every
acknowledgment names one check, says why, and answers a finding checkov makes on that very resource without it.

checkov runs from its own virtualenv, build/checkov, which `make checkov` (and so `make test`) builds from the fully
pinned requirements-checkov.txt: checkov pins boto3, botocore and packaging versions older than ours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.app_stacks import FinOpsStacks, create_organization_stacks
from stacks.constructs.lambda_function import FinOpsFunction, secret_like_variables
from stacks.nag import CHECKOV_CHECK_ID, MIN_CHECKOV_REASON, acknowledge_checkov
from stacks.tagging import tag_own_resources
from tests.stacks.template_helpers import config_with
from tools.build_layer import ROOT

CHECKOV = ROOT / "build" / "checkov" / "bin" / "checkov"
# The variant no other template covers: the management stack with every optional resource checkov has checks for,
# the management account's regional stacks, and the StackSets' stack of a delegated administrator.
MANAGEMENT_VARIANT = {
    "notifications": {"heartbeat": {"enabled": True, "channel": "#ops-heartbeat"}},
    "organization": {
        "include_management_account": True,
        "stacksets": {"administrator": "delegated", "delegated_admin_account_id": "444444444444"},
    },
}

# ---- the helper: one check, one resource, a reason ----------------------------------------------------------------


def _stack() -> Stack:
    return Stack(App(), "Test")


def _metadata(resource: Any) -> Any:
    return Stack.of(resource).resolve(resource.get_metadata("checkov"))


def test_an_acknowledgment_goes_in_the_resources_checkov_metadata_one_entry_per_check() -> None:
    topic = sns.Topic(_stack(), "Topic")

    acknowledge_checkov(topic, "CKV_AWS_26", "A reason long enough to say why this check does not fit here.")
    acknowledge_checkov(topic, "CKV2_AWS_5", "Another reason, for another check, on the very same resource.")

    assert _metadata(topic.node.default_child) == {
        "skip": [
            {"id": "CKV_AWS_26", "comment": "A reason long enough to say why this check does not fit here."},
            {"id": "CKV2_AWS_5", "comment": "Another reason, for another check, on the very same resource."},
        ]
    }


@pytest.mark.parametrize(
    ("check_id", "reason", "error"),
    [
        ("AwsSolutions-SQS3", "x" * MIN_CHECKOV_REASON, "is not a checkov check id"),
        ("CKV_AWS_26,CKV_AWS_27", "x" * MIN_CHECKOV_REASON, "is not a checkov check id"),
        ("CKV_AWS_26", "because", f"say why in at least {MIN_CHECKOV_REASON} characters"),
        ("CKV_AWS_26", " " * 50, f"say why in at least {MIN_CHECKOV_REASON} characters"),
    ],
)
def test_an_acknowledgment_without_one_check_id_or_a_reason_stops_the_synth(
    check_id: str, reason: str, error: str
) -> None:
    topic = sns.Topic(_stack(), "Topic")

    with pytest.raises(ValueError, match=error):
        acknowledge_checkov(topic, check_id, reason)
    assert topic.node.default_child.get_metadata("checkov") is None  # type: ignore[union-attr]


def test_the_same_check_acknowledged_twice_on_one_resource_stops_the_synth() -> None:
    topic = sns.Topic(_stack(), "Topic")
    acknowledge_checkov(topic, "CKV_AWS_26", "A reason long enough to say why this check does not fit here.")

    with pytest.raises(ValueError, match="CKV_AWS_26 is already acknowledged on Test/Topic/Resource"):
        acknowledge_checkov(topic, "CKV_AWS_26", "The same check again, with a different but long reason.")


def test_an_acknowledgment_needs_a_construct_with_one_cloudformation_resource() -> None:
    group = Construct(_stack(), "Group")

    with pytest.raises(TypeError, match="Test/Group has no one CloudFormation resource"):
        acknowledge_checkov(group, "CKV_AWS_26", "A reason long enough to say why this check does not fit here.")


@pytest.mark.parametrize(
    ("environment", "refused"),
    [
        ({"AUDIT_TABLE_NAME": "t", "SLACK_RETRY_QUEUE_URL": "https://sqs"}, []),
        ({"SLACK_SECRET_NAME": "finops/slack", "SIGNING_SECRET_ARN": "arn:aws:secretsmanager:..."}, []),
        ({"SLACK_TOKEN": "xoxb-1", "AUDIT_TABLE_NAME": "t"}, ["SLACK_TOKEN"]),
        (
            {"slack_webhook_url": "https://hooks", "DB_PASSWORD": "p", "SECRET": "s"},
            ["DB_PASSWORD", "SECRET", "slack_webhook_url"],
        ),
    ],
)
def test_which_environment_variables_are_named_like_secrets(environment: dict[str, str], refused: list[str]) -> None:
    assert secret_like_variables(environment) == refused


def test_a_function_whose_environment_would_hold_a_secret_stops_the_synth() -> None:
    # CKV_AWS_173 is acknowledged on every function because its environment holds no secret: this keeps it so.
    stack = _stack()

    with pytest.raises(ValueError, match=r"finops-slack-redrive: the environment variables \['SLACK_BOT_TOKEN'\]"):
        FinOpsFunction(
            stack,
            "Redrive",
            name="slack_redrive",
            description="d",
            environment={"SLACK_BOT_TOKEN": "xoxb-1"},
            layers=[],
            alarm_topic=sns.Topic(stack, "Alarms"),
        )


# ---- checkov on the synthesized templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    template: str  # the template's file name
    check_id: str
    check_name: str
    resource: str  # Type.LogicalId, as checkov names it
    guideline: str | None

    def __str__(self) -> str:
        guideline = self.guideline or "no guideline offline (checkov runs with --skip-download)"
        return f"{self.template}: {self.check_id} on {self.resource}: {self.check_name} ({guideline})"


@dataclass(frozen=True)
class Scan:
    templates: dict[str, dict[str, Any]]  # file name -> template, with the acknowledgments
    failed: list[Finding]  # what checkov fails in those templates
    skipped: list[Finding]  # what it skipped there, by their acknowledgments
    failed_without_skips: list[Finding]  # what it fails in the same templates with every acknowledgment stripped
    resource_count: int
    parsing_errors: int


def _checkov_missing_message() -> str:
    return (
        f"{CHECKOV.relative_to(ROOT)} is missing: build checkov's own virtualenv with `make checkov` (`make test` "
        "builds it too) from requirements-checkov.txt"
    )


def _strip_acknowledgments(template: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = json.loads(json.dumps(template))
    for resource in stripped.get("Resources", {}).values():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict) and "checkov" in metadata:
            del metadata["checkov"]
            if not metadata:
                del resource["Metadata"]
    return stripped


def _findings(report: dict[str, Any], kind: str, folder: str) -> list[Finding]:
    return [
        Finding(
            template=Path(check["file_path"]).name,
            check_id=check["check_id"],
            check_name=check["check_name"],
            resource=check["resource"],
            guideline=check.get("guideline"),
        )
        for check in report["results"][kind]
        if Path(check["file_path"]).parent.name == folder
    ]


def _run_checkov(root: Path) -> dict[str, Any]:
    # Our PYTHONPATH (lambdas, the repo) must not reach checkov's interpreter; --skip-download: offline, no platform.
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "-d", str(root), "-o", "json", "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=root,
        check=False,
        timeout=300,
    )
    assert result.returncode in (0, 1), f"checkov exited {result.returncode}: {result.stderr[-3000:]}"
    output = json.loads(result.stdout)
    reports = output if isinstance(output, list) else [output]
    [report] = [r for r in reports if r.get("check_type") == "cloudformation"]
    assert isinstance(report, dict)
    return report


@pytest.fixture(scope="module")
def scan(
    app_and_stacks: tuple[App, FinOpsStacks], config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory
) -> Scan:
    if not CHECKOV.exists():
        pytest.fail(_checkov_missing_message())
    app, _ = app_and_stacks
    templates = {
        path.name: json.loads(path.read_text()) for path in Path(app.synth().directory).glob("*.template.json")
    }

    variant_app = App(outdir=str(tmp_path_factory.mktemp("checkov-variant")))
    variant = config_with(config, **MANAGEMENT_VARIANT)
    create_organization_stacks(variant_app, variant)
    tag_own_resources(variant_app, variant)
    for path in Path(variant_app.synth().directory).glob("*.template.json"):
        template = json.loads(path.read_text())
        if templates.get(path.name) != template:  # the member templates are the shipped ones
            templates[path.name.replace(".template.json", "-variant.template.json")] = template

    # One checkov run over both copies: the templates as shipped, and the same with every acknowledgment stripped.
    root = tmp_path_factory.mktemp("checkov")
    for folder in ("acknowledged", "stripped"):
        (root / folder).mkdir()
    for name, template in templates.items():
        (root / "acknowledged" / name).write_text(json.dumps(template, indent=1))
        (root / "stripped" / name).write_text(json.dumps(_strip_acknowledgments(template), indent=1))
    report = _run_checkov(root)
    shutil.rmtree(root)
    return Scan(
        templates=templates,
        failed=_findings(report, "failed_checks", "acknowledged"),
        skipped=_findings(report, "skipped_checks", "acknowledged"),
        failed_without_skips=_findings(report, "failed_checks", "stripped"),
        resource_count=report["summary"]["resource_count"],
        parsing_errors=report["summary"]["parsing_errors"],
    )


def skips(scan: Scan) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(template, Type.LogicalId, skip entry) for every acknowledgment in the shipped templates."""
    for name, template in sorted(scan.templates.items()):
        for logical_id, resource in template["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                yield name, f"{resource['Type']}.{logical_id}", skip


@pytest.mark.slow
def test_checkov_read_every_resource_of_every_template(scan: Scan) -> None:
    assert {
        "FinOpsHub.template.json",
        "FinOpsManagement.template.json",
        "FinOpsMember.template.json",
        "FinOpsMemberRegional.template.json",
        "FinOpsManagement-variant.template.json",
        "FinOpsStackSets-variant.template.json",
        "FinOpsManagementRegional-eu-west-1-variant.template.json",
    } <= set(scan.templates)
    assert scan.parsing_errors == 0
    # both copies, every resource: a template checkov could not read would pass silently otherwise
    assert scan.resource_count == 2 * sum(len(t["Resources"]) for t in scan.templates.values())


@pytest.mark.slow
def test_checkov_fails_nothing_that_is_not_acknowledged(scan: Scan) -> None:
    unacknowledged = sorted(map(str, scan.failed))

    assert unacknowledged == [], (
        "checkov fails these; fix each, or acknowledge it on its one resource with "
        "stacks.nag.acknowledge_checkov(construct, check_id, reason) in the construct that owns it:\n"
        + "\n".join(unacknowledged)
    )


@pytest.mark.slow
def test_every_acknowledgment_names_one_check_and_says_why(scan: Scan) -> None:
    acknowledged = list(skips(scan))
    assert acknowledged, "expected the acknowledgments the constructs document"

    for template, resource, skip in acknowledged:
        where = f"{template}: {resource}"
        assert set(skip) == {"id", "comment"}, f"{where}: {skip}"
        assert CHECKOV_CHECK_ID.fullmatch(skip["id"]), f"{where}: {skip['id']!r} is not one checkov check id"
        assert len(skip["comment"].strip()) >= MIN_CHECKOV_REASON, (
            f"{where}: say why {skip['id']} ({skip['comment']!r})"
        )
    per_resource = [(template, resource, skip["id"]) for template, resource, skip in acknowledged]
    assert len(per_resource) == len(set(per_resource)), "a check acknowledged twice on one resource"
    for name, body in scan.templates.items():
        for logical_id, resource in body["Resources"].items():
            assert "bridgecrew" not in resource.get("Metadata", {}), f"{name}: {logical_id}: use Metadata.checkov"


@pytest.mark.slow
def test_every_acknowledgment_answers_a_finding_checkov_makes_on_that_resource_without_it(scan: Scan) -> None:
    real = {(f.template, f.resource, f.check_id) for f in scan.failed_without_skips}

    stale = [
        f"{template}: {skip['id']} on {resource}"
        for template, resource, skip in skips(scan)
        if (template, resource, skip["id"]) not in real
    ]

    assert stale == [], "acknowledged, but checkov does not fail it there (remove the acknowledgment):\n" + "\n".join(
        stale
    )


@pytest.mark.slow
def test_checkov_honours_each_acknowledgment_where_it_is_written(scan: Scan) -> None:
    written = sorted((template, resource, skip["id"]) for template, resource, skip in skips(scan))

    assert sorted((f.template, f.resource, f.check_id) for f in scan.skipped) == written
