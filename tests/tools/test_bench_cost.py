"""The cost model of running the product (tools.bench.cost): the formula on hand-computed cases, the runs of a month
from the deployed cadences, the deployment read from the synthesized stacks, and growth with the Organization."""

from __future__ import annotations

import ast
import inspect
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from finops.engine import aggregate as aggregate_module
from finops.handlers import engine_start as engine_start_handler
from finops.models.config import FinOpsConfig, parse_config
from finops.rules.tag_compliance import TYPES
from finops.services.tag_metrics import emit_kpi_metrics
from stacks.hub_stack import WORKER_MEMORY_MB
from tools.bench import cost
from tools.bench.cost import (
    ENGINE_AGGREGATE_METRICS,
    ENGINE_START_FAN_OUT_METRICS,
    ENGINE_START_NOTHING_DUE_METRICS,
    ESTIMATE,
    PRICES,
    Deployment,
    MachineShape,
    Measured,
    RunCounts,
    RunMeasure,
    derive_runs,
    fires,
    monthly_cost,
    states_to,
    tag_kpi_series,
)

HOUR = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def shipped(config: FinOpsConfig) -> Deployment:
    """The shipped stacks, synthesized once for this module (about 15 s)."""
    return cost.shipped_deployment(config)


@pytest.fixture(scope="module")
def shipped_runs(config: FinOpsConfig) -> dict[str, RunCounts]:
    return derive_runs(config)


def variant(config: FinOpsConfig, change: Any) -> FinOpsConfig:
    data = config.model_dump(mode="json")
    change(data)
    return parse_config(data, source="test variant")


# -- a hand-computed month: 1 account x 1 region, one capability ------------------------------------------------------

# Round numbers, so every line can be computed by hand below.
ONE_RUN = RunMeasure(
    start_ms=1000,
    start_ms_per_account=0,
    start_ms_nothing_due=200,
    worker_ms_per_batch=0,
    worker_ms_per_target=2000,
    aggregate_ms=1000,
    aggregate_ms_per_target=0,
    log_bytes_per_run=1024,
    log_bytes_nothing_due=1024,
    log_bytes_per_batch=0,
    log_bytes_per_target=1024,
    ddb_reads_per_run=1,
    ddb_writes_per_run=3,
    ddb_writes_per_target=0,
    s3_puts_per_run=4,
    s3_gets_per_run=4,
    s3_bytes_per_target=0,
)
SMALL = Measured(
    label="hand-computed test case",
    runs={"scheduler": ONE_RUN},
    auto_tagger_events_per_target=0,
    auto_tagger_ms=0,
    auto_tagger_log_bytes=0,
    auto_tagger_ddb_writes=0,
    alerts_per_month=0,
    alert_ms=0,
    alert_log_bytes=0,
    alert_ddb_writes=0,
    secret_reads_per_month=0,
    kms_requests_per_month=0,
)
# One hour: the run at :00 fans out, the ticks at :15, :30 and :45 have nothing due.
ONE_HOUR = {
    "scheduler": RunCounts(
        "scheduler",
        "cron(0/15 * * * ? *)",
        scheduled=4,
        fan_out=1,
        nothing_due=3,
        fan_out_hours=frozenset({HOUR}),
        nothing_due_hours=frozenset({HOUR}),
    )
}


def hand_deployment(child_type: str = "STANDARD", machine_type: str = "STANDARD") -> Deployment:
    return Deployment(
        memory_mb={"engine_start": 512, "engine_aggregate": 512, "scheduler_worker": 1024, "auto_tagger": 512}
        | {"anomaly_alerts": 512},
        machines={"scheduler": MachineShape(machine_type, child_type, 6, 3, 1)},
        alarm_metrics=30,
        kms_keys=3,
        log_retention_days=31,  # = the month: stored GB-months equal the GB ingested
        sqs_event_sources=1,
    )


def line(bill: dict[str, Any], service: str, item: str) -> dict[str, Any]:
    found = [entry for entry in bill["lines"] if (entry["service"], entry["item"]) == (service, item)]
    assert len(found) == 1, f"expected one line {service}/{item}, found {[(e['service'], e['item']) for e in found]}"
    return dict(found[0])


