"""`make schedule`: a schedule's transitions and states as one JSON document, across DST nights, from the config."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tools.cli import EXIT_BAD_INPUT, main

CONFIG = str(ROOT / "finops.yaml")


def schedule(*args: str, config: str = CONFIG) -> tuple[int, dict[str, Any] | None]:
    out = io.StringIO()
    code = main(["schedule", "--config", config, *args], stdout=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def test_office_hours_across_the_spring_forward_weekend():
    """Given office-hours (Europe/Berlin, mon-fri 07:00-19:00), when we preview the week of 2026-03-29, then friday
    stops at 18:00Z (CET) and monday starts at 05:00Z (CEST): the same local times, an hour apart in UTC."""
    code, document = schedule(
        "--schedule", "office-hours", "--from", "2026-03-27T00:00:00Z", "--to", "2026-03-31T00:00:00Z",
        "--at", "2026-03-30T04:59:00Z,2026-03-30T05:00:00Z", "--at", "2026-03-30T07:00:00+02:00",
    )  # fmt: skip

    assert code == 0
    assert document == {
        "schedule": "office-hours",
        "timezone": "Europe/Berlin",
        "transitions": [
            {"at": "2026-03-27T06:00:00Z", "action": "start", "local": "2026-03-27T07:00:00+01:00"},
            {"at": "2026-03-27T18:00:00Z", "action": "stop", "local": "2026-03-27T19:00:00+01:00"},
            {"at": "2026-03-30T05:00:00Z", "action": "start", "local": "2026-03-30T07:00:00+02:00"},
            {"at": "2026-03-30T17:00:00Z", "action": "stop", "local": "2026-03-30T19:00:00+02:00"},
        ],
        "states": [
            {"at": "2026-03-30T04:59:00Z", "state": "stopped"},
            {"at": "2026-03-30T05:00:00Z", "state": "running"},
            {"at": "2026-03-30T05:00:00Z", "state": "running"},  # the same instant, given with its offset
        ],
    }


def nightly(tmp_path: Path, **schedule: Any) -> str:
    """The shipped config with one more schedule, ``night``, in Europe/Berlin."""
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    data["capabilities"]["scheduler"]["schedules"]["night"] = {"timezone": "Europe/Berlin", **schedule}
    path = tmp_path / "finops.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_start_inside_the_gap_takes_effect_at_the_change(tmp_path):
    """Given a window 02:30-06:00 every day, when the clock jumps from 02:00 to 03:00, then it starts at 01:00Z, which
    Berlin calls 03:00 CEST."""
    config = nightly(tmp_path, periods=[{"days": ["sat", "sun"], "start": "02:30", "stop": "06:00"}])

    code, document = schedule(
        "--schedule", "night", "--from", "2026-03-29", "--to", "2026-03-30", "--at", "2026-03-29T00:59:59Z",
        "--at", "2026-03-29T01:00:00Z", config=config,
    )  # fmt: skip

    assert code == 0
    assert document["transitions"] == [
        {"at": "2026-03-29T01:00:00Z", "action": "start", "local": "2026-03-29T03:00:00+02:00"},
        {"at": "2026-03-29T04:00:00Z", "action": "stop", "local": "2026-03-29T06:00:00+02:00"},
    ]
    assert [s["state"] for s in document["states"]] == ["stopped", "running"]


def test_a_repeated_hour_acts_on_its_first_pass_only(tmp_path):
    """Given a window 01:00-02:30 on sundays, when 02:00-03:00 happens twice on 2026-10-25, then it stops at the first
    02:30 (CEST, 00:30Z) and the second 02:30 (CET, 01:30Z) changes nothing."""
    config = nightly(tmp_path, periods=[{"days": ["sun"], "start": "01:00", "stop": "02:30"}])

    code, document = schedule(
        "--schedule", "night", "--from", "2026-10-24T22:00:00Z", "--to", "2026-10-25T04:00:00Z",
        "--at", "2026-10-25T00:29:00Z,2026-10-25T00:30:00Z,2026-10-25T01:30:00Z", config=config,
    )  # fmt: skip

    assert code == 0
    assert document["transitions"] == [
        {"at": "2026-10-24T23:00:00Z", "action": "start", "local": "2026-10-25T01:00:00+02:00"},
        {"at": "2026-10-25T00:30:00Z", "action": "stop", "local": "2026-10-25T02:30:00+02:00"},
    ]
    assert [s["state"] for s in document["states"]] == ["running", "stopped", "stopped"]


def test_a_stop_only_schedule_lists_stops_and_tolerates_running_inside_its_window(tmp_path):
    config = nightly(
        tmp_path,
        periods=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "stop": "19:00"}],
        stop_only=True,
    )
    at_file = tmp_path / "instants.txt"
    at_file.write_text("2026-10-26T10:00:00Z\n\n2026-10-26 18:00  # naive: UTC, an hour after the stop\n")

    code, document = schedule(
        "--schedule", "night", "--from", "2026-10-23T00:00:00Z", "--to", "2026-10-27T00:00:00Z",
        "--at-file", str(at_file), config=config,
    )  # fmt: skip

    assert code == 0
    assert document["transitions"] == [
        {"at": "2026-10-23T17:00:00Z", "action": "stop", "local": "2026-10-23T19:00:00+02:00"},
        {"at": "2026-10-26T18:00:00Z", "action": "stop", "local": "2026-10-26T19:00:00+01:00"},
    ]
    assert document["states"] == [
        {"at": "2026-10-26T10:00:00Z", "state": "running"},
        {"at": "2026-10-26T18:00:00Z", "state": "stopped"},
    ]


def test_at_file_may_be_a_json_list(tmp_path):
    at_file = tmp_path / "instants.json"
    at_file.write_text('["2026-03-30T05:00:00Z", "2026-03-30T19:00:00+02:00"]')

    code, document = schedule(
        "--schedule", "office-hours", "--from", "2026-03-30", "--to", "2026-03-31", "--at-file", str(at_file)
    )

    assert code == 0
    assert document["states"] == [
        {"at": "2026-03-30T05:00:00Z", "state": "running"},
        {"at": "2026-03-30T17:00:00Z", "state": "stopped"},
    ]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (
            ["--schedule", "offce-hours", "--from", "2026-03-27", "--to", "2026-03-31"],
            "error: unknown schedule 'offce-hours'; known: nightly-batch, office-hours, us-office-hours",
        ),
        (
            ["--schedule", "office-hours", "--from", "yesterday", "--to", "2026-03-31"],
            "error: --from: cannot read 'yesterday' as an ISO 8601 instant",
        ),
        (
            ["--schedule", "office-hours", "--from", "2026-03-27", "--to", "2026-03-31", "--at", "2026-03-30T25:00Z"],
            "error: --at: cannot read '2026-03-30T25:00Z' as an ISO 8601 instant",
        ),
        (
            ["--schedule", "office-hours", "--from", "2026-03-31", "--to", "2026-03-27"],
            "error: --from (2026-03-31T00:00:00Z) must be before --to (2026-03-27T00:00:00Z)",
        ),
        (
            ["--schedule", "office-hours", "--from", "2026-03-31T02:00:00+02:00", "--to", "2026-03-31T00:00:00Z"],
            "must be before --to",  # the same instant is not an interval
        ),
        (
            ["--schedule", "office-hours", "--from", "2026-03-27", "--to", "2026-03-31", "--at-file", "nope.txt"],
            "error: --at-file: cannot read nope.txt",
        ),
    ],
)
def test_bad_input_exits_2_with_the_reason(args, complaint, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, document = schedule(*args)

    assert (code, document) == (EXIT_BAD_INPUT, None)
    assert complaint in capsys.readouterr().err


def test_a_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    config = nightly(tmp_path, periods=[{"days": ["mon"], "start": "07:00", "stop": "19:00"}], timezone="Mars/Olympus")

    code, _ = schedule("--schedule", "night", "--from", "2026-03-27", "--to", "2026-03-31", config=config)

    assert code == EXIT_BAD_INPUT
    assert (
        "capabilities.scheduler.schedules.night.timezone: unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
    )


def test_invoke_and_run_still_require_function_and_event(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--event", "tests/events/anomaly_sns.json"])

    assert exit_.value.code == EXIT_BAD_INPUT
    assert "the following arguments are required: --function" in capsys.readouterr().err


@pytest.mark.slow
def test_make_schedule_prints_one_json_document():
    """The contract acceptance tests use: `make schedule ...` in a fresh process, AT split on commas."""
    completed = subprocess.run(
        [
            "make", "--no-print-directory", "schedule", "SCHEDULE=nightly-batch", "FROM=2026-10-23T00:00:00Z",
            "TO=2026-10-27T00:00:00Z", "AT=2026-10-23T21:00:00Z,2026-10-24T00:30:00Z",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MAKEFLAGS": ""},
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["transitions"] == [  # friday night runs into saturday; nothing starts on the weekend
        {"at": "2026-10-23T00:00:00Z", "action": "stop", "local": "2026-10-23T02:00:00+02:00"},  # thursday's night
        {"at": "2026-10-23T20:00:00Z", "action": "start", "local": "2026-10-23T22:00:00+02:00"},
        {"at": "2026-10-24T00:00:00Z", "action": "stop", "local": "2026-10-24T02:00:00+02:00"},
        {"at": "2026-10-26T21:00:00Z", "action": "start", "local": "2026-10-26T22:00:00+01:00"},
    ]
    assert [s["state"] for s in document["states"]] == ["running", "stopped"]


def test_make_schedule_without_its_arguments_says_how_to_call_it():
    completed = subprocess.run(
        ["make", "--no-print-directory", "schedule", "SCHEDULE=office-hours"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert completed.returncode == 2
    assert "usage: make schedule SCHEDULE=<name> FROM=<ISO> TO=<ISO>" in completed.stderr
