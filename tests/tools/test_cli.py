"""`make invoke` / `make run`: one JSON document on stdout, logs on stderr, exit codes that mean something."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from tests.conftest import EVENTS, ROOT
from tools.cli import EXIT_BAD_INPUT, EXIT_FAILED, main


def invoke(*args: str) -> tuple[int, dict | None]:
    out = io.StringIO()
    code = main(list(args), stdout=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


@pytest.mark.slow
def test_invoke_prints_result_slack_audit_and_the_whole_estate_when_asked():
    code, document = invoke(
        "invoke", "--function", "anomaly_alerts", "--event", str(EVENTS / "anomaly_sns.json"), "--estate-out", "full"
    )

    assert code == 0
    assert set(document) == {"result", "slack", "audit", "estate"}
    assert document["result"]["counts"] == {"acted": 1, "skipped": 0, "failed": 0}
    assert document["slack"][0]["channel"] == "#payments-oncall"
    assert document["audit"][0]["action"] == "slack.post"
    assert document["audit"][0]["at"] == "2026-11-27T08:14:03.512000+00:00"  # the event's time is the clock
    assert {a["id"] for a in document["estate"]["accounts"]} >= {"333333333333", "666666666666"}


@pytest.mark.slow
def test_invoke_with_a_bad_event_exits_1_and_shows_the_dead_letter(capsys):
    code, document = invoke(
        "invoke", "--function", "anomaly_alerts", "--event", str(EVENTS / "invalid_missing_anomaly_id_sns.json")
    )

    assert code == EXIT_FAILED
    assert document["result"]["errorType"] == "InvalidEvent"
    assert document["result"]["dead_letter"]["requestContext"]["condition"] == "RetriesExhausted"
    assert "Records[0].Sns.Message.anomalyId: required field missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--event", "nope.json"], "nope.json: cannot read the event file"),
        (["--event", "finops.yaml"], "finops.yaml: not JSON"),
        (["--event", "tests/events/anomaly_sns.json", "--function", "nosuch"], "unknown function 'nosuch'"),
        (
            ["--event", "tests/events/anomaly_sns.json", "--config", "README.md"],
            "README.md is not a valid FinOps config",
        ),
    ],
)
def test_bad_input_exits_2_with_the_reason(args, complaint, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = ["invoke", "--function", "anomaly_alerts", *args]
    code, document = invoke(*argv)

    assert code == EXIT_BAD_INPUT
    assert document is None
    assert complaint in capsys.readouterr().err


def test_run_without_organizations_access_previews_on_the_callers_account(monkeypatch):
    """`make run` against an endpoint that has no Organization: real calls, nothing posted."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        code, document = invoke("run", "--function", "anomaly_alerts", "--event", str(EVENTS / "anomaly_sns.json"))

    assert code == 0
    assert document["result"]["mode"] == "report"
    assert "would post to #finops-alerts" in document["result"]["acted"][0]["reason"]
    assert document["slack"][0]["channel"] == "#finops-alerts"  # no Organization: no owner tag, default channel
    assert document["audit"][0]["action"] == "slack.preview"
    assert document["estate"] is None


def test_stdout_is_one_json_document_even_with_lambda_logs():
    """The contract acceptance tests use: run as `make invoke` runs it, in a fresh process."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "invoke",
            "--function",
            "anomaly_alerts",
            "--event",
            "tests/events/anomaly_eventbridge.json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"},
    )

    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["slack"][0]["channel"] == "#data-oncall"
    assert '"level":"INFO"' in completed.stderr  # the handler's logs went to stderr
    # An alert changes no resource: `estate` says so in a few lines instead of printing the whole Organization.
    estate = document["estate"]
    assert (estate["shows"], estate["accounts"], estate["created"], estate["deleted"]) == ("changes", [], [], [])
    assert estate["unchanged"] > 50  # the default estate's resources, all as they were
    assert len(completed.stdout.splitlines()) < 200


def test_a_bad_estate_file_exits_2_naming_the_key(tmp_path, capsys):
    estate = tmp_path / "estate.yaml"
    estate.write_text("management: {id: '12', name: m, email: m@example.com}\nregions: [eu-west-1]\n")

    code, _ = invoke(
        "invoke", "--function", "anomaly_alerts", "--event", str(EVENTS / "anomaly_sns.json"), "--estate", str(estate)
    )

    assert code == EXIT_BAD_INPUT
    assert "management.id" in capsys.readouterr().err


def test_an_unknown_estate_out_is_refused_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exited:
        invoke("invoke", "--function", "anomaly_alerts", "--event", "x.json", "--estate-out", "all")

    assert exited.value.code == EXIT_BAD_INPUT
    assert "--estate-out: invalid choice: 'all' (choose from 'changes', 'full')" in capsys.readouterr().err


def test_a_config_error_names_the_line_and_suggests_the_key(tmp_path, capsys, monkeypatch):
    """What `make invoke CONFIG=...` prints for a misspelled key and an unquoted account id: one line each."""
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "finops.yaml").read_text(encoding="utf-8")
    text = text.replace("management_account_id:", "management_acount_id:", 1)
    text = text.replace('automation_account_id: "222222222222"', "automation_account_id: 22222222222", 1)
    (tmp_path / "finops.yaml").write_text(text, encoding="utf-8")

    code, document = invoke("invoke", "--function", "anomaly_alerts", "--event", str(EVENTS / "anomaly_sns.json"))

    lines = text.splitlines()
    typo = next(n for n, line in enumerate(lines, 1) if "management_acount_id" in line)
    unquoted = next(n for n, line in enumerate(lines, 1) if "automation_account_id" in line)
    assert (code, document) == (EXIT_BAD_INPUT, None)
    assert capsys.readouterr().err.splitlines() == [
        "error: finops.yaml is not a valid FinOps config:",
        f"  - finops.yaml:{typo}: organization.management_acount_id: unknown key; did you mean `management_account_id`?",
        f"  - finops.yaml:{unquoted}: organization.automation_account_id: YAML read this as the number 22222222222 "
        "(unquoted, so the leading 0 was lost); quote it: '022222222222'",
    ]