def test_each_line_of_one_account_matches_the_hand_computed_formula(config: FinOpsConfig) -> None:
    bill = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(), runs=ONE_HOUR)

    assert (bill["targets"], bill["batches_per_run"]) == (1, 1)
    expected = {
        # 4 engine_start + 1 worker batch + 1 engine_aggregate = 6 requests x $0.20 / 1M
        ("Lambda", "requests"): 6 * 0.20 / 1e6,
        # (1 run x 1,000 ms + 3 ticks x 200 ms) / 1000 x 0.5 GB = 0.8 GB-s x $0.0000133334
        ("Lambda", "engine_start (scheduler) GB-s"): 0.8 * 0.0000133334,
        # 1 run x 1 target x 2,000 ms / 1000 x 1 GB = 2 GB-s
        ("Lambda", "scheduler_worker GB-s"): 2 * 0.0000133334,
        # 1 run x 1,000 ms / 1000 x 0.5 GB = 0.5 GB-s
        ("Lambda", "engine_aggregate (scheduler) GB-s"): 0.5 * 0.0000133334,
        # 1 run x (6 states + 1 child x (1 start + 1 Worker)) + 3 ticks x 3 states = 17 transitions x $0.000025
        ("Step Functions", "state transitions (Standard)"): 17 * 0.000025,
        # 1 x (1,024 + 1,024) + 3 x 1,024 = 5,120 bytes
        ("CloudWatch", "logs ingested"): 5120 / 1024**3 * 0.50,
        ("CloudWatch", "logs stored (steady state)"): 5120 / 1024**3 * 0.03,
        # 1 run x 3 + 3 ticks x 1 = 6 WRU; 1 + 3 = 4 RRU
        ("DynamoDB", "write request units"): 6 * 0.625 / 1e6,
        ("DynamoDB", "read request units"): 4 * 0.125 / 1e6,
        ("S3", "PUT requests (engine bucket)"): 4 * 0.005 / 1000,
        ("S3", "GET requests (engine bucket)"): 4 * 0.0004 / 1000,
        ("S3", "engine bucket storage"): 0.0,
        ("EventBridge Scheduler", "invocations"): 4 / 1e6,
        # 1 event source x 5 pollers x 3 polls a minute x 31 x 24 x 60 minutes = 669,600 requests
        ("SQS", "long polls of the Slack retry queue (empty receives)"): 669_600 * 0.40 / 1e6,
        # RunsNotStarted 1 h + Targets 1 h + 5 aggregate metrics x 1 h = 7 metric-hours of 744
        ("CloudWatch", "custom metrics (EMF, prorated by the hour)"): 7 / 744 * 0.30,
        ("CloudWatch", "custom metric of the auto-tagger"): 0.0,  # no events
        ("CloudWatch", "alarms"): 30 * 0.10,
        # 4 executions + 1 child execution
        ("X-Ray", "traces recorded"): 5 * 5.00 / 1e6,
        ("KMS", "customer managed keys"): 3 * 1.00,
        ("KMS", "requests"): 0.0,
        ("Secrets Manager", "the Slack secret"): 0.40,
        ("Secrets Manager", "GetSecretValue"): 0.0,
        ("Lambda", "auto_tagger GB-s"): 0.0,
        ("Lambda", "anomaly_alerts GB-s"): 0.0,
        ("EventBridge", "CloudTrail create events to the hub's bus (billed in the member accounts)"): 0.0,
        ("SNS", "alert publishes"): 0.0,
    }
    for (service, item), usd in expected.items():
        assert line(bill, service, item)["usd"] == pytest.approx(usd, rel=1e-9, abs=1e-15), (service, item)
    assert {(e["service"], e["item"]) for e in bill["lines"]} == set(expected)
    assert bill["total_usd"] == pytest.approx(sum(expected.values()))
    # What does not grow with the Organization: SQS polls, metrics, alarms, keys, the secret, the schedules.
    assert bill["fixed_usd"] == pytest.approx(
        669_600 * 0.40 / 1e6 + 7 / 744 * 0.30 + 3.00 + 3.00 + 0.40 + 4 / 1e6, rel=1e-9
    )


