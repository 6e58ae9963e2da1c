"""The aggregate step: the Map's results read back from S3 as the ResultWriter leaves them, one summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from finops.engine.aggregate import compact, results_from_manifest, summarize, with_missing_targets
from finops.engine.model import Action, Outcome, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode

CTX = RunContext("run-1", "scheduler", "tick", datetime(2026, 11, 27, 18, tzinfo=UTC), Mode.ENFORCE)
A = Target("444444444444", "eu-west-1", name="payments-staging", team="payments")
B = Target("555555555555", "eu-west-1", name="data-dev", team="data")
C = Target("666666666666", "eu-west-1", name="sandbox")
STOP = Action("i-1", "ec2:instance", "stop", "schedule office-hours changed state", {"state": "running"}, "payments")


def done(target: Target, ok: bool = True) -> TargetResult:
    outcome = Outcome(STOP, ok, {"state": "stopped"} if ok else {}, None if ok else "IncorrectInstanceState: no")
    return TargetResult(target, "done", Mode.ENFORCE, (STOP,), (Skip("i-9", "ec2:instance", "prod"),), (outcome,))


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="engine")
        yield client


def written_by_the_map(s3, succeeded: list[dict], failed: list[dict]) -> str:
    """What the ResultWriter leaves under its prefix: a manifest naming SUCCEEDED_n.json and FAILED_n.json files,
    each a JSON array of child executions with their Input and Output (or Error and Cause) as JSON strings."""
    prefix = "results/scheduler/map-run-id"
    files = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for status, executions in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        if executions:
            key = f"{prefix}/{status}_0.json"
            s3.put_object(Bucket="engine", Key=key, Body=json.dumps(executions).encode())
            files[status].append({"Key": key, "Size": 1})
    manifest = {"DestinationBucket": "engine", "MapRunArn": "arn:aws:states:::mapRun:x", "ResultFiles": files}
    s3.put_object(Bucket="engine", Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode())
    return f"{prefix}/manifest.json"


def batch(*targets: Target) -> str:
    return json.dumps({"Items": [t.to_json() for t in targets], "BatchInput": {"run": CTX.to_json()}})


def test_every_target_of_the_run_is_accounted_for_including_a_batch_whose_worker_died(s3):
    manifest = written_by_the_map(
        s3,
        succeeded=[
            {
                "Status": "SUCCEEDED",
                "Input": batch(A, B),
                "Output": json.dumps({"results": [done(A).to_json(), done(B, ok=False).to_json()]}),
            }
        ],
        failed=[{"Status": "FAILED", "Input": batch(C), "Error": "Lambda.ServiceException", "Cause": "timed out"}],
    )

    results = results_from_manifest(s3, "engine", manifest, CTX)

    assert [r.target.account for r in results] == [A.account, B.account, C.account]
    assert results[2].status == "failed"
    assert results[2].error == "worker failed: Lambda.ServiceException: timed out"
    summary = summarize(CTX, results)
    assert [(i.account, i.action) for i in summary.acted] == [(A.account, "stop")]
    assert {(i.account, i.reason) for i in summary.failed} == {
        (B.account, "IncorrectInstanceState: no"),  # a failed action is a failure, never listed as done
        (C.account, "worker failed: Lambda.ServiceException: timed out"),
    }


def test_a_target_the_map_returned_nothing_for_is_a_failure_not_silence():
    listed = [A.to_json(), B.to_json()]

    results = with_missing_targets([done(A)], listed, CTX)

    assert [(r.target.account, r.status) for r in results] == [(A.account, "done"), (B.account, "failed")]
    assert results[1].error == "the Map recorded no result for this target"


def test_in_report_mode_the_plan_is_what_would_happen():
    planned = TargetResult(A, "done", Mode.REPORT, (STOP,))

    summary = summarize(RunContext("r", "scheduler", "tick", CTX.now, Mode.REPORT), [planned])

    assert [(i.resource, i.action) for i in summary.acted] == [("i-1", "would stop")]


def test_the_state_output_stays_small_however_many_targets():
    document = {"acted": [{"resource": f"i-{n}"} for n in range(3000)], "results": ["big"] * 3000, "status": "ok"}

    small = compact(document, summary_key="runs/scheduler/r/summary.json")

    assert len(small["acted"]) == 50
    assert small["acted_not_listed"] == 2950
    assert "results" not in small
    assert small["summary_key"] == "runs/scheduler/r/summary.json"
    assert len(json.dumps(small)) < 256 * 1024
