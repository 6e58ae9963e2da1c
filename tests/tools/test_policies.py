"""`make policies`: docs/policies/ is exactly what the shipped config generates (so it never drifts from what the
management stack deploys), a bundle past the limits stops `make policies` and `make synth` with the fix, and the
demo's two views of the bundle."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finops.models.config import FinOpsConfig
from stacks.policies import build_bundle, bundle_summary, explain_denied_example
from tools import policies
from tools.build_layer import ROOT

DOCS = ROOT / "docs" / "policies"


def test_docs_policies_is_what_make_policies_generates_from_finops_yaml(config: FinOpsConfig) -> None:
    generated = policies.generated_files(config, source="finops.yaml")
    committed = {path.name: path.read_text(encoding="utf-8") for path in DOCS.iterdir() if path.is_file()}

    assert committed == generated, "docs/policies/ is stale: run `make policies` and commit the result"


def test_each_file_is_indented_json_with_a_final_newline(config: FinOpsConfig) -> None:
    for policy in build_bundle(config).policies:
        text = (DOCS / f"{policy.name}.json").read_text()
        assert text.endswith("}\n")
        assert text.startswith("{\n  ")


def test_the_readme_gives_each_policy_its_size_targets_and_statements(config: FinOpsConfig) -> None:
    readme = (DOCS / "README.md").read_text()
    bundle = build_bundle(config)

    assert "SCPs never apply to the management account" in readme
    for policy in bundle.policies:
        assert (
            f"| [{policy.name}]({policy.name}.json) | `{policy.type.value}` | {policy.size:,} | {policy.limit:,} |"
            in readme
        )
        for explanation in policy.explanations:
            assert f"`{explanation.sid}`" in readme
    assert readme.count("not attached: policies.attach is false") >= len(bundle.policies)
    for section in ("## What the bundle does not cover", "## Rolling it out", "## Before attaching"):
        assert section in readme
    assert "aws organizations enable-policy-type" in readme
    assert "detach-policy" in readme
    assert "s3:CreateBucket" in readme  # a type the SCPs cannot cover, and why


def test_write_replaces_the_files_of_an_older_bundle_and_leaves_others(config: FinOpsConfig, tmp_path: Path) -> None:
    (tmp_path / "finops-scp-9.json").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("mine\n")

    written = policies.write(config, tmp_path, source="finops.yaml")

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(p.name for p in written), "notes.txt"])
    assert not (tmp_path / "finops-scp-9.json").exists()


def overflowing(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    keys = [f"cost-allocation-dimension-{i:02d}" for i in range(12)]
    data["taxonomy"]["tags"] = [{"key": k} for k in keys]
    data["own_tags"] = dict.fromkeys(keys, "x")
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_make_policies_stops_with_the_limit_and_the_fix(tmp_path: Path) -> None:
    err = io.StringIO()

    code = policies.main(["--config", str(overflowing(tmp_path)), "--out", str(tmp_path / "out")], err=err)

    assert code == 2
    assert "policies.max_scp_slots" in err.getvalue()
    assert "Fix:" in err.getvalue()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_make_synth_stops_with_the_limit_and_no_stack_trace(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"CDK_OUTDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(overflowing(tmp_path))],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert "does not fit AWS Organizations' limits" in done.stderr
    assert "characters too many. Fix: raise policies.max_scp_slots" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_policies_passes_the_config() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "policies", "CONFIG=acme.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )

    [command] = [line for line in done.stdout.splitlines() if "tools.policies" in line]
    assert "--config acme.yaml" in command
    assert "--out docs/policies" in command


def test_the_demo_summary_gives_sizes_against_limits_and_targets(config: FinOpsConfig) -> None:
    summary = bundle_summary(config)

    assert "not attached: policies.attach is false" in summary
    for policy in build_bundle(config).policies:
        assert f"{policy.size:,} of {policy.limit:,} characters" in summary
    assert "SCPs never apply to the management account" in summary


def test_the_demo_explains_a_denied_launch_and_the_member_role_allowed(config: FinOpsConfig) -> None:
    text = explain_denied_example(config)

    assert "without the `team` tag" in text
    assert "denied by finops-scp-" in text
    assert "DenyCreateWithoutTeam" in text
    assert "The same launch by the member role FinOpsMemberRole: allowed" in text