def test_the_formula_is_written_out_with_the_numbers(config: FinOpsConfig) -> None:
    bill = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(), runs=ONE_HOUR)

    assert line(bill, "Step Functions", "state transitions (Standard)")["formula"] == (
        "(scheduler: 1 runs × (6 + 0 retried + 1 children × 2) + 3 ticks × 3) × $0.000025 = $0.000425"
    )
    assert line(bill, "Lambda", "scheduler_worker GB-s")["formula"] == (
        "1 runs × (1 batches × 0 ms + 1 targets × 0 ms CPU + 1 waves of up to 10 targets × 2,000 ms waiting) / 1000 "
        "× 1 GB × $0.0000133334 = $0.0000267"
    )


def _engine(config: FinOpsConfig, **engine: int) -> FinOpsConfig:
    return variant(config, lambda data: data.__setitem__("engine", {**(data.get("engine") or {}), **engine}))


@pytest.mark.parametrize(
    ("engine", "cpu_ms", "worker_ms"),
    [
        # 25 targets one at a time: the sum of the targets, 25 x 2,000 ms
        ({"targets_per_invocation": 10, "target_concurrency": 1}, 0, 25 * 2000),
        # 10 at a time in batches of 10 (10, 10, 5): three waves of waiting
        ({"targets_per_invocation": 10, "target_concurrency": 10}, 0, 3 * 2000),
        # 5 at a time: two waves in each full batch, one in the last
        ({"targets_per_invocation": 10, "target_concurrency": 5}, 0, 5 * 2000),
        # the CPU does not overlap: 25 x 500 ms, and three waves of the 1,500 ms left of a target waiting
        ({"targets_per_invocation": 10, "target_concurrency": 10}, 500, 25 * 500 + 3 * 1500),
    ],
)
def test_the_worker_bills_every_target_s_cpu_and_one_wait_per_wave_of_concurrent_targets(
    config: FinOpsConfig, engine: dict[str, int], cpu_ms: float, worker_ms: float
) -> None:
    measured = replace(SMALL, runs={"scheduler": replace(ONE_RUN, worker_cpu_ms_per_target=cpu_ms)})

    bill = monthly_cost(5, 5, measured, config=_engine(config, **engine), deployment=hand_deployment(), runs=ONE_HOUR)

    assert bill["batches_per_run"] == 3
    assert line(bill, "Lambda", "scheduler_worker GB-s")["quantity"] == pytest.approx(worker_ms / 1000)


def test_the_free_tier_is_reported_apart_and_not_taken_off_the_total(config: FinOpsConfig) -> None:
    bill = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(), runs=ONE_HOUR)

    # Everything within an always-free tier here: the Lambda requests and GB-s, the 17 transitions (4,000 free), the
    # 669,600 SQS requests (1M free), 7/744 metric-months (10 free), 10 of the 30 alarm metrics, the logs (5 GB free),
    # the 4 schedule invocations (14M free) and the 5 traces (100,000 free). No free tier: DynamoDB on-demand, S3,
    # KMS keys, the secret, log storage.
    free = (
        6 * 0.20 / 1e6
        + (0.8 + 2 + 0.5) * 0.0000133334
        + 17 * 0.000025
        + 669_600 * 0.40 / 1e6
        + 7 / 744 * 0.30
        + 10 * 0.10
        + 5120 / 1024**3 * 0.50
        + 4 / 1e6
        + 5 * 5.00 / 1e6
    )
    assert bill["free_tier_usd"] == pytest.approx(free, rel=1e-9)
    assert bill["total_after_free_tier_usd"] == pytest.approx(bill["total_usd"] - free, rel=1e-9)


