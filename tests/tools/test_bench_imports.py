"""The import-time bench (tools.bench.imports): the child's environment, the attribution of -X importtime's rows,
what a handler's first call imports, and one real measurement end to end."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from finops.settings import Settings
from tools.bench import imports
from tools.bench.imports import MARK, contributors, deferred_imports, lambda_environment


def row(self_us: int, cumulative_us: int, depth: int, name: str) -> str:
    return f"import time: {self_us:>9} | {cumulative_us:>10} | {'  ' * depth}{name}"


def test_a_module_counts_for_the_outermost_package_that_brought_it_else_for_our_nearest_module() -> None:
    # -X importtime prints a module after everything it imported, indented one step deeper than its importer.
    report = "\n".join(
        [
            row(900, 900, 0, "encodings"),  # the interpreter's start-up: before the marker, not counted
            MARK,
            row(100, 100, 3, "urllib3"),
            row(50, 150, 2, "botocore"),
            row(20, 170, 1, "boto3"),
            row(7, 7, 2, "re"),
            row(30, 37, 1, "finops.models.problems"),
            row(5, 5, 2, "enum"),
            row(40, 45, 1, "finops.aws.clients"),
            row(3, 255, 0, "finops.handlers.x"),
        ]
    )

    assert contributors(report) == {
        "boto3": 170,  # boto3 with the botocore and urllib3 it brought
        "finops.models.problems": 37,  # with the re it imported
        "finops.aws.clients": 45,
        "finops.handlers.x": 3,
    }


def test_the_first_call_imports_are_those_at_the_top_of_the_handlers_body(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        "import json\n"
        "def helper():\n"
        "    import csv\n"
        "def handler(event, context):\n"
        "    from pkg.service import run\n"
        "    import decimal, pkg.other\n"
        "    from . import sibling\n"
        "    try:\n"
        "        run()\n"
        "    except ValueError:\n"
        "        from pkg.errors import count  # one branch only\n"
        "        raise\n"
    )

    assert deferred_imports("pkg.mod", tmp_path) == ["pkg.service", "decimal", "pkg.other"]


def test_a_module_without_a_handler_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "nohandler.py").write_text("def main():\n    pass\n")

    with pytest.raises(ValueError, match=r"nohandler\.py defines no top-level function 'handler'"):
        deferred_imports("nohandler", tmp_path)


def test_the_child_gets_the_deployed_functions_environment_and_nothing_of_ours() -> None:
    env = lambda_environment("scheduler_worker")

    assert env["POWERTOOLS_SERVICE_NAME"] == "scheduler_worker"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "FinOps"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "finops-scheduler-worker"
    assert env["LAMBDA_TASK_ROOT"]  # Powertools' Tracer is enabled only in Lambda
    assert set(Settings.ENV.values()) <= set(env)
    assert env["AWS_XRAY_DAEMON_ADDRESS"].startswith("127.0.0.1:")
    assert "HOME" not in env
    assert "PYTHONDONTWRITEBYTECODE" not in env


def test_a_handler_measured_end_to_end() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert imports.main(["--samples", "2", "--module", "finops.handlers.scheduler_worker"]) == 0
    report = json.loads(out.getvalue())

    (measured,) = report["imports"]
    assert measured["handler"] == "scheduler_worker"
    assert measured["samples"] == 2
    assert 0 < measured["min_ms"] <= measured["median_ms"] <= measured["max_ms"]
    # The first call's setup (the X-Ray SDK, boto3, the capability's code) costs more than the import itself.
    assert measured["import_and_first_call_setup_median_ms"] > measured["median_ms"]
    assert "aws_lambda_powertools" in measured["top_self_ms"]
    assert "boto3" not in measured["heavy_loaded"]
    assert "aws_xray_sdk" not in measured["heavy_loaded"]
    assert report["machine"]["python"].startswith("3.")


def test_a_module_that_fails_to_import_is_reported_with_the_childs_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise ImportError('no such layer')\ndef handler(event, context):\n    pass\n")

    with pytest.raises(RuntimeError, match=r"(?s)importing broken in a fresh interpreter failed.*no such layer"):
        imports.import_times(["broken"], samples=1, lambdas=tmp_path)


def test_a_module_without_source_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"finops\.handlers\.no_such_handler: no source at .*no_such_handler\.py"
    ):
        deferred_imports("finops.handlers.no_such_handler", tmp_path)


def test_samples_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="samples must be at least 1, not 0"):
        imports.import_times(["finops.handlers.scheduler_worker"], samples=0)
