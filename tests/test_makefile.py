"""Every Make target that synthesizes uses the config the user names: `make synth CONFIG=x` and `make deploy CONFIG=x`
build from the same file (cdk.json's context is only the default). Every target that runs the CDK CLI runs the one
pinned release, never a range."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tarfile
from pathlib import Path

import aws_cdk.cloud_assembly_schema
import pytest

ROOT = Path(__file__).parents[1]


def dry_run(*args: str) -> list[list[str]]:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(("target", "marker"), [("synth", "app.py"), ("deploy", "deploy")])
def test_targets_that_synthesize_pass_the_config(target: str, marker: str) -> None:
    [command] = [c for c in dry_run(target, "CONFIG=acme.yaml") if marker in c and ("python" in c[0] or "npx" in c[0])]
    if target == "synth":
        assert command[command.index("--config") + 1] == "acme.yaml"
    else:
        assert command[command.index("--context") + 1] == "finops:config=acme.yaml"


def pinned_cli_version() -> str:
    [version] = re.findall(r"^CDK_CLI_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    return version


def cdk_command(target: str, *args: str) -> list[str]:
    [command] = [c for c in dry_run(target, *args) if any("aws-cdk@" in word for word in c)]
    return command


@pytest.mark.parametrize(
    ("target", "verb"), [("deploy", "deploy"), ("diff", "diff"), ("destroy", "destroy"), ("bootstrap", "bootstrap")]
)
def test_every_cdk_target_runs_the_one_pinned_cli(target: str, verb: str) -> None:
    version = pinned_cli_version()
    assert re.fullmatch(r"2\.\d+\.\d+", version), f"CDK_CLI_VERSION {version!r} is not one exact 2.x.y release"

    command = cdk_command(target, "STACKS=FinOpsHub", "CONFIG=acme.yaml")

    assert f"aws-cdk@{version}" in " ".join(command)
    assert not re.search(r"aws-cdk(@2)?(\s|$)|aws-cdk@[\^~]|aws-cdk@2(\s|$)", " ".join(command)), command
    if target == "bootstrap":  # the CLI travels to the bootstrap steps the tool prints and runs
        assert command[command.index("--cdk") + 1].endswith(f"npx --yes aws-cdk@{version}")
    else:
        assert command[command.index(f"aws-cdk@{version}") + 1] == verb
        assert command[command.index("--context") + 1] == "finops:config=acme.yaml"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_pinned_cli_reads_the_cloud_assembly_the_pinned_library_writes() -> None:
    # The schema package aws-cdk-lib writes with records the oldest CLI that can read its manifests (the manifest's
    # minimumCliVersion); an older CLI refuses every deploy with "Cloud assembly schema version mismatch".
    jsii = Path(aws_cdk.cloud_assembly_schema.__file__).parent / "_jsii"
    [bundle] = jsii.glob("cloud-assembly-schema@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/cli-version.json")
        assert member is not None
        minimum = json.loads(member.read())["version"]

    assert _version_key(pinned_cli_version()) >= _version_key(minimum), (
        f"CDK_CLI_VERSION {pinned_cli_version()} cannot read the cloud assembly of this aws-cdk-lib: it needs at "
        f"least {minimum}"
    )
