"""Every Make target that synthesizes uses the config the user names: `make synth CONFIG=x` and `make deploy CONFIG=x`
build from the same file (cdk.json's context is only the default)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

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
