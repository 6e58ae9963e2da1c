"""A cold start's init imports Powertools and the handler module, nothing heavy: what the handler needs comes on its
first invocation. Each import runs in a fresh interpreter with a deployed function's environment (tracing on)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from finops.handlers import CAPABILITY_WORKERS, HANDLERS
from tests.conftest import ROOT
from tools.bench.imports import deferred_imports, lambda_environment

# Deferred to the first invocation (or, for the last ones, to the code paths that use them).
DEFERRED = (
    "aws_xray_sdk",  # Powertools' Tracer: made by finops.tracing.LazyTracer on the first call
    "boto3",  # finops.aws.clients: clients are made per invocation anyway
    "pydantic",  # the config model, the event models
    "yaml",
    "slack_sdk",  # posting only
    "finops.models.config",
    "finops.runtime",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.batch",
)

# ``python -c LOADED <module> [<more modules>]``: which of DEFERRED the imports left loaded.
LOADED = """
import importlib, json, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
print(json.dumps([name for name in sys.argv[1].split(",") if name in sys.modules]))
"""


def loaded_after_importing(handler: str, *modules: str, watched: tuple[str, ...] = DEFERRED) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-c", LOADED, ",".join(watched), *modules],
        cwd=ROOT / "lambdas",
        env=lambda_environment(handler),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_importing_a_handler_loads_nothing_it_defers_to_the_first_invocation(name: str) -> None:
    assert loaded_after_importing(name, HANDLERS[name]) == []


# Those that never post to Slack: the workers, the start step, the auto-tagger (a valid event).
NOT_POSTING = sorted({*CAPABILITY_WORKERS.values(), "engine_start", "auto_tagger"})


@pytest.mark.parametrize("name", NOT_POSTING)
def test_a_handler_that_never_posts_does_not_load_slacks_sdk_on_its_first_invocation(name: str) -> None:
    first_call = deferred_imports(HANDLERS[name])
    assert "finops.runtime" in first_call  # the shared wiring, which also builds the Slack sender for others

    assert loaded_after_importing(name, HANDLERS[name], *first_call, watched=("slack_sdk",)) == []


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_permissions_are_still_the_modules_own_and_other_names_are_missing(name: str) -> None:
    module = importlib.import_module(HANDLERS[name])

    assert isinstance(module.PERMISSIONS, tuple)
    assert all(isinstance(action, str) and ":" in action for action in module.PERMISSIONS)
    assert not hasattr(module, "NO_SUCH_NAME")  # AttributeError, so getattr(module, name, None) still works


def test_each_handler_declares_the_permissions_of_the_code_it_runs() -> None:
    from finops.aws.organizations import DIRECTORY_PERMISSIONS, TARGET_PERMISSIONS
    from finops.services import auto_tagger, cleanup, scheduler, tag_compliance

    def declared(name: str, attribute: str) -> object:
        return getattr(importlib.import_module(HANDLERS[name]), attribute)

    assert declared("anomaly_alerts", "PERMISSIONS") == DIRECTORY_PERMISSIONS
    assert declared("engine_start", "PERMISSIONS") == tuple(sorted(TARGET_PERMISSIONS))

    own = {
        "scheduler_worker": scheduler.MEMBER_PERMISSIONS,
        "ebs_cleanup_worker": cleanup.MEMBER_PERMISSIONS,
        "tag_compliance_worker": tag_compliance.MEMBER_PERMISSIONS,
        "auto_tagger": auto_tagger.MEMBER_PERMISSIONS,
    }
    for name, permissions in own.items():
        assert declared(name, "MEMBER_PERMISSIONS") == permissions
    assert declared("auto_tagger", "PERMISSIONS") == auto_tagger.HUB_PERMISSIONS
    assert "ec2:StopInstances" in own["scheduler_worker"]
