"""`make bench`: how the work grows with the Organization and what one alert costs, in calls and ratios.

Absolute times on a shared 2-core machine say little; call counts are exact and ratios travel. Everything runs
in-process against moto and the local Slack sink.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.aws.clients import AwsClients
from finops.aws.organizations import enumerate_targets
from finops.models.config import FinOpsConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def counting(client: Any, calls: Counter[str]) -> Any:
    prefix = client.meta.service_model.signing_name
    client.meta.events.register("before-call", lambda model, **_: calls.update([f"{prefix}:{model.name}"]))
    return client


@contextmanager
def hub_calls_counted(calls: Counter[str]) -> Iterator[None]:
    """While open, every client AwsClients makes (the hub's own, not the member scopes') counts into ``calls``."""
    make = AwsClients.client

    def counted(self: AwsClients, service: str, region: str | None = None) -> Any:
        return counting(make(self, service, region), calls)

    AwsClients.client = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        AwsClients.client = make  # type: ignore[method-assign]


def enumeration(config: FinOpsConfig, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    from tools.sim.estate import generate_estate, simulated_aws

    rows = []
    for size in sizes:
        with simulated_aws(generate_estate(size)):
            calls: Counter[str] = Counter()
            organizations = counting(AwsClients().client("organizations"), calls)
            started = time.perf_counter()
            targets = enumerate_targets(config, organizations).targets
            seconds = time.perf_counter() - started
        rows.append({"accounts": size, "targets": len(targets), "calls": dict(calls), "seconds": seconds})
    return rows


def alert_cost(config: FinOpsConfig) -> dict[str, Any]:
    """AWS calls and Slack requests for one alert, for a redelivery, and for a 10-message redrive during an outage."""
    from tools.demo import event as load_event
    from tools.demo import with_anomaly_id
    from tools.local_hub import LocalHub
    from tools.sim.estate import simulated_aws
    from tools.sim.slack_sink import SlackSink

    result: dict[str, Any] = {}
    with simulated_aws() as _, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
        hub = LocalHub(config, Path(workdir))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        calls: Counter[str] = Counter()
        with hub_calls_counted(calls):
            for label, event in (
                ("first delivery", load_event("anomaly_sns")),
                ("redelivery", load_event("anomaly_sns")),
            ):
                calls.clear()
                before = len(sink.requests)
                hub.invoke("anomaly_alerts", event)
                result[label] = {"aws_calls": dict(calls), "slack_requests": len(sink.requests) - before}
            sink.go_down()
            for n in range(10):
                hub.invoke("anomaly_alerts", with_anomaly_id(load_event("anomaly_sns"), f"bench-{n}"))
            before = len(sink.requests)
            hub.drain_retry_queue()
            result["redrive of 10 parked, Slack still down"] = {
                "slack_requests": len(sink.requests) - before,
                "if every message were tried (1 + 2 retries each)": 10 * 3,
            }
    return result


def scheduler_cost(config: FinOpsConfig) -> dict[str, Any]:
    """API calls of one Organization-wide scheduler run on the default estate: per target (through the member role,
    counted by the worker itself) and in the hub, for a quiet tick, the evening stop and the morning start."""
    from tools.demo_scheduler import EVENING, MORNING, at, enforcing
    from tools.local_hub import LocalHub
    from tools.sim.estate import simulated_aws
    from tools.sim.slack_sink import SlackSink

    enforce = enforcing(config)
    rows: dict[str, Any] = {}
    with simulated_aws() as _, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
        hub = LocalHub(config, Path(workdir))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        for label, when in (
            ("quiet tick (no transition due)", EVENING.replace(hour=14, minute=15)),
            ("evening stop (reconcile, enforce)", EVENING),
            ("morning start (reconcile, enforce)", MORNING),
        ):
            calls: Counter[str] = Counter()
            with hub_calls_counted(calls):
                document = hub.run("scheduler", at(when), config=enforce)
            reached = [r for r in document.get("results", []) if r["status"] != "failed"]
            member = Counter[str]()
            for result in reached:
                member.update(result["calls"])
            rows[label] = {
                "status": document["status"],
                "targets": document["targets"]["total"],
                "actions": document["counts"]["acted"] + document["counts"]["failed"],
                "member_calls_by_action": dict(sorted(member.items())),
                "member_calls_per_reached_target": round(sum(member.values()) / len(reached), 1) if reached else 0,
                "hub_calls_by_action": dict(sorted(calls.items())),
            }
    return rows


# Page sizes the EC2 API reference documents (MaxResults): DescribeVolumes 5-500, DescribeSnapshots 5-1,000,
# DescribeImages 1-1,000. CreateTags and DeleteTags take many resource ids per call; CreateSnapshot, DeleteVolume,
# DeleteSnapshot and DescribeSnapshotAttribute one resource each.
PAGE = {"ec2:DescribeVolumes": 500, "ec2:DescribeSnapshots": 1000, "ec2:DescribeImages": 1000}


def cleanup_cost(config: FinOpsConfig, resources: int = 1000) -> dict[str, Any]:
    """API calls of the clean-up's mark run and sweep run in one target of ``resources`` unattached old volumes and
    as many old snapshots (breaker caps lifted), per 1,000 resources, beside the floor the APIs allow."""
    import os
    from datetime import UTC, datetime, timedelta
    from functools import partial

    import boto3
    from moto import mock_aws

    from finops.engine.kill_switch import NoKillSwitch
    from finops.engine.model import RunContext, Target
    from finops.engine.worker import run_target
    from finops.models.base import Mode
    from finops.services.audit import MemoryAuditTrail
    from finops.services.cleanup_run import CleanupCapability

    data = config.model_dump(mode="json")
    data["capabilities"]["ebs_cleanup"] = {
        "mode": "enforce",
        "require_recycle_bin": False,  # moto has no Recycle Bin; the rule read is 2 ListRules + 1 GetRule a rule
        "max_deletions_per_target": 100_000,
        "max_deletion_percent": 100,
    }
    enforce = FinOpsConfig.model_validate(data)
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    region = "eu-west-1"
    rows: dict[str, Any] = {}
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=region)
        half = resources // 2
        for n in range(half):
            volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8, VolumeType="gp3")["VolumeId"]
            if n < resources - half:
                ec2.create_snapshot(VolumeId=volume)
        volumes, snapshots = half, resources - half
        start = datetime.now(UTC) + timedelta(days=120)
        for label, now in (("mark run", start), ("sweep run (grace ended)", start + timedelta(days=8))):
            ctx = RunContext(f"bench-{label[:4]}", "ebs_cleanup", "sweep", now, Mode.ENFORCE)
            began = time.process_time()
            result = run_target(
                # in-process moto never throttles: no client-side rate limit (the calls are the same)
                CleanupCapability(enforce, sleep=lambda _: None, rates=None),
                Target("123456789012", region),
                ctx,
                scopes=AwsClients(region=region),
                role_name="FinOpsMemberRole",
                kill_switch=NoKillSwitch(),
                audit=MemoryAuditTrail(clock=partial(datetime.now, UTC)),
                actor="bench",
            )
            cpu = time.process_time() - began
            calls = {k: v for k, v in result.calls.items() if not k.startswith("sts:")}
            acted = Counter(o.action.action for o in result.outcomes if o.ok)
            floor = _cleanup_floor(label, volumes, snapshots)
            rows[label] = {
                "volumes": volumes,
                "snapshots": snapshots,
                "acted": dict(acted),
                "calls_by_action": dict(sorted(calls.items())),
                "calls": sum(calls.values()),
                "floor_by_action": floor,
                "floor": sum(floor.values()),
                "calls_per_1000_resources": round(sum(calls.values()) * 1000 / resources, 1),
                "floor_per_1000_resources": round(sum(floor.values()) * 1000 / resources, 1),
                "real_aws_describe_pages": {
                    k: -(-(volumes if "Volumes" in k else snapshots) // size)
                    for k, size in PAGE.items()
                    if k in calls and "Images" not in k
                },
                "own_cpu_seconds": round(cpu, 2),
            }
    return rows


def _cleanup_floor(label: str, volumes: int, snapshots: int) -> dict[str, int]:
    """The fewest calls any tool needs for the same job and the same safety: read everything once at the largest
    page size, check the sharing of each snapshot it would act on, one tag call for the marks; then per deletion one
    CreateSnapshot (final snapshot) and one DeleteVolume / DeleteSnapshot."""
    reads = {
        "ec2:DescribeVolumes": -(-volumes // 500),
        "ec2:DescribeSnapshots": -(-snapshots // 1000),
        "ec2:DescribeImages": 1,
        "ec2:DescribeSnapshotAttribute": snapshots,
    }
    if label.startswith("mark"):
        return {**reads, "ec2:CreateTags": 1}
    return {**reads, "ec2:CreateSnapshot": volumes, "ec2:DeleteVolume": volumes, "ec2:DeleteSnapshot": snapshots}


SIZES = (1_000, 5_000, 20_000, 50_000)
ORGANIZATIONS = (10, 100, 1_000)
ORG_REGIONS = ("eu-west-1", "eu-central-1")
ORG_RESOURCES_PER_TARGET = 20
LATENCIES = (0.0, 50.0)
OUT = ROOT / "build" / "bench-results"
DOCS = ROOT / "docs" / "benchmarks"


def in_process(config: FinOpsConfig) -> dict[str, Any]:
    """The in-process figures (moto in this process): enumeration, one alert, one scheduler run, one clean-up target."""
    rows = enumeration(config, (100, 1000))
    small, large = rows
    return {
        "enumeration": rows,
        "enumeration_ratio_1000_vs_100": {
            "accounts": large["accounts"] / small["accounts"],
            "api_calls": sum(large["calls"].values()) / sum(small["calls"].values()),
            "seconds": large["seconds"] / small["seconds"],
        },
        "alert": alert_cost(config),
        "scheduler": scheduler_cost(load_config(ROOT / "finops.yaml")),
        "ebs_cleanup_per_target": cleanup_cost(load_config(ROOT / "finops.yaml")),
    }


SERVER_PARTS = ("per_target", "side_by_side", "two_runs", "organization")
PARTS = ("imports", "in_process", *SERVER_PARTS)


def against_server(
    parts: Sequence[str], sizes: Sequence[int], organizations: Sequence[int], *, custodian: bool = True
) -> dict[str, Any]:
    """The bench proper: our runs and Custodian's as child processes against a moto server of their own
    (tools.bench.compare), the ``parts`` of :data:`SERVER_PARTS` asked for."""
    from tools.bench.compare import JOBS, organization_runs, two_runs
    from tools.bench.custodian import ensure_venv
    from tools.bench.scale import BenchServer

    exe = ensure_venv(ROOT) if custodian and {"per_target", "side_by_side"} & set(parts) else None
    tools = ("ours", "custodian") if custodian else ("ours",)
    report: dict[str, Any] = {}
    with BenchServer() as server:
        if "per_target" in parts:  # growth: dry runs (every read and decision, no mutation for a rate limit to pace)
            report["per_target"] = [
                _run(server, job, size, 0.0, tool, exe, enforce=False)
                for size in sizes
                for job in JOBS
                if job.name != "cleanup-no-final-snapshot"  # its dry run is the clean-up's
                for tool in tools
            ]
        if "side_by_side" in parts:  # the same work done, at 0 and 50 ms a call, EC2's throttling emulated
            report["side_by_side"] = [
                _run(server, job, sizes[0], latency, tool, exe)
                for latency in LATENCIES
                for job in JOBS
                for tool in tools
            ]
        if "two_runs" in parts:
            report["two_runs"] = two_runs(server, sizes[0], 0.0)
        if "organization" in parts:
            report["organization"] = [
                row
                # at 0 ms only: `make run` plays the whole Map in one process, so its wall is CPU-bound under one GIL
                # and injected latency would measure that again; the per-target calls and CPU are what carry over
                for accounts in organizations
                for row in organization_runs(server, accounts, ORG_REGIONS, ORG_RESOURCES_PER_TARGET, 0.0)
            ]
            for row in report["organization"]:
                print(
                    f"bench: organization {row['job']} {row['accounts']} accounts {row['latency_ms']:g} ms: "
                    f"{row['wall_seconds']} s wall, {row['cpu_seconds']} s CPU, {row['status']}",
                    file=sys.stderr,
                )
    return report


def _run(server: Any, job: Any, size: int, latency: float, tool: str, exe: Any, **kw: Any) -> Any:
    """One :func:`tools.bench.compare.run_job`, its line on stderr."""
    from tools.bench.compare import run_job

    started = time.perf_counter()
    row = run_job(server, job, size, latency, tool=tool, custodian=exe, **kw)
    row.pop("command", None)
    print(
        f"bench: {job.name} {row.get('mode', '')} {tool} {size} resources {latency:g} ms: "
        f"{sum(row['calls'].values())} calls, {row['cpu_seconds']} s CPU, {row['wall_seconds']} s wall "
        f"({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    return row


def render(report: dict[str, Any], results: Path, chart_python: str | None) -> None:
    """docs/benchmarks/results.md from ``report``, and the chart from ``results`` (its file) with ``chart_python``."""
    from tools.bench.tables import write_tables

    if "organization" in report and "cost" not in report:  # the bill, from the measured per-target figures
        from tools.bench import cost

        config = cost.shipped_config()
        measured = cost.from_bench(report)
        report["cost"] = cost.rounded(cost.report(measured, config, cost.shipped_deployment(config)))
        results.write_text(json.dumps(report, indent=2, default=str) + "\n")
    DOCS.mkdir(parents=True, exist_ok=True)
    write_tables(report, DOCS / "results.md")
    if chart_python:
        subprocess.run(
            [chart_python, "-m", "tools.bench.chart", str(results), str(DOCS / "calls-cpu.png")],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
            check=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 resources and 10 accounts only (minutes)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help=f"target sizes (default {SIZES})")
    parser.add_argument(
        "--accounts", type=int, nargs="*", default=None, help=f"Organizations (default {ORGANIZATIONS})"
    )
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--no-custodian", action="store_true", help="ours only (no build/c7n)")
    parser.add_argument("--chart-python", default=None, help="the python with matplotlib for the chart")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--render", type=Path, default=None, help="only write the tables and chart of a results.json")
    args = parser.parse_args(argv)
    if args.render is not None:
        render(json.loads(args.render.read_text()), args.render, args.chart_python)
        return 0
    sizes = tuple(args.sizes or ((SIZES[0],) if args.quick else SIZES))
    organizations = tuple(args.accounts or ((ORGANIZATIONS[0],) if args.quick else ORGANIZATIONS))
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")

    sys.stdout, out = sys.stderr, sys.stdout  # handler logs to stderr; the report to stdout
    from tools.bench.imports import import_times, machine

    report: dict[str, Any] = {"date": f"{datetime.now(UTC):%Y-%m-%d}", "machine": machine()}
    args.out.mkdir(parents=True, exist_ok=True)
    # The growth runs mostly wait (on the mock's answers and on our own rate limits): they run beside the rest, in a
    # child with a server of its own, when both are asked for. Each run's CPU is its own process's either way.
    growth = None
    if "per_target" in parts and len(parts) > 1:
        command = [sys.executable, "-m", "tools.bench", "--parts", "per_target", "--out", str(args.out / "growth")]
        command += ["--sizes", *map(str, sizes), *(["--no-custodian"] if args.no_custodian else [])]
        growth = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
        parts.remove("per_target")
    if "imports" in parts:
        report["imports"] = import_times(None, samples=9)
    if "in_process" in parts:
        config = load_config(ROOT / "finops.yaml")
        config = config.model_copy(
            update={"organization": config.organization.model_copy(update={"regions": ("eu-west-1",)})}
        )
        report["in_process"] = in_process(config)
    server_parts = [p for p in parts if p in SERVER_PARTS]
    if server_parts:
        report |= against_server(server_parts, sizes, organizations, custodian=not args.no_custodian)
    if growth is not None:
        answer, _ = growth.communicate()
        if growth.returncode:
            raise SystemExit(f"the growth runs failed (exit {growth.returncode}): see above")
        report["per_target"] = json.loads(answer)["per_target"]
    results = args.out / "results.json"
    results.write_text(json.dumps(report, indent=2) + "\n")
    if set(PARTS) <= set(report):
        render(report, results, args.chart_python)
    json.dump(report, out, indent=2)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
