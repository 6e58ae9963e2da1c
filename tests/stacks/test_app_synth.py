"""``python app.py`` as `make synth` and the CDK CLI run it: no credentials, nag as a gate, cfn-lint-clean templates,
and a bad config stopped with its key path instead of a stack trace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from tools.build_layer import ROOT

pytestmark = pytest.mark.slow

# cfn-lint warnings we accept, by rule and resource type, each with the reason.
ACCEPTED_WARNINGS = {
    # aws-cdk-lib adds DependsOn on the execution role (and its policies) to every Function so permissions exist
    # before the first invoke; the GetAtt of the role's Arn makes the role part of it redundant, not wrong.
    ("W3005", "AWS::Lambda::Function"),
}


def run_app(config: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    # No AWS credentials, profile or instance metadata: synth must not need them.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment |= {
        "CDK_OUTDIR": str(outdir),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def synthesized(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("app-synth")
    result = run_app(ROOT / "finops.yaml", outdir)
    assert result.returncode == 0, result.stderr
    return outdir


def test_app_writes_the_four_templates_where_cdk_outdir_says(synthesized: Path) -> None:
    assert sorted(p.name for p in synthesized.glob("*.template.json")) == [
        "FinOpsHub.template.json",
        "FinOpsManagement.template.json",
        "FinOpsMember.template.json",
        "FinOpsMemberRegional.template.json",
    ]


def test_every_template_is_cfn_lint_clean(synthesized: Path) -> None:
    problems = []
    for template in sorted(synthesized.glob("*.template.json")):
        resources = yaml.safe_load(template.read_text())["Resources"]
        for match in lint_file(template, config=ManualArgs(regions=["us-east-1"])):
            rule = match.rule.id
            resource_type = resources.get(match.path[1], {}).get("Type") if len(match.path) > 1 else None
            if rule.startswith("W") and (rule, resource_type) in ACCEPTED_WARNINGS:
                continue
            problems.append(f"{template.name}: {rule} {match.message} at {'/'.join(map(str, match.path))}")

    assert problems == []


def test_a_bad_config_exits_2_naming_the_key_path_without_a_stack_trace(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    data["notifications"]["severity"][0]["min_impact_usd"] = "lots"
    bad = tmp_path / "finops.yaml"
    bad.write_text(yaml.safe_dump(data))

    result = run_app(bad, tmp_path / "cdk.out")

    assert result.returncode == 2
    assert "notifications.severity[0].min_impact_usd" in result.stderr
    assert "'lots'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "cdk.out").glob("*.template.json"))