def test_metrics_billed_as_whole_months_when_not_prorated(config: FinOpsConfig) -> None:
    bill = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(), runs=ONE_HOUR, metrics_prorated=False)

    # RunsNotStarted, Targets and the 5 aggregate metrics were published; the alerts' and the auto-tagger's were not.
    metrics = line(bill, "CloudWatch", "custom metrics (EMF, whole months)")
    assert metrics["quantity"] == 7
    assert metrics["usd"] == pytest.approx(7 * 0.30)
    assert not [e for e in bill["lines"] if "prorated" in e["item"] or "auto-tagger" in e["item"]]


def test_an_express_child_is_priced_as_a_request_and_its_duration_not_as_transitions(config: FinOpsConfig) -> None:
    standard = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment("STANDARD"), runs=ONE_HOUR)
    express = monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment("EXPRESS"), runs=ONE_HOUR)

    # Express: the Map still pays one transition per child it starts, the child's own Worker state is not one.
    assert line(express, "Step Functions", "state transitions (Standard)")["quantity"] == 1 * (6 + 1) + 3 * 3
    assert line(express, "Step Functions", "Express child requests (scheduler)")["usd"] == pytest.approx(1 / 1e6)
    # the batch's 2,000 ms (rounded up to 100 ms) x 64 MB = 0.125 GB-s at $0.06 a GB-hour
    assert line(express, "Step Functions", "Express child duration (scheduler)")["usd"] == pytest.approx(
        2.0 * 64 / 1024 * 0.06 / 3600
    )
    assert not [e for e in standard["lines"] if "Express" in e["item"]]


def test_a_parent_that_is_not_standard_is_refused(config: FinOpsConfig) -> None:
    with pytest.raises(ValueError, match="Standard parent"):
        monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(machine_type="EXPRESS"), runs=ONE_HOUR)


def test_a_capability_without_a_measure_is_named(config: FinOpsConfig) -> None:
    runs = {**ONE_HOUR, "ebs_cleanup": RunCounts("ebs_cleanup", "cron(0 6 * * ? *)", 31, 31, 0)}

    with pytest.raises(KeyError, match="ebs_cleanup"):
        monthly_cost(1, 1, SMALL, config=config, deployment=hand_deployment(), runs=runs)


def test_an_empty_organization_is_refused(config: FinOpsConfig) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        monthly_cost(0, 2, SMALL, config=config, deployment=hand_deployment(), runs=ONE_HOUR)


# -- the runs of a month, from the deployed cadences -------------------------------------------------------------------


def test_the_shipped_cadences_give_a_tick_every_15_minutes_and_a_fan_out_every_hour(
    shipped_runs: dict[str, RunCounts],
) -> None:
    scheduler = shipped_runs["scheduler"]
    # 31 days x 96 ticks (cron(0/15 * * * ? *)). Every hour is a reconcile (reconcile_minutes: 60), and the shipped
    # schedules change state only on full hours, so exactly the 744 hourly runs fan out.
    assert (scheduler.schedule, scheduler.scheduled, scheduler.fan_out, scheduler.nothing_due) == (
        "cron(0/15 * * * ? *)",
        2976,
        744,
        2232,
    )
    assert len(scheduler.fan_out_hours) == 744
    # The clean-up at 06:00 and tag compliance at 05:00 UTC, every day, always due.
    assert (shipped_runs["ebs_cleanup"].scheduled, shipped_runs["ebs_cleanup"].fan_out) == (31, 31)
    assert (shipped_runs["tag_compliance"].schedule, shipped_runs["tag_compliance"].fan_out) == (
        "cron(0 5 * * ? *)",
        31,
    )


def test_a_slower_reconcile_fans_out_only_at_reconciles_and_at_transitions(config: FinOpsConfig) -> None:
    def one_utc_schedule(data: dict[str, Any]) -> None:
        scheduler = data["capabilities"]["scheduler"]
        scheduler["reconcile_minutes"] = 240
        scheduler["schedules"] = {
            "office-hours": {
                "timezone": "Etc/UTC",
                "periods": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "stop": "19:00"}],
            }
        }

    runs = derive_runs(variant(config, one_utc_schedule))["scheduler"]

    # March 2027 starts on a Monday: 23 weekdays, 8 weekend days. A weekday fans out at the 6 reconciles (00, 04, ...
    # 20 h) and at the start (07:00) and the stop (19:00); a weekend day at the 6 reconciles only.
    assert runs.fan_out == 23 * 8 + 8 * 6
    assert runs.nothing_due == 2976 - (23 * 8 + 8 * 6)


