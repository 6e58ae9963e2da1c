"""A cold start makes no AWS client of ours: importing a handler creates clients only in the X-Ray SDK (its sampler
talks to the local X-Ray daemon); ours are made per invocation, by AwsClients."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finops.handlers import HANDLERS
from tests.conftest import ROOT

PROBE = r"""
import sys, traceback, botocore.session
create = botocore.session.Session.create_client
def refuse(self, *args, **kwargs):
    stack = traceback.format_stack()
    if not any("aws_xray_sdk" in frame for frame in stack):
        raise SystemExit("an AWS client was created at import time:\n" + "".join(stack[-8:]))
    return create(self, *args, **kwargs)
botocore.session.Session.create_client = refuse
import importlib
module = importlib.import_module(sys.argv[1])
assert callable(module.handler) and isinstance(module.PERMISSIONS, tuple)
"""


@pytest.mark.parametrize("module", sorted(HANDLERS.values()))
def test_importing_a_handler_creates_no_aws_client(module):
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'lambdas'}", "POWERTOOLS_METRICS_NAMESPACE": "FinOps"},
    )

    assert completed.returncode == 0, completed.stderr
