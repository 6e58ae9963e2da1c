"""The lazy tracer: no X-Ray SDK until the first invocation, then the same traces as a Tracer made at import."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest

from finops.tracing import LazyTracer
from tests.conftest import ROOT
from tools.bench.imports import lambda_environment

# In a fresh interpreter with a deployed function's environment (tracing enabled): make the tracer as MAKE says,
# decorate a handler, invoke it three times (two answers and an error) and report what was loaded when.
PROBE = """
import json, sys
MAKE
loaded_before_first_call = "aws_xray_sdk" in sys.modules

@tracer.capture_lambda_handler
def handler(event, context):
    if event.get("fail"):
        raise ValueError("the third call fails")
    return {"echo": event["n"]}

answers = [handler({"n": 1}, None), handler({"n": 2}, None)]
try:
    handler({"fail": True}, None)
except ValueError as exc:
    answers.append(str(exc))
import botocore.client
patched = hasattr(botocore.client.BaseClient._make_api_call, "__wrapped__")
print(json.dumps({"loaded_before_first_call": loaded_before_first_call, "answers": answers, "patched": patched}))
"""
LAZY = "from finops.tracing import LazyTracer\ntracer = LazyTracer()"
AT_IMPORT = "from aws_lambda_powertools import Tracer\ntracer = Tracer()"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def traced_run(make: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The probe's report and the trace documents it sent to an X-Ray daemon address we listen on (127.0.0.1)."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    env = lambda_environment("probe") | {
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": TRACE_ID,  # what Lambda sets for each invocation with active tracing
    }
    with daemon:
        completed = subprocess.run(
            [sys.executable, "-c", PROBE.replace("MAKE", make)],
            cwd=ROOT / "lambdas",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        documents = []
        try:
            while True:
                packet, _ = daemon.recvfrom(65535)
                documents.append(json.loads(packet.decode().split("\n", 1)[1]))  # a header line, then the document
        except TimeoutError:
            pass
    return json.loads(completed.stdout), documents


def seen(document: dict[str, Any]) -> dict[str, Any]:
    """What a reader of the trace sees, without the ids and times that differ on every run."""
    return {
        "name": document["name"],
        "annotations": document.get("annotations"),
        "metadata": sorted(document.get("metadata", {}).get("probe", {})),
        "fault": document.get("fault", False),
        "exception": [e["message"] for e in document.get("cause", {}).get("exceptions", [])],
    }


def test_a_lazy_tracer_traces_every_invocation_as_a_tracer_made_at_import() -> None:
    lazy, lazy_documents = traced_run(LAZY)
    eager, eager_documents = traced_run(AT_IMPORT)

    assert lazy["loaded_before_first_call"] is False  # the init phase did not import the X-Ray SDK
    assert eager["loaded_before_first_call"] is True
    assert lazy["answers"] == eager["answers"] == [{"echo": 1}, {"echo": 2}, "the third call fails"]
    assert lazy["patched"]  # AWS calls are subsegments either way
    assert eager["patched"]
    assert [seen(d) for d in lazy_documents] == [seen(d) for d in eager_documents]
    assert [seen(d) for d in lazy_documents] == [
        {
            "name": "## handler",
            "annotations": {"ColdStart": True, "Service": "probe"},
            "metadata": ["handler response"],
            "fault": False,
            "exception": [],
        },
        {
            "name": "## handler",
            "annotations": {"ColdStart": False, "Service": "probe"},
            "metadata": ["handler response"],
            "fault": False,
            "exception": [],
        },
        {
            "name": "## handler",
            "annotations": {"ColdStart": False, "Service": "probe"},
            "metadata": ["handler error"],
            "fault": True,
            "exception": ["the third call fails"],
        },
    ]


class SpyTracer:
    """Stands in for Powertools' Tracer: counts how often one is made and what it wraps."""

    made = 0
    wrapped: list[str] = []

    def __init__(self) -> None:
        SpyTracer.made += 1

    def capture_lambda_handler(self, handler: Any) -> Any:
        SpyTracer.wrapped.append(handler.__name__)

        def traced(event: Any, context: Any) -> Any:
            return ("traced", handler(event, context))

        return traced


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[SpyTracer]:
    import aws_lambda_powertools

    monkeypatch.setattr(SpyTracer, "made", 0)
    monkeypatch.setattr(SpyTracer, "wrapped", [])
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", SpyTracer)
    return SpyTracer


def test_the_tracer_is_made_on_the_first_call_only_and_wraps_the_handler_once(spy: type[SpyTracer]) -> None:
    tracer = LazyTracer()

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"n": event["n"]}

    assert spy.made == 0  # decorating (Lambda's import) makes nothing
    assert handler.__name__ == "handler"

    assert handler({"n": 1}, None) == ("traced", {"n": 1})
    assert handler({"n": 2}, None) == ("traced", {"n": 2})
    assert spy.made == 1
    assert spy.wrapped == ["handler"]
    assert isinstance(tracer.tracer, SpyTracer)
    assert spy.made == 1


def test_an_error_of_the_handler_reaches_the_caller(spy: type[SpyTracer]) -> None:
    tracer = LazyTracer()

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError, match="the run failed"):
        handler({}, None)