def test_the_tick_comes_from_the_config_and_a_disabled_capability_has_no_runs(config: FinOpsConfig) -> None:
    def half_hourly_without_tag_compliance(data: dict[str, Any]) -> None:
        data["capabilities"]["scheduler"]["tick_minutes"] = 30
        data["capabilities"]["tag_compliance"]["enabled"] = False

    runs = derive_runs(variant(config, half_hourly_without_tag_compliance))

    assert runs["scheduler"].schedule == "cron(0/30 * * * ? *)"
    assert runs["scheduler"].scheduled == 31 * 48
    assert "tag_compliance" not in runs


def test_fires_counts_the_engine_s_cron_forms_and_rates() -> None:
    day = (HOUR, HOUR + timedelta(days=1))

    assert len(fires("cron(0/15 * * * ? *)", *day)) == 96
    assert fires("cron(30 6 * * ? *)", *day) == [HOUR.replace(hour=6, minute=30)]
    assert len(fires("cron(0 0/6 * * ? *)", *day)) == 4
    assert len(fires("rate(1 day)", HOUR, HOUR + timedelta(days=31))) == 31
    with pytest.raises(ValueError, match=r"cron\(0 8 \? \* MON \*\)"):
        fires("cron(0 8 ? * MON *)", *day)


# -- the deployment, read from the synthesized stacks ------------------------------------------------------------------


def test_the_deployment_is_read_from_the_synthesized_stacks(shipped: Deployment) -> None:
    assert shipped.memory_mb["scheduler_worker"] == WORKER_MEMORY_MB
    assert shipped.memory_mb["engine_start"] == 512
    for capability in ("scheduler", "ebs_cleanup", "tag_compliance"):
        # Standard state machines and Standard children: Start, AnythingDue, Targets, Aggregate, AnythingFailed, Done
        # when the run fans out; Start, AnythingDue, NothingDue when not; the child enters Worker.
        assert shipped.machines[capability] == MachineShape("STANDARD", "STANDARD", 6, 3, 1)
    # 25 alarms in the hub, 5 of them metric math over two metrics (the Slack backlog, the three run-failed alarms,
    # the redirected alerts); the three topic keys (alarms in the hub; anomalies and budgets in the management account).
    assert shipped.alarm_metrics == 30
    assert shipped.kms_keys == 3
    assert shipped.log_retention_days == 30
    assert shipped.sqs_event_sources == 1  # the Slack retry queue's


def test_the_shipped_deployment_prices_standard_transitions_and_no_express(
    shipped: Deployment, shipped_runs: dict[str, RunCounts], config: FinOpsConfig
) -> None:
    bill = monthly_cost(1000, 2, ESTIMATE, config=config, deployment=shipped, runs=shipped_runs)

    transitions = line(bill, "Step Functions", "state transitions (Standard)")
    # 2,000 targets in 200 batches of 10 (engine.targets_per_invocation): per fan-out run 6 + 200 x 2; per quiet tick 3.
    assert transitions["quantity"] == (744 + 31 + 31) * (6 + 200 * 2) + 2232 * 3
    assert transitions["usd_per_unit"] == PRICES.sfn_standard_transition.usd
    assert not [e for e in bill["lines"] if "Express" in e["item"]]


def test_states_to_counts_the_states_a_path_enters() -> None:
    asl = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "Choose"},
            "Choose": {"Type": "Choice", "Choices": [{"Next": "B"}], "Default": "Quiet"},
            "Quiet": {"Type": "Succeed"},
            "B": {"Type": "Task", "Next": "C"},
            "C": {"Type": "Task", "End": True},
        },
    }

    assert states_to(asl, "Quiet") == 3
    assert states_to(asl, "C") == 4
    assert states_to(asl, None) == 3  # the first end reached: Quiet
    with pytest.raises(KeyError, match="Nowhere"):
        states_to(asl, "Nowhere")


