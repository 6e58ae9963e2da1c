"""The product's own AWS bill per month (issue 8): a formula over what a run measurably does, priced with dated,
sourced list prices (us-east-1, on-demand, without the free tier; what the free tier would cover is reported apart).

Three inputs, kept apart so each can be checked and replaced on its own:

- :class:`Prices`: one :class:`Price` per billed unit, each with its source and the date it was read (:data:`PRICES`).
- :class:`Deployment`: what the stacks deploy, read from the synthesized templates (:meth:`Deployment.from_templates`):
  memory per function, Standard or Express state machines and Map children, the states each run enters, alarm
  metrics, KMS keys, log retention, SQS event sources.
- :class:`Measured`: what one run does in its own units (milliseconds, log bytes, request units per run, per batch
  and per target), which the benchmark measures. :data:`ESTIMATE` is a labelled estimate, not a measurement.

:func:`derive_runs` counts the runs of a month from the deployed schedules (``stacks.hub_stack.RUN_SCHEDULES``) and
decides each one with the product's own ``start_run``: a tick with nothing due enters three states and fans out
nowhere; a reconcile or a due transition fans out to every target. :func:`monthly_cost` turns the three inputs into
line items, each with its formula written out, and totals.

``python -m tools.bench.cost`` prints the price table, the derived runs and the totals at 10, 100 and 1,000 accounts
x 2 regions for :data:`ESTIMATE` (synthesizes the stacks once: about 15 s).
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from finops.aws.organizations import Enumeration
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.request import RunRequest
from finops.engine.start import start_run
from finops.engine.state import MemoryRunState
from finops.handlers import CAPABILITY_WORKERS, HANDLERS
from finops.models.config import FinOpsConfig, load_config
from finops.rules.tag_compliance import TYPES as TAG_COMPLIANCE_TYPES
from finops.runtime import engine_capability
from finops.services.tag_metrics import MAX_TEAMS
from stacks.constructs.run_engine import DONE, NOTHING_DUE, OBJECT_EXPIRY, definition
from stacks.hub_stack import RUN_ENABLED, RUN_SCHEDULES, WORKER_MEMORY_MB
from stacks.naming import resource_name

ROOT = Path(__file__).resolve().parents[2]
RETRIEVED = "2026-12-02"  # when the prices below were read (through the search corpus of stored public pages)
AS_RETRIEVED = f"as retrieved {RETRIEVED}; the page shows no date"
# A month of 31 days (the longest: an upper bound), starting on a Monday. Ticks run on the UTC grid.
MONTH_START = datetime(2027, 3, 1, tzinfo=UTC)
MONTH_DAYS = 31
GB = 1024**3

# The engine's own metrics (Powertools EMF, dimension service=<function>): what engine_start emits on a run that
# starts nothing and on one that fans out (finops/handlers/engine_start.py), and what engine_aggregate emits on every
# run (finops/engine/aggregate.py). They carry no capability dimension: one series each, whichever capability ran.
ENGINE_START_NOTHING_DUE_METRICS: tuple[str, ...] = ("RunsNotStarted",)
ENGINE_START_FAN_OUT_METRICS: tuple[str, ...] = ("Targets",)
ENGINE_AGGREGATE_METRICS: tuple[str, ...] = (
    "TargetsFailed",
    "TargetsPaused",
    "TargetsHeld",
    "ActionsDone",
    "ActionsFailed",
)


# -- prices ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """``usd`` per ``unit``, read from ``source`` on ``as_of``. ``free_per_month`` is the free tier in the same unit
    (the model prices without it and reports what it would cover)."""

    usd: float
    unit: str
    source: str
    as_of: str
    free_per_month: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class Prices:
    """Every price the model uses, us-east-1, on-demand, first tier."""

    lambda_request: Price
    lambda_arm_gb_second: Price
    sfn_standard_transition: Price
    sfn_express_request: Price
    sfn_express_gb_second: Price
    dynamodb_write_request_unit: Price
    dynamodb_read_request_unit: Price
    sqs_request: Price
    scheduler_invocation: Price
    eventbridge_cross_account_event: Price
    logs_ingested_gb: Price
    logs_stored_gb_month: Price
    custom_metric_month: Price
    alarm_metric_month: Price
    xray_trace_recorded: Price
    kms_key_month: Price
    kms_request: Price
    secret_month: Price
    secret_api_call: Price
    s3_put_request: Price
    s3_get_request: Price
    s3_stored_gb_month: Price
    sns_publish: Price
    cost_explorer_request: Price
    cloudtrail_paid_management_event: Price

    def table(self) -> list[dict[str, Any]]:
        return [{"price": name, **asdict(price)} for name, price in vars(self).items()]


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_SFN = "https://aws.amazon.com/step-functions/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"
_EB = "https://aws.amazon.com/eventbridge/pricing/"
_KMS = "https://aws.amazon.com/kms/pricing/"

PRICES = Prices(
    lambda_request=Price(
        0.20 / 1e6,
        "request",
        _LAMBDA,
        AS_RETRIEVED,
        free_per_month=1e6,
        note="$0.20 per 1M requests; the same for x86 and Arm. The page's figures were confirmed by a third-party "
        "table (git.mcrn.ar lambda_local_runner docs) with the same numbers.",
    ),
    lambda_arm_gb_second=Price(
        0.0000133334,
        "GB-second (Arm)",
        _LAMBDA,
        AS_RETRIEVED,
        free_per_month=400_000,
        note="Arm, first 7.5 billion GB-s a month (figure from cloudchipr.com/blog/aws-lambda-pricing, which quotes "
        "the page). Billed duration includes the INIT phase of cold starts: measure it in.",
    ),
    sfn_standard_transition=Price(
        0.025 / 1000,
        "state transition (Standard)",
        _SFN,
        AS_RETRIEVED,
        free_per_month=4000,
        note="$0.0250 per 1,000 in US East (N. Virginia); retries count. A Distributed Map is charged one transition "
        "for each child workflow execution it starts "
        "(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html), on top of the child's "
        "own transitions when the child is Standard.",
    ),
    sfn_express_request=Price(
        1.00 / 1e6,
        "Express execution request",
        _SFN,
        AS_RETRIEVED,
        note="$1.00 per 1M requests (the page's Express pricing example). No free tier for Express.",
    ),
    sfn_express_gb_second=Price(
        0.06 / 3600,
        "Express GB-second",
        _SFN,
        AS_RETRIEVED,
        note="$0.06000 per GB-hour for the first 1,000 GB-hours (the page's Express example, read through a mirror "
        "of it, mdsite.deno.dev); duration rounded up to 100 ms, memory billed in 64 MB chunks. Express executions "
        "run at most 5 minutes.",
    ),
    dynamodb_write_request_unit=Price(
        0.625 / 1e6,
        "write request unit (on-demand)",
        _DDB,
        "not read from the AWS page itself; airbyte.com/data-engineering-resources/dynamodb-pricing (July 21, 2025)",
        note="$0.625 per million since the 50 % on-demand price cut of November 2024. One WRU writes 1 KB.",
    ),
    dynamodb_read_request_unit=Price(
        0.125 / 1e6,
        "read request unit (on-demand)",
        _DDB,
        "not read from the AWS page itself; airbyte.com/data-engineering-resources/dynamodb-pricing (July 21, 2025)",
        note="One RRU: a strongly consistent read up to 4 KB (an eventually consistent read is half).",
    ),
    sqs_request=Price(
        0.40 / 1e6,
        "SQS request (standard queue)",
        "https://aws.amazon.com/sqs/pricing/",
        "not read from the AWS page itself; unanswered.io and cloudburn.io SQS pricing guides (March 2026)",
        free_per_month=1e6,
        note="Every 64 KB chunk of a request is one request. Empty receives of a Lambda event source's long polls "
        "are billed (https://aws.amazon.com/premiumsupport/knowledge-center/sqs-high-charges/).",
    ),
    scheduler_invocation=Price(
        1.00 / 1e6,
        "EventBridge Scheduler invocation",
        _EB,
        "not read from the AWS page itself; cloudburn.io/blog/amazon-eventbridge-pricing (March 13, 2026)",
        free_per_month=14e6,
    ),
    eventbridge_cross_account_event=Price(
        1.00 / 1e6,
        "event delivered to another account's bus",
        _EB,
        "not read from the AWS page itself; cloudburn.io/blog/amazon-eventbridge-pricing (March 13, 2026)",
        note="Billed in the sending (member) account; the CloudTrail events on the default bus are free to match.",
    ),
    logs_ingested_gb=Price(
        0.50,
        "GB of logs ingested",
        _CW,
        "not read from the AWS page itself; hykell.com CloudWatch Logs pricing guide and duckbillgroup.com on the "
        "May 2025 Lambda log tiers",
        free_per_month=5,
        note="Standard class, us-east-1. Lambda logs (vended since May 2025) start at the same $0.50 for the first "
        "10 TB; Step Functions' vended logs likewise. The free 5 GB is shared with storage and Logs Insights scans.",
    ),
    logs_stored_gb_month=Price(
        0.03,
        "GB-month of logs stored",
        _CW,
        "not read from the AWS page itself; hykell.com CloudWatch Logs pricing guide",
        note="Charged on the compressed size; the model charges the raw size (an upper bound).",
    ),
    custom_metric_month=Price(
        0.30,
        "custom metric-month",
        _CW,
        "not read from the AWS page itself; cal53.calculator.city CloudWatch custom metrics calculator",
        free_per_month=10,
        note="First 10,000 metrics. Prorated by the hour in which a metric is published (the pricing page says so; "
        "the wording was not retrieved here): a metric sent one hour a day costs about 1/24 of a metric-month.",
    ),
    alarm_metric_month=Price(
        0.10,
        "alarm metric-month (standard resolution)",
        _CW,
        "not read from the AWS page itself; c3x.dev aws_cloudwatch_metric_alarm cost notes",
        free_per_month=10,
        note="A metric-math alarm is billed per metric it reads (the free tier's '10 alarm metrics' applies only to "
        "alarms that list metrics directly); the expression itself is not a metric.",
    ),
    xray_trace_recorded=Price(
        5.00 / 1e6,
        "X-Ray trace recorded",
        "https://aws.amazon.com/xray/pricing/",
        f"{AS_RETRIEVED} (German and Chinese editions of the page)",
        free_per_month=100_000,
        note="A trace is one request end to end. The default sampling rule records 1 request a second and 5 % of the "
        "rest (awsnegotiations.com X-Ray pricing strategy).",
    ),
    kms_key_month=Price(
        1.00,
        "customer managed KMS key-month",
        _KMS,
        AS_RETRIEVED,
        note="With automatic rotation each newly generated backing key adds $1/month; since AWS's April 2024 change "
        "only the first two rotations are charged (canglad.com 2023 post, updated for that change): $1 in year one, "
        "$2 in year two, $3 from year three, per key.",
    ),
    kms_request=Price(0.03 / 10_000, "KMS request", _KMS, AS_RETRIEVED, free_per_month=20_000),
    secret_month=Price(
        0.40,
        "Secrets Manager secret-month",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "not read from the AWS page itself; hivebook.wiki Secrets Manager overview",
        note="The Slack secret: created by the platform team as a prerequisite, but the product needs it.",
    ),
    secret_api_call=Price(
        0.05 / 10_000,
        "Secrets Manager API call",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "not read from the AWS page itself; hivebook.wiki Secrets Manager overview",
    ),
    s3_put_request=Price(
        0.005 / 1000,
        "S3 PUT/COPY/POST/LIST request",
        "https://aws.amazon.com/s3/pricing/",
        "not read from the AWS page itself (its stored copy lists no figures); the long-standing S3 Standard list "
        "price",
    ),
    s3_get_request=Price(
        0.0004 / 1000,
        "S3 GET request",
        "https://aws.amazon.com/s3/pricing/",
        "not read from the AWS page itself; the long-standing S3 Standard list price",
    ),
    s3_stored_gb_month=Price(
        0.023,
        "S3 Standard GB-month",
        "https://aws.amazon.com/s3/pricing/",
        "not read from the AWS page itself; deepeshsoni.com and cloudtoggle.com S3 pricing guides",
    ),
    sns_publish=Price(
        0.50 / 1e6,
        "SNS publish (64 KB chunk)",
        "https://aws.amazon.com/sns/pricing/",
        "not read from the AWS page itself; the long-standing list price",
        free_per_month=1e6,
        note="Deliveries to Lambda are free.",
    ),
    cost_explorer_request=Price(
        0.01,
        "Cost Explorer API request",
        "https://aws.amazon.com/aws-cost-management/aws-cost-explorer/pricing/",
        AS_RETRIEVED,
        note="'Each request will incur a cost of $0.01': each page of GetCostAndUsage is a request.",
    ),
    cloudtrail_paid_management_event=Price(
        2.00 / 100_000,
        "management event recorded by an additional trail",
        "https://aws.amazon.com/cloudtrail/pricing/",
        "not read from the AWS page itself; the long-standing list price",
        note="The first copy of management events is free; only a second trail (or CloudTrail Lake) bills the "
        "workers' Describe calls in the member accounts. Priced only when Measured.cloudtrail_paid_copies > 0.",
    ),
)


# -- what the stacks deploy --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineShape:
    """One capability's state machine as synthesized: its type, its Distributed Map's child execution type, and how
    many states a run enters on each path (each entered state is one transition)."""

    machine_type: str
    child_type: str
    fan_out_states: int  # Start -> AnythingDue -> Targets -> Aggregate -> AnythingFailed -> Done
    nothing_due_states: int  # Start -> AnythingDue -> NothingDue
    child_states: int  # the Map's item processor: Worker


@dataclass(frozen=True)
class Deployment:
    """What the model needs to know of the synthesized stacks (:meth:`from_templates`)."""

    memory_mb: Mapping[str, int]  # handler name (HANDLERS) -> MemorySize
    machines: Mapping[str, MachineShape]  # capability -> its state machine
    alarm_metrics: int
    kms_keys: int
    log_retention_days: int
    sqs_event_sources: int

    @classmethod
    def from_templates(cls, hub: Mapping[str, Any], *others: Mapping[str, Any]) -> Deployment:
        """Read from the hub's template (``Template.to_json()``) and the other stacks' (KMS keys and alarms there
        count too: the management stack's topic keys)."""
        resources: Mapping[str, Any] = hub["Resources"]
        by_function_name = {resource_name(name): name for name in HANDLERS}
        memory: dict[str, int] = {}
        for resource in _of_type(resources, "AWS::Lambda::Function"):
            props = resource["Properties"]
            name = by_function_name.get(props.get("FunctionName"))
            if name is None:
                raise KeyError(f"function {props.get('FunctionName')!r} in the hub template is not in HANDLERS")
            if props.get("Architectures") != ["arm64"]:
                raise ValueError(f"{props['FunctionName']} is not arm64: the model prices Arm GB-seconds only")
            memory[name] = int(props.get("MemorySize", 128))
        arns = {name: f"arn:aws:lambda:us-east-1:000000000000:function:{resource_name(name)}" for name in HANDLERS}
        machines: dict[str, MachineShape] = {}
        for resource in _of_type(resources, "AWS::StepFunctions::StateMachine"):
            machine_name = resource["Properties"]["StateMachineName"]
            capability = next((c for c in CAPABILITY_WORKERS if resource_name(c) == machine_name), None)
            if capability is None:
                raise KeyError(f"state machine {machine_name!r} is not a capability's (CAPABILITY_WORKERS)")
            machines[capability] = machine_shape(
                definition(hub, machine_name, arns), resource["Properties"].get("StateMachineType", "STANDARD")
            )
        templates = (hub, *others)
        alarms = [r["Properties"] for t in templates for r in _of_type(t["Resources"], "AWS::CloudWatch::Alarm")]
        retention = {
            int(r["Properties"]["RetentionInDays"])
            for r in _of_type(resources, "AWS::Logs::LogGroup")
            if "RetentionInDays" in r["Properties"]
        }
        if not retention:
            raise ValueError("no log group in the hub template has a retention: logs would be kept forever")
        return cls(
            memory_mb=memory,
            machines=machines,
            alarm_metrics=sum(_alarm_metric_count(alarm) for alarm in alarms),
            kms_keys=sum(len(list(_of_type(t["Resources"], "AWS::KMS::Key"))) for t in templates),
            log_retention_days=max(retention),
            sqs_event_sources=sum(
                1
                for r in _of_type(resources, "AWS::Lambda::EventSourceMapping")
                if _is_queue(resources, r["Properties"].get("EventSourceArn"))
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _of_type(resources: Mapping[str, Any], kind: str) -> Iterable[Mapping[str, Any]]:
    return (r for r in resources.values() if r["Type"] == kind)


def _is_queue(resources: Mapping[str, Any], arn: object) -> bool:
    """An event source ARN that is an SQS queue of the template (``Fn::GetAtt [<queue>, Arn]``) or names one."""
    if isinstance(arn, Mapping) and "Fn::GetAtt" in arn:
        logical_id = arn["Fn::GetAtt"][0]
        return bool(resources.get(logical_id, {}).get("Type") == "AWS::SQS::Queue")
    return isinstance(arn, str) and arn.startswith("arn:aws:sqs:")


def _alarm_metric_count(alarm: Mapping[str, Any]) -> int:
    """A single-metric alarm reads one metric; a metric-math alarm, each ``MetricStat`` it lists."""
    if "Metrics" in alarm:
        return sum(1 for query in alarm["Metrics"] if "MetricStat" in query)
    return 1


def machine_shape(asl: Mapping[str, Any], machine_type: str) -> MachineShape:
    """The states a run enters on the way to ``Done`` (it fanned out) and to ``NothingDue``, and the Map's child
    states, walked in the definition itself."""
    maps = [state for state in asl["States"].values() if state["Type"] == "Map"]
    if len(maps) != 1:
        raise ValueError(f"expected one Map state in the run engine's definition, found {len(maps)}")
    processor = maps[0].get("ItemProcessor") or {}
    config = processor.get("ProcessorConfig") or {}
    if config.get("Mode") != "DISTRIBUTED":
        raise ValueError("the run engine's Map is not a Distributed Map: the model prices child executions")
    return MachineShape(
        machine_type=machine_type,
        child_type=str(config.get("ExecutionType", "STANDARD")),
        fan_out_states=states_to(asl, DONE),
        nothing_due_states=states_to(asl, NOTHING_DUE),
        child_states=states_to(processor, None),
    )


def states_to(asl: Mapping[str, Any], goal: str | None) -> int:
    """How many states the shortest path from ``StartAt`` to ``goal`` enters, both ends included (``None``: to the
    first state that ends the workflow)."""
    states: Mapping[str, Any] = asl["States"]
    frontier = [(str(asl["StartAt"]), 1)]
    seen: set[str] = set()
    while frontier:
        name, depth = frontier.pop(0)
        state = states[name]
        ends = state.get("End") or state["Type"] in ("Succeed", "Fail")
        if name == goal or (goal is None and ends):
            return depth
        seen.add(name)
        following = [state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", []))]
        frontier += [(n, depth + 1) for n in following if n and n not in seen]
    raise KeyError(f"no path from {asl['StartAt']!r} to {goal or 'an end state'!r}")


# -- runs per month ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCounts:
    """One capability's runs in the month: every scheduled start, and what ``start_run`` decided for each."""

    capability: str
    schedule: str
    scheduled: int
    fan_out: int
    nothing_due: int
    fan_out_hours: frozenset[datetime] = field(default=frozenset(), repr=False)
    nothing_due_hours: frozenset[datetime] = field(default=frozenset(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "scheduled": self.scheduled,
            "fan_out": self.fan_out,
            "nothing_due": self.nothing_due,
            "hours_with_a_fan_out": len(self.fan_out_hours),
        }


def derive_runs(config: FinOpsConfig, *, start: datetime = MONTH_START, days: int = MONTH_DAYS) -> dict[str, RunCounts]:
    """Every deployed schedule's starts in ``days`` from ``start`` (``RUN_SCHEDULES``, less what ``RUN_ENABLED``
    switches off), each decided by the product's ``start_run`` as ``engine_start`` would: a run that fans out
    completes (as the aggregate would), one with nothing due completes in ``start_run`` itself."""
    end = start + timedelta(days=days)
    counts: dict[str, RunCounts] = {}
    for capability in CAPABILITY_WORKERS:
        if capability in RUN_ENABLED and not RUN_ENABLED[capability](config.capabilities):
            continue
        if capability not in RUN_SCHEDULES:
            raise KeyError(f"no run schedule for {capability!r} in stacks.hub_stack.RUN_SCHEDULES")
        expression = RUN_SCHEDULES[capability](config.capabilities).expression
        zone = expression.time_zone.timezone_name if expression.time_zone else "Etc/UTC"
        if zone not in ("UTC", "Etc/UTC"):
            raise ValueError(f"{capability}'s schedule is in {zone}: derive_runs reads UTC schedules only")
        spec, _ = engine_capability(capability, config)
        state = MemoryRunState()
        fan_out: set[datetime] = set()
        nothing_due: set[datetime] = set()
        fired = fires(expression.expression_string, start, end)
        for n, at in enumerate(fired):
            run_id = f"cost-{capability}-{n}"
            decision = start_run(
                spec,
                RunRequest(capability=capability, time=at),
                config=config,
                run_id=run_id,
                state=state,
                kill_switch=NoKillSwitch(),
                enumerate_targets=lambda: Enumeration(targets=[]),
            )
            if decision.failed:
                raise RuntimeError(f"{capability} at {at:%Y-%m-%d %H:%M}Z could not be decided: {decision.reason}")
            if decision.fan_out:
                state.complete(capability, at, run_id)
                fan_out.add(at)
            else:
                nothing_due.add(at)
        counts[capability] = RunCounts(
            capability=capability,
            schedule=expression.expression_string,
            scheduled=len(fired),
            fan_out=len(fan_out),
            nothing_due=len(nothing_due),
            fan_out_hours=frozenset(at.replace(minute=0) for at in fan_out),
            nothing_due_hours=frozenset(at.replace(minute=0) for at in nothing_due),
        )
    return counts


_CRON = re.compile(r"cron\((\S+) (\S+) \* \* \? \*\)")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")


def fires(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end) at which ``expression`` fires: the run engine's forms ``cron(<minute> <hour> * *
    ? *)`` (each field ``*``, ``n`` or ``n/step``) in UTC, and ``rate(n unit)`` counted from ``start``."""
    rate = _RATE.fullmatch(expression)
    if rate:
        step = timedelta(**{rate[2].rstrip("s") + "s": int(rate[1])})
        return [start + step * n for n in range(math.ceil((end - start) / step))]
    cron = _CRON.fullmatch(expression)
    if cron is None:
        raise ValueError(f"cannot count the fires of {expression!r}: only cron(<min> <hour> * * ? *) and rate(...)")
    minutes, hours = _field(cron[1], 60, expression), _field(cron[2], 24, expression)
    found: list[datetime] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        found += [
            at for hour in hours for minute in minutes if start <= (at := day.replace(hour=hour, minute=minute)) < end
        ]
        day += timedelta(days=1)
    return found


def _field(text: str, size: int, expression: str) -> list[int]:
    if text == "*":
        return list(range(size))
    first, _, step = text.partition("/")
    if not first.isdigit() or (step and not step.isdigit()) or int(first) >= size:
        raise ValueError(f"cannot read the field {text!r} of {expression!r}")
    return list(range(int(first), size, int(step))) if step else [int(first)]


# -- what a run does (measured) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMeasure:
    """One capability's run in its own units. Milliseconds are billed durations (the INIT of a cold start included);
    log bytes are what reaches CloudWatch Logs (platform lines and EMF documents included)."""

    start_ms: float  # engine_start on a run that fans out, without the per-account enumeration
    start_ms_per_account: float  # the enumeration: one ListTagsForResource per account, pages of accounts and OUs
    start_ms_nothing_due: float  # engine_start on a tick with nothing due
    worker_ms_per_batch: float  # the worker's fixed part per invocation (INIT share, config, kill switch)
    worker_ms_per_target: float  # assume role, read, plan, apply, verify: one target, alone
    aggregate_ms: float
    aggregate_ms_per_target: float
    log_bytes_per_run: int  # engine_start + engine_aggregate + the parent execution's events
    log_bytes_nothing_due: int  # engine_start + the execution's events
    log_bytes_per_batch: int  # the worker invocation's platform lines + the child execution's events
    log_bytes_per_target: int  # the worker's lines about one target
    ddb_reads_per_run: float  # read request units: the state item (a consistent read)
    ddb_writes_per_run: float  # write request units: the state item, two once-only records per digest posted
    ddb_writes_per_target: float  # write request units: audit records
    s3_puts_per_run: int  # targets file, the Map's manifest and result files, the summary
    s3_gets_per_run: int  # the Map's item reader, the aggregate's reads
    s3_bytes_per_target: int  # stored until the bucket expires it
    ddb_reads_nothing_due: float = 1.0
    ddb_writes_nothing_due: float = 1.0
    cost_explorer_requests_per_run: int = 0
    sqs_sends_per_run: float = 0.0  # Slack messages parked on the retry queue
    retried_transitions_per_run: float = 0.0
    # The part of worker_ms_per_target the worker's CPU is busy (parsing, planning, signing): the targets a worker
    # runs at once (engine.target_concurrency) overlap their waits on AWS, but not this (one process, one GIL, the
    # function's share of a vCPU). 0: all waiting.
    worker_cpu_ms_per_target: float = 0.0


@dataclass(frozen=True)
class Measured:
    """What the benchmark measures (or :data:`ESTIMATE` estimates), per capability run and for the event-driven
    functions. ``label`` says which it is and from when."""

    label: str
    runs: Mapping[str, RunMeasure]
    auto_tagger_events_per_target: float  # forwarded CloudTrail create events per account and region a month
    auto_tagger_ms: float
    auto_tagger_log_bytes: int
    auto_tagger_ddb_writes: float  # once-only record (2) + audit
    alerts_per_month: float  # anomaly and budget alerts reaching the hub
    alert_ms: float
    alert_log_bytes: int
    alert_ddb_writes: float
    secret_reads_per_month: float  # GetSecretValue: once per cold start of a function that posts
    kms_requests_per_month: float  # SNS, SQS and DynamoDB on the product's behalf
    xray_sampled_fraction: float = 1.0  # of executions and invocations recorded as traces (1.0: an upper bound)
    sqs_pollers: int = 5  # Lambda's long pollers per SQS event source when the queue is idle (an assumption)
    sqs_poll_wait_seconds: int = 20
    cloudtrail_paid_copies: int = 0  # extra trails recording management events ($2.00 per 100,000 events each)
    member_api_calls_per_target: float = 0.0  # the workers' calls in member accounts (for cloudtrail_paid_copies)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _estimate_run(**overrides: Any) -> RunMeasure:
    base: dict[str, Any] = {
        "start_ms": 1500,
        "start_ms_per_account": 80,
        "start_ms_nothing_due": 400,
        "worker_ms_per_batch": 500,
        "worker_ms_per_target": 1000,
        "worker_cpu_ms_per_target": 250,
        "aggregate_ms": 1500,
        "aggregate_ms_per_target": 2,
        "log_bytes_per_run": 15_000,
        "log_bytes_nothing_due": 9_000,
        "log_bytes_per_batch": 5_000,
        "log_bytes_per_target": 2_000,
        "ddb_reads_per_run": 1,
        "ddb_writes_per_run": 3,
        "ddb_writes_per_target": 0.02,
        "s3_puts_per_run": 4,
        "s3_gets_per_run": 4,
        "s3_bytes_per_target": 3_000,
    }
    return RunMeasure(**(base | overrides))


ESTIMATE = Measured(
    label=(
        "ESTIMATE, not measured (2026-12-02): durations from typical cross-region API latencies (80-150 ms a call, "
        "sequential within a target; a batch's targets engine.target_concurrency at a time, their waits overlapping "
        "but not their CPU: 250 ms a scheduler target, from 134-189 ms of CPU measured per target against the bench's "
        "moto server on 2026-12-03 with the hub session's service models shared, scaled by 1769/1024 for the "
        "1024 MB function's share of a vCPU; 400 ms estimated for the clean-up and tag compliance), log sizes from "
        "the JSON log lines and Step Functions' ALL-level events, CloudTrail create events at 2 a day per account "
        "and region. Replace with make bench numbers."
    ),
    runs={
        "scheduler": _estimate_run(),
        "ebs_cleanup": _estimate_run(
            worker_ms_per_target=2000, worker_cpu_ms_per_target=400, log_bytes_per_target=3000, ddb_writes_per_run=7
        ),
        "tag_compliance": _estimate_run(
            worker_ms_per_target=2500,
            worker_cpu_ms_per_target=400,
            aggregate_ms=3000,
            aggregate_ms_per_target=5,
            log_bytes_per_target=3000,
            ddb_writes_per_run=7,
            cost_explorer_requests_per_run=2,
        ),
    },
    auto_tagger_events_per_target=60,
    auto_tagger_ms=1200,
    auto_tagger_log_bytes=4000,
    auto_tagger_ddb_writes=3,
    alerts_per_month=30,
    alert_ms=1500,
    alert_log_bytes=4000,
    alert_ddb_writes=3,
    secret_reads_per_month=1000,
    kms_requests_per_month=10_000,
    member_api_calls_per_target=10,
)


# -- the bill ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    price: Price
    formula: str
    scales: str  # "fixed": does not grow with the Organization; "targets": does

    @property
    def usd(self) -> float:
        return self.quantity * self.price.usd

    def to_json(self) -> dict[str, Any]:
        formula = f"({self.formula})" if _sums_at_top(self.formula) else self.formula
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.price.unit,
            "usd_per_unit": self.price.usd,
            "usd": self.usd,
            "formula": f"{formula} × {_usd(self.price.usd)} = {_amount(self.usd)}",
            "scales": self.scales,
        }


@cache
def shipped_config() -> FinOpsConfig:
    return load_config(ROOT / "finops.yaml")


Parts = list[tuple[str, float]]  # (the formula's term, its quantity)


class _Bill:
    """The line items of one month for one Organization size. Terms that several capabilities add to (requests,
    transitions, log bytes, request units) are collected per line and summed at the end, so each line's formula
    shows every term."""

    def __init__(
        self,
        *,
        accounts: int,
        regions: int,
        per_batch: int,
        concurrency: int = 1,
        prices: Prices,
        deployment: Deployment,
        days: int,
        metrics_prorated: bool,
    ) -> None:
        self.accounts, self.regions, self.targets = accounts, regions, accounts * regions
        self.batches = math.ceil(self.targets / per_batch)
        # The waits of a run: a batch's targets wait together concurrency at a time, so a full batch waits
        # ceil(per_batch / concurrency) times and the last one ceil(rest / concurrency).
        full, rest = divmod(self.targets, per_batch)
        self.concurrency = max(1, min(concurrency, per_batch))
        self.waves = full * math.ceil(per_batch / self.concurrency) + math.ceil(rest / self.concurrency)
        self.prices, self.deployment, self.days, self.hours = prices, deployment, days, days * 24
        self.lines: list[Line] = []
        self.summed: dict[str, Parts] = {}
        self.traces = 0.0
        self.metrics_prorated = metrics_prorated

    def add(
        self, service: str, item: str, quantity: float, price: Price, formula: str, scales: str = "targets"
    ) -> None:
        self.lines.append(Line(service, item, quantity, price, formula, scales))

    def term(self, line: str, text: str, quantity: float) -> None:
        self.summed.setdefault(line, []).append((text, quantity))

    def sum_of(self, line: str) -> tuple[float, str]:
        parts = self.summed.get(line, [])
        return sum(n for _, n in parts), " + ".join(text for text, _ in parts)

    def memory_gb(self, handler: str) -> float:
        if handler not in self.deployment.memory_mb:
            raise KeyError(f"the deployment has no function {handler!r}")
        return self.deployment.memory_mb[handler] / 1024

    def gb_seconds(self, handler: str, what: str, milliseconds: float, formula: str, scales: str = "targets") -> None:
        gb = self.memory_gb(handler)
        self.add(
            "Lambda",
            f"{what} GB-s",
            milliseconds / 1000 * gb,
            self.prices.lambda_arm_gb_second,
            f"{formula} / 1000 × {_n(gb)} GB",
            scales,
        )

    def capability(self, capability: str, count: RunCounts, m: RunMeasure) -> None:
        """One capability's runs: its three functions, its transitions, its logs, request units and objects."""
        shape = self.deployment.machines.get(capability)
        if shape is None:
            raise KeyError(f"the deployment has no state machine for {capability!r}")
        if shape.machine_type != "STANDARD":
            raise ValueError(f"{capability}: the model prices a Standard parent with a Distributed Map only")
        worker = CAPABILITY_WORKERS[capability]
        f, nd, targets, batches, accounts = count.fan_out, count.nothing_due, self.targets, self.batches, self.accounts
        self.term("requests", f"{count.scheduled:,} engine_start ({capability})", count.scheduled)
        self.term("requests", f"{f:,} runs × {batches:,} {worker} batches", f * batches)
        self.term("requests", f"{f:,} engine_aggregate ({capability})", f)
        self.gb_seconds(
            "engine_start",
            f"engine_start ({capability})",
            f * (m.start_ms + m.start_ms_per_account * accounts) + nd * m.start_ms_nothing_due,
            f"({f:,} runs × ({_n(m.start_ms)} + {_n(m.start_ms_per_account)} × {accounts:,} accounts) ms + {nd:,} "
            f"ticks × {_n(m.start_ms_nothing_due)} ms)",
            "targets" if f else "fixed",
        )
        if self.concurrency == 1:  # one target at a time: the sum of the targets
            worker_ms = batches * m.worker_ms_per_batch + targets * m.worker_ms_per_target
            formula = (
                f"{f:,} runs × ({batches:,} batches × {_n(m.worker_ms_per_batch)} ms + {targets:,} targets × "
                f"{_n(m.worker_ms_per_target)} ms)"
            )
        else:  # every target's CPU one after another, the waiting once a wave of concurrent targets
            worker_ms = self.worker_ms_per_run(m)
            formula = (
                f"{f:,} runs × ({batches:,} batches × {_n(m.worker_ms_per_batch)} ms + {targets:,} targets × "
                f"{_n(m.worker_cpu_ms_per_target)} ms CPU + {self.waves:,} waves of up to {self.concurrency} targets × "
                f"{_n(m.worker_ms_per_target - m.worker_cpu_ms_per_target)} ms waiting)"
            )
        self.gb_seconds(worker, worker, f * worker_ms, formula)
        self.gb_seconds(
            "engine_aggregate",
            f"engine_aggregate ({capability})",
            f * (m.aggregate_ms + m.aggregate_ms_per_target * targets),
            f"{f:,} runs × ({_n(m.aggregate_ms)} + {_n(m.aggregate_ms_per_target)} × {targets:,} targets) ms",
        )
        # A Distributed Map is charged a transition per child execution it starts; a Standard child adds its own.
        per_child = 1 + (shape.child_states if shape.child_type == "STANDARD" else 0)
        self.term(
            "transitions",
            f"{capability}: {f:,} runs × ({shape.fan_out_states} + {_n(m.retried_transitions_per_run)} retried + "
            f"{batches:,} children × {per_child}) + {nd:,} ticks × {shape.nothing_due_states}",
            f * (shape.fan_out_states + m.retried_transitions_per_run + batches * per_child)
            + nd * shape.nothing_due_states,
        )
        if shape.child_type == "EXPRESS":
            self.express_children(capability, f, m)
        self.term(
            "log bytes",
            f"{capability}: {f:,} runs × ({_n(m.log_bytes_per_run)} + {batches:,} × {_n(m.log_bytes_per_batch)} + "
            f"{targets:,} × {_n(m.log_bytes_per_target)}) + {nd:,} ticks × {_n(m.log_bytes_nothing_due)}",
            f * (m.log_bytes_per_run + batches * m.log_bytes_per_batch + targets * m.log_bytes_per_target)
            + nd * m.log_bytes_nothing_due,
        )
        self.traces += count.scheduled + f * batches
        self.term(
            "reads",
            f"{capability}: {f:,} × {_n(m.ddb_reads_per_run)} + {nd:,} × {_n(m.ddb_reads_nothing_due)}",
            f * m.ddb_reads_per_run + nd * m.ddb_reads_nothing_due,
        )
        self.term(
            "writes",
            f"{capability}: {f:,} runs × ({_n(m.ddb_writes_per_run)} + {targets:,} × {_n(m.ddb_writes_per_target)})"
            f" + {nd:,} ticks × {_n(m.ddb_writes_nothing_due)}",
            f * (m.ddb_writes_per_run + targets * m.ddb_writes_per_target) + nd * m.ddb_writes_nothing_due,
        )
        self.term("puts", f"{capability}: {f:,} × {m.s3_puts_per_run}", f * m.s3_puts_per_run)
        self.term("gets", f"{capability}: {f:,} × {m.s3_gets_per_run}", f * m.s3_gets_per_run)
        self.term(
            "stored",
            f"{capability}: {f:,} runs × {targets:,} × {_n(m.s3_bytes_per_target)} bytes",
            f * targets * m.s3_bytes_per_target,
        )
        if m.cost_explorer_requests_per_run:
            self.add(
                "Cost Explorer",
                f"API requests ({capability})",
                f * m.cost_explorer_requests_per_run,
                self.prices.cost_explorer_request,
                f"{f:,} runs × {m.cost_explorer_requests_per_run} requests",
                "fixed",
            )
        if m.sqs_sends_per_run:
            self.term("sqs", f"{f:,} runs × {_n(m.sqs_sends_per_run)} parked ({capability})", f * m.sqs_sends_per_run)

    def worker_ms_per_run(self, m: RunMeasure) -> float:
        """The worker's milliseconds in one run, every batch: its fixed part, every target's CPU, and the waiting of
        each wave of targets run together (with ``concurrency`` 1 that is the sum of the targets)."""
        waiting = m.worker_ms_per_target - m.worker_cpu_ms_per_target
        return self.batches * m.worker_ms_per_batch + self.targets * m.worker_cpu_ms_per_target + self.waves * waiting

    def express_children(self, capability: str, runs: int, m: RunMeasure) -> None:
        """An Express child: a request, and its duration (the worker's batch, up to 100 ms) at 64 MB."""
        seconds = math.ceil(self.worker_ms_per_run(m) / self.batches / 100) / 10
        children = runs * self.batches
        self.add(
            "Step Functions",
            f"Express child requests ({capability})",
            children,
            self.prices.sfn_express_request,
            f"{runs:,} runs × {self.batches:,} children",
        )
        self.add(
            "Step Functions",
            f"Express child duration ({capability})",
            children * seconds * 64 / 1024,
            self.prices.sfn_express_gb_second,
            f"{runs:,} runs × {self.batches:,} children × {_n(seconds)} s × 64 MB / 1024",
        )

    def event_driven(self, measured: Measured) -> float:
        """The auto-tagger (one invocation per forwarded create event) and the alerts; returns the events."""
        events = self.targets * measured.auto_tagger_events_per_target
        alerts = measured.alerts_per_month
        self.term("requests", f"{events:,.0f} auto_tagger", events)
        self.term("requests", f"{_n(alerts)} anomaly_alerts", alerts)
        self.gb_seconds(
            "auto_tagger",
            "auto_tagger",
            events * measured.auto_tagger_ms,
            f"{self.targets:,} targets × {_n(measured.auto_tagger_events_per_target)} events × "
            f"{_n(measured.auto_tagger_ms)} ms",
        )
        self.gb_seconds(
            "anomaly_alerts", "anomaly_alerts", alerts * measured.alert_ms, f"{_n(alerts)} × {_n(measured.alert_ms)} ms"
        )
        self.term(
            "log bytes",
            f"{events:,.0f} events × {_n(measured.auto_tagger_log_bytes)}",
            events * measured.auto_tagger_log_bytes,
        )
        self.term(
            "log bytes", f"{_n(alerts)} alerts × {_n(measured.alert_log_bytes)}", alerts * measured.alert_log_bytes
        )
        self.term(
            "writes",
            f"{events:,.0f} events × {_n(measured.auto_tagger_ddb_writes)}",
            events * measured.auto_tagger_ddb_writes,
        )
        self.term(
            "writes", f"{_n(alerts)} alerts × {_n(measured.alert_ddb_writes)}", alerts * measured.alert_ddb_writes
        )
        self.traces += events + alerts
        self.add(
            "EventBridge",
            "CloudTrail create events to the hub's bus (billed in the member accounts)",
            events,
            self.prices.eventbridge_cross_account_event,
            f"{self.targets:,} targets × {_n(measured.auto_tagger_events_per_target)} events",
        )
        self.add("SNS", "alert publishes", alerts, self.prices.sns_publish, f"{_n(alerts)} alerts", "fixed")
        return events

    def summed_lines(self, measured: Measured) -> None:
        """The lines whose terms the capabilities and the event-driven functions added."""
        p, days = self.prices, self.days
        for key, service, item, price in (
            ("requests", "Lambda", "requests", p.lambda_request),
            ("transitions", "Step Functions", "state transitions (Standard)", p.sfn_standard_transition),
            ("writes", "DynamoDB", "write request units", p.dynamodb_write_request_unit),
            ("reads", "DynamoDB", "read request units", p.dynamodb_read_request_unit),
            ("puts", "S3", "PUT requests (engine bucket)", p.s3_put_request),
            ("gets", "S3", "GET requests (engine bucket)", p.s3_get_request),
            ("sqs", "SQS", "Slack messages parked", p.sqs_request),
        ):
            quantity, formula = self.sum_of(key)
            if formula:
                self.add(service, item, quantity, price, formula)
        kept = min(OBJECT_EXPIRY.to_days(), days)
        stored, formula = self.sum_of("stored")
        self.add(
            "S3",
            "engine bucket storage",
            stored / GB * kept / days,
            p.s3_stored_gb_month,
            f"({formula}) / 1024³ × {kept:g} days kept / {days}",
        )
        logged, formula = self.sum_of("log bytes")
        self.add("CloudWatch", "logs ingested", logged / GB, p.logs_ingested_gb, f"({formula}) / 1024³")
        retention = self.deployment.log_retention_days
        self.add(
            "CloudWatch",
            "logs stored (steady state)",
            logged / GB * retention / days,
            p.logs_stored_gb_month,
            f"{logged / GB:.3f} GB a month × {retention} days kept / {days}",
        )
        self.add(
            "X-Ray",
            "traces recorded",
            self.traces * measured.xray_sampled_fraction,
            p.xray_trace_recorded,
            f"{self.traces:,.0f} executions, child executions and direct invocations × "
            f"{_n(measured.xray_sampled_fraction)} sampled",
        )

    def platform(self, runs: Mapping[str, RunCounts], config: FinOpsConfig, measured: Measured, events: float) -> None:
        """What the deployment costs whatever it does: schedules, polls, metrics, alarms, keys, the secret."""
        p, d, hours = self.prices, self.deployment, self.hours
        heartbeat = config.notifications.heartbeat
        beats = (
            len(fires(heartbeat.schedule, MONTH_START, MONTH_START + timedelta(days=self.days)))
            if heartbeat.enabled
            else 0
        )
        self.add(
            "EventBridge Scheduler",
            "invocations",
            sum(c.scheduled for c in runs.values()) + beats,
            p.scheduler_invocation,
            " + ".join(f"{c.scheduled:,} {c.capability} ({c.schedule})" for c in runs.values())
            + (f" + {beats} heartbeats ({heartbeat.schedule})" if beats else ""),
            "fixed",
        )
        polls_a_minute = 60 / measured.sqs_poll_wait_seconds
        self.add(
            "SQS",
            "long polls of the Slack retry queue (empty receives)",
            d.sqs_event_sources * measured.sqs_pollers * polls_a_minute * hours * 60,
            p.sqs_request,
            f"{d.sqs_event_sources} event source × {measured.sqs_pollers} pollers × {polls_a_minute:g} polls a "
            f"minute × {hours * 60:,} minutes",
            "fixed",
        )
        series = metric_series(runs, config, measured, hours=hours)
        # The auto-tagger's one series is published in every hour with an event: it grows with the Organization
        # until every hour has one.
        tagged_hours = min(events, hours)
        if self.metrics_prorated:
            self.add(
                "CloudWatch",
                "custom metrics (EMF, prorated by the hour)",
                sum(n * h for _, n, h in series) / hours,
                p.custom_metric_month,
                "(" + " + ".join(f"{n} {what} × {_n(h)} h" for what, n, h in series) + f") / {hours:,} hours",
                "fixed",
            )
            self.add(
                "CloudWatch",
                "custom metric of the auto-tagger",
                tagged_hours / hours,
                p.custom_metric_month,
                f"1 series × {_n(tagged_hours)} hours with an event / {hours:,} hours",
            )
        else:
            published = [(what, n) for what, n, h in series if h]
            self.add(
                "CloudWatch",
                "custom metrics (EMF, whole months)",
                sum(n for _, n in published) + (1 if tagged_hours else 0),
                p.custom_metric_month,
                " + ".join(f"{n} {what}" for what, n in published) + (" + 1 auto_tagger" if tagged_hours else ""),
                "fixed",
            )
        self.add(
            "CloudWatch",
            "alarms",
            d.alarm_metrics,
            p.alarm_metric_month,
            f"{d.alarm_metrics} alarm metrics (a metric-math alarm counts each metric it reads)",
            "fixed",
        )
        self.add("KMS", "customer managed keys", d.kms_keys, p.kms_key_month, f"{d.kms_keys} keys", "fixed")
        kms = measured.kms_requests_per_month
        self.add("KMS", "requests", kms, p.kms_request, f"{_n(kms)} requests", "fixed")
        self.add("Secrets Manager", "the Slack secret", 1, p.secret_month, "1 secret", "fixed")
        reads = measured.secret_reads_per_month
        self.add("Secrets Manager", "GetSecretValue", reads, p.secret_api_call, f"{_n(reads)} reads", "fixed")
        if measured.cloudtrail_paid_copies:
            calls = sum(c.fan_out for c in runs.values()) * self.targets * measured.member_api_calls_per_target
            self.add(
                "CloudTrail",
                "the workers' member-account calls recorded by paid trails",
                calls * measured.cloudtrail_paid_copies,
                p.cloudtrail_paid_management_event,
                f"{calls:,.0f} calls × {measured.cloudtrail_paid_copies} paid copies",
            )

    def result(self) -> dict[str, Any]:
        by_service: dict[str, float] = {}
        for line in self.lines:
            by_service[line.service] = by_service.get(line.service, 0.0) + line.usd
        total = sum(line.usd for line in self.lines)
        free = free_tier(self.lines)
        return {
            "accounts": self.accounts,
            "regions": self.regions,
            "targets": self.targets,
            "batches_per_run": self.batches,
            "target_concurrency": self.concurrency,
            "lines": [line.to_json() for line in sorted(self.lines, key=lambda line: -line.usd)],
            "by_service": dict(sorted(by_service.items(), key=lambda kv: -kv[1])),
            "fixed_usd": sum(line.usd for line in self.lines if line.scales == "fixed"),
            "total_usd": total,
            "free_tier_usd": free,
            "total_after_free_tier_usd": total - free,
        }


def monthly_cost(
    accounts: int,
    regions: int,
    measured: Measured,
    prices: Prices = PRICES,
    config: FinOpsConfig | None = None,
    *,
    deployment: Deployment,
    runs: Mapping[str, RunCounts] | None = None,
    days: int = MONTH_DAYS,
    metrics_prorated: bool = True,
) -> dict[str, Any]:
    """The month's bill for ``accounts`` x ``regions`` targets: line items (each with its formula), totals by service,
    the fixed part (what does not grow with the Organization), the total without the free tier, and what the free
    tier would take off it. ``runs`` defaults to :func:`derive_runs` of ``config`` (the shipped finops.yaml).
    ``metrics_prorated`` False bills every custom metric published at all as a whole metric-month (the upper bound,
    should CloudWatch not prorate by the hour as its pricing page is read here)."""
    if accounts < 1 or regions < 1:
        raise ValueError(f"accounts and regions must be at least 1 (got {accounts} x {regions})")
    config = config or shipped_config()
    runs = runs if runs is not None else derive_runs(config, days=days)
    missing = sorted(set(runs) - set(measured.runs))
    if missing:
        raise KeyError(f"measured has no RunMeasure for {missing}: every deployed capability's run must be measured")
    bill = _Bill(
        accounts=accounts,
        regions=regions,
        per_batch=config.engine.targets_per_invocation,
        concurrency=config.engine.target_concurrency,
        prices=prices,
        deployment=deployment,
        days=days,
        metrics_prorated=metrics_prorated,
    )
    for capability, count in runs.items():
        bill.capability(capability, count, measured.runs[capability])
    events = bill.event_driven(measured)
    bill.summed_lines(measured)
    bill.platform(runs, config, measured, events)
    return bill.result()


def metric_series(
    runs: Mapping[str, RunCounts], config: FinOpsConfig, measured: Measured, *, hours: int
) -> list[tuple[str, int, float]]:
    """The engine's, tag compliance's and the alerts' custom metric series: (what, how many series, the hours of the
    month in which each is published)."""
    fan_out_hours = len(frozenset().union(*(c.fan_out_hours for c in runs.values())))
    idle_hours = len(frozenset().union(*(c.nothing_due_hours for c in runs.values())))
    found = [
        ("engine_start", len(ENGINE_START_NOTHING_DUE_METRICS), float(idle_hours)),
        ("engine_start", len(ENGINE_START_FAN_OUT_METRICS), float(fan_out_hours)),
        ("engine_aggregate", len(ENGINE_AGGREGATE_METRICS), float(fan_out_hours)),
    ]
    if "tag_compliance" in runs:
        found.append(("tag KPIs", tag_kpi_series(config), float(len(runs["tag_compliance"].fan_out_hours))))
    return [*found, ("anomaly_alerts", 1, float(min(measured.alerts_per_month, hours)))]


def tag_kpi_series(config: FinOpsConfig) -> int:
    """The tag compliance KPI series (finops.services.tag_metrics): two figures (compliance percent, non-compliant
    count) for the Organization, each team of the owner tag's allowed values plus ``none`` (at most MAX_TEAMS), and
    each resource type, and the attributable-spend percent."""
    owner = config.notifications.owner_tag_key
    rules = [rule for rule in config.taxonomy.tags if rule.key == owner]
    teams = min(len(rules[0].allowed_values) + 1 if rules and rules[0].allowed_values else MAX_TEAMS, MAX_TEAMS)
    return 2 * (1 + teams + len(TAG_COMPLIANCE_TYPES)) + 1


def _summed(parts: Sequence[tuple[str, float]]) -> tuple[float, str]:
    return sum(n for _, n in parts), " + ".join(text for text, _ in parts)


def free_tier(lines: Sequence[Line]) -> float:
    """What the always-free tiers would take off: per price, the first ``free_per_month`` units of all its lines."""
    used: dict[int, tuple[Price, float]] = {}
    for line in lines:
        price, quantity = used.get(id(line.price), (line.price, 0.0))
        used[id(line.price)] = (price, quantity + line.quantity)
    return sum(min(quantity, price.free_per_month) * price.usd for price, quantity in used.values())


def _sums_at_top(formula: str) -> bool:
    """Whether ``formula`` adds terms outside any parentheses (so ``× price`` needs them around it)."""
    depth = 0
    for n, char in enumerate(formula):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and formula.startswith(" + ", n):
            return True
    return False


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _usd(value: float, digits: int = 10) -> str:
    """A unit price, every digit it has (up to ``digits`` decimals): ``$0.0000133334``."""
    return "$" + f"{value:.{digits}f}".rstrip("0").rstrip(".") if value else "$0"


def _amount(value: float) -> str:
    """A line's amount: cents and two more decimals, or three significant digits below a cent (``$0.0000267``)."""
    if value == 0:
        return "$0"
    if value >= 0.01:
        return f"${value:,.4f}"
    return f"${value:.{2 - math.floor(math.log10(value))}f}"


# -- the command -------------------------------------------------------------------------------------------------------


def shipped_deployment(config: FinOpsConfig) -> Deployment:
    """Synthesize the shipped stacks (the dependency layer is built first if `make layer` has not) and read them."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from stacks.app_stacks import create_stacks
    from tools.build_layer import ensure_layer

    with tempfile.TemporaryDirectory() as out:
        stacks = create_stacks(App(outdir=out), config, layer_dir=ensure_layer(ROOT / "build" / "layer"))
        hub = Template.from_stack(stacks.hub).to_json()
        management = Template.from_stack(stacks.management).to_json()
    return Deployment.from_templates(hub, management)


SCENARIOS: tuple[tuple[int, int], ...] = ((10, 2), (100, 2), (1000, 2))


def report(measured: Measured, config: FinOpsConfig, deployment: Deployment) -> dict[str, Any]:
    runs = derive_runs(config)
    scenarios = [
        monthly_cost(accounts, regions, measured, config=config, deployment=deployment, runs=runs)
        for accounts, regions in SCENARIOS
    ]
    return {
        "measured": measured.label,
        "month": f"{MONTH_DAYS} days from {MONTH_START:%Y-%m-%d}, UTC",
        "prices": PRICES.table(),
        "deployment": deployment.to_json(),
        "runs": {name: count.to_json() for name, count in runs.items()},
        "engine": {
            "targets_per_invocation": config.engine.targets_per_invocation,
            "target_concurrency": config.engine.target_concurrency,
        },
        "totals": [
            {
                "accounts": s["accounts"],
                "regions": s["regions"],
                "total_usd": s["total_usd"],
                "fixed_usd": s["fixed_usd"],
                "total_after_free_tier_usd": s["total_after_free_tier_usd"],
                "by_service": s["by_service"],
            }
            for s in scenarios
        ],
        "totals_if_metrics_are_not_prorated": [
            {
                "accounts": accounts,
                "regions": regions,
                "total_usd": monthly_cost(
                    accounts,
                    regions,
                    measured,
                    config=config,
                    deployment=deployment,
                    runs=runs,
                    metrics_prorated=False,
                )["total_usd"],
            }
            for accounts, regions in SCENARIOS
        ],
        "scenarios": scenarios,
    }


def rounded(value: Any) -> Any:
    """Floats to 6 significant digits, for reading."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1,769 MB, a share in proportion below it
BENCH_LATENCY_MS = 50.0  # the bench's injected latency per call: what a target's waits are made of


def from_bench(report: Mapping[str, Any], memory_mb: int = WORKER_MEMORY_MB) -> Measured:
    """:data:`ESTIMATE` with the worker's per-target figures measured by ``make bench`` (its ``organization`` runs):
    a target's CPU is the slope of our CPU over the targets of the 10, 100 and 1,000-account runs (a least-squares
    line, so the process's start-up is the intercept, not a target's), scaled from this machine's core to the
    worker's share of a vCPU (``memory_mb`` / 1,769); its time alone is its calls (the server's count per target) at
    the bench's 50 ms each, plus that CPU. The rest (log bytes, the start and aggregate functions, request units)
    stays the estimate's, as labelled."""
    rows = [r for r in report["organization"] if r["latency_ms"] == 0 and r["returncode"] == 0]
    runs = dict(ESTIMATE.runs)
    measured_jobs = []
    for job, capability in (("stop", "scheduler"), ("cleanup", "ebs_cleanup")):
        points = [(r["targets"], r["cpu_seconds"], sum(r["calls"].values())) for r in rows if r["job"] == job]
        if len(points) < 2:
            continue
        cpu_s = _slope([(t, c) for t, c, _ in points])
        calls = _slope([(t, n) for t, _, n in points])
        cpu_ms = 1000 * cpu_s * LAMBDA_FULL_VCPU_MB / memory_mb
        runs[capability] = replace(
            runs[capability],
            worker_cpu_ms_per_target=round(cpu_ms, 1),
            worker_ms_per_target=round(calls * BENCH_LATENCY_MS + cpu_ms, 1),
        )
        measured_jobs.append(f"{capability}: {calls:.1f} calls and {1000 * cpu_s:.0f} ms of CPU a target")
    label = (
        f"MEASURED by make bench ({report.get('date', '?')}) for the workers' per-target CPU and calls "
        f"({'; '.join(measured_jobs) or 'none'}; CPU scaled by {LAMBDA_FULL_VCPU_MB}/{memory_mb} to the function's "
        f"share of a vCPU, calls at {BENCH_LATENCY_MS:g} ms each); everything else as {ESTIMATE.label}"
    )
    return replace(ESTIMATE, label=label, runs=runs)


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def main() -> int:
    sys.stdout, out = sys.stderr, sys.stdout  # synth and handler logs to stderr; the report to stdout
    config = shipped_config()
    json.dump(rounded(report(ESTIMATE, config, shipped_deployment(config))), out, indent=2, default=str)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