# -- growth, metrics --------------------------------------------------------------------------------------------------


def test_the_bill_grows_with_the_accounts_and_its_fixed_part_does_not(
    shipped: Deployment, shipped_runs: dict[str, RunCounts], config: FinOpsConfig
) -> None:
    bills = [
        monthly_cost(accounts, 2, ESTIMATE, config=config, deployment=shipped, runs=shipped_runs)
        for accounts in (1, 10, 100, 1000)
    ]

    totals = [bill["total_usd"] for bill in bills]
    assert totals == sorted(totals)
    assert len(set(totals)) == 4
    assert len({round(bill["fixed_usd"], 9) for bill in bills}) == 1
    for small, large in itertools.pairwise(bills):
        for service, usd in small["by_service"].items():
            assert large["by_service"][service] >= usd, service


def test_the_tag_kpi_series_are_what_tag_compliance_emits(
    config: FinOpsConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    counts = {"total": 10, "compliant": 7}
    kpis = {
        "resources": counts,
        "by_team": {"payments": counts, "data": counts, "platform": counts, "": counts},  # the taxonomy's + none
        "by_type": dict.fromkeys(TYPES, counts),
        "spend": {"percent_attributable": 80.0},
    }

    emitted = emit_kpi_metrics(kpis)

    documents = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")]
    names = [m["Name"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert emitted == len(names) == tag_kpi_series(config) == 2 * (1 + 4 + 5) + 1


def test_the_engine_metrics_priced_are_the_ones_the_engine_emits() -> None:
    def emitted_names(module: Any) -> set[str]:
        tree = ast.parse(Path(inspect.getfile(module)).read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                for keyword in node.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        names.add(str(keyword.value.value))
            if isinstance(node, ast.For) and "add_metric" in ast.unparse(node):
                names |= {
                    str(c.value)
                    for c in ast.walk(node.iter)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
        return names

    assert emitted_names(engine_start_handler) == {*ENGINE_START_NOTHING_DUE_METRICS, *ENGINE_START_FAN_OUT_METRICS}
    assert emitted_names(aggregate_module) == set(ENGINE_AGGREGATE_METRICS)


def test_every_price_names_its_source_and_when_it_was_read() -> None:
    for row in PRICES.table():
        assert row["usd"] > 0, row["price"]
        assert row["source"].startswith("https://"), row["price"]
        assert row["as_of"], row["price"]


def test_the_bench_measures_a_targets_cpu_and_calls_as_the_slope_over_organizations() -> None:
    # Given organization runs whose CPU is 1.5 s of start-up plus 40 ms a target, and 7 calls a target plus 3
    def run(job: str, targets: int) -> dict[str, Any]:
        calls = {"ec2:DescribeInstances": 7 * targets + 3}
        return {
            "job": job,
            "targets": targets,
            "latency_ms": 0.0,
            "returncode": 0,
            "cpu_seconds": 1.5 + 0.04 * targets,
            "calls": calls,
        }

    report = {
        "date": "2026-12-03",
        "organization": [run(job, t) for job in ("stop", "cleanup") for t in (20, 200, 2000)],
    }

    # When the bill's inputs are taken from them
    measured = cost.from_bench(report, memory_mb=1024)

    # Then a target costs the slope, not the start-up, scaled to the function's share of a vCPU
    scheduler = measured.runs["scheduler"]
    assert scheduler.worker_cpu_ms_per_target == pytest.approx(40 * 1769 / 1024, abs=0.1)
    assert scheduler.worker_ms_per_target == pytest.approx(7 * 50 + 40 * 1769 / 1024, abs=0.1)
    assert measured.runs["tag_compliance"] == cost.ESTIMATE.runs["tag_compliance"]  # not measured: the estimate's
    assert measured.label.startswith("MEASURED by make bench (2026-12-03)")
