"""The scheduler's synthesized state machine, run by moto's ASL interpreter, its Lambda tasks answered by our handlers.

Given the default simulated Organization, the hub's resources in moto and the local Slack sink, When the definition
CDK synthesizes for ``finops-scheduler`` runs in moto (``execute_state_machine``), each ``lambda:invoke`` running the
hub's handler in-process with the environment the stack gives its function, Then the execution takes the path a
platform team reads in the console, and the estate, the engine bucket and Slack show what the run did.

How the tasks are answered: moto's ``lambda:invoke`` integration calls
``lambda_eval_utils._invoke_lambda_function(parameters, region, state_credentials)`` and expects Lambda's response
with the payload decoded, ``{"StatusCode": 200, "Payload": ...}`` (plus ``"FunctionError"`` when the function raised);
moto itself then fails the task with the error's ``errorType`` or puts the response on the state. That function is
patched (:class:`HandlersInProcess`); the three functions need not exist in moto. The hub's environment is process-wide
(``os.environ``), so invocations take turns: the Map's 40 concurrent workers run one at a time.

What of the deployed definition moto 5.2.5 did not run, and where it is covered instead (``tests/stacks/
test_run_engine.py`` unless named otherwise). Everything else (Start with its payload and ``OutputPath``, both
Choices, the Map's ``ItemReader`` reading the targets file from S3, ``ItemProcessor`` with the Worker task and its
``Payload.$``, ``MaxConcurrency`` and ``Label`` as moto understands them, ``ResultPath``, Aggregate with its payload,
the Fail and Succeed states) ran as synthesized.

- ``Targets.ItemBatcher`` (``MaxItemsPerBatch`` 5, ``BatchInput`` ``{"run.$": "$.run"}``): moto's grammar has no
  ItemBatcher (CreateStateMachine fails with ASLParserException). :func:`without_item_batcher` replaces it with an
  ``ItemSelector`` that builds the same ``{"Items": [target], "BatchInput": {"run": ...}}`` shape, one target per
  batch. Not run: batches of more than one target. Covered by
  ``test_the_map_reads_the_targets_engine_start_wrote_and_batches_them_for_the_worker`` and
  ``test_the_fan_out_follows_the_engine_config``; the worker given batches of ``targets_per_invocation`` by
  ``tests/e2e/test_scheduler_e2e.py`` (``LocalHub.run`` batches as the ItemBatcher does).
- ``Targets.ToleratedFailurePercentage`` (``100``): moto's grammar rejects an integer there.
  :func:`tolerated_failure_percentage_as_float` writes the same value as ``100.0``, which moto parses and then does
  not enforce ("currently have no effect"). moto also swallows a failed child execution (the Map succeeds, the child's
  output is lost), so neither the threshold nor a failed batch ran here. Covered by the two tests above (the value
  follows the config) and ``test_the_worker_gets_each_batch_and_retries_only_lambda_service_errors_with_backoff``
  (no Catch: a worker error is the Map's to count); a FAILED result file read back by
  ``tests/lambdas/engine/test_aggregate.py::test_every_target_of_the_run_is_accounted_for_including_a_batch_whose_
  worker_died``.
- ``Targets.ResultWriter`` (``s3:putObject``, ``Bucket``, ``Prefix`` ``results/scheduler``): moto runs it: it writes
  ``results/scheduler/<map run id>/manifest.json`` and puts ``{"MapRunArn", "ResultWriterDetails": {"Bucket",
  "Key"}}`` at ``$.map``, which Aggregate gets. But it lists no result files and drops the children's outputs (a
  TODO in moto), so engine_aggregate would see a run with no targets and report it "completed". The definition is
  unchanged; :func:`result_files_written` completes moto's writer, test-side: ``SUCCEEDED_0.json`` with each child's
  ``Status`` and ``Output`` (moto keeps no child ``Input``, ARN or dates, so they are not written) in the format Step
  Functions documents, listed in the manifest; a child without output (one moto swallowed) fails the Map instead of
  being written. Not run: Step Functions' own result files. Covered by
  ``test_the_map_reads_the_targets_engine_start_wrote_and_batches_them_for_the_worker`` (where results go) and
  ``tests/lambdas/engine/test_aggregate.py`` (their format, FAILED files included).
- ``Retry`` on Start, Worker and Aggregate (Lambda service errors, backoff, jitter): parsed, never triggered (no
  Lambda service here). Covered by ``test_the_worker_gets_each_batch_and_retries_only_lambda_service_errors_with_
  backoff`` and ``test_aggregate_gets_the_run_the_map_results_and_the_execution_then_a_run_with_failures_fails``.
- ``TimeoutSeconds`` (3600): parsed, never reached. Covered by ``test_runs_are_logged_traced_and_stopped_after_an_
  hour``.
- ``ItemProcessor.ProcessorConfig`` (``DISTRIBUTED``, ``STANDARD``): moto runs the children as threads of the parent,
  not as child executions of their own with their own history. Covered by
  ``test_the_map_reads_the_targets_engine_start_wrote_and_batches_them_for_the_worker``; what the child executions may
  do by ``test_the_state_machine_may_read_targets_write_results_and_run_its_own_child_executions``.

Not ASL, but not run by moto either: the state machine's role and its policies (moto's interpreter calls S3 as its
own account 123456789012 with any credentials; the role ARN here is a placeholder) and the logging and tracing
configuration; the Template tests above cover both. moto generates no execution name when none is given
(``$$.Execution.Name`` would be null and engine_start would take its request id as the run id), so each execution
here is named, as Step Functions names every execution the schedule starts.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from finops.handlers import HANDLERS
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from stacks.constructs.run_engine import definition
from stacks.hub_stack import FinOpsHubStack
from stacks.naming import ALERTS_REGION, resource_name
from tools.build_layer import ROOT, ensure_layer
from tools.demo_scheduler import enforcing
from tools.local_hub import LambdaContext, LocalHub, environment
from tools.sim.estate import SimulatedOrganization, default_estate, simulated_aws

pytestmark = pytest.mark.slow  # synthesizes the hub stack, seeds the estate, runs three executions

MACHINE = "finops-scheduler"
ENGINE_FUNCTIONS = ("engine_start", "scheduler_worker", "engine_aggregate")
EVENING = "2026-11-27T18:00:00Z"  # Friday 19:00 in Berlin: office-hours stops
QUIET = "2026-11-27T14:15:00Z"  # Friday 15:15 in Berlin: nothing is due
STAGING, DEV, PROD, NO_MEMBER_ROLE = "444444444444", "555555555555", "333333333333", "777777777777"
RUN_DEADLINE_SECONDS = 60
ACCOUNTS_ONLY = "accounts only"  # the estate's Organization without its resources: seeded in a tenth of the time
HANDLER_OF_FUNCTION = {resource_name(handler): handler for handler in HANDLERS}  # finops-engine-start -> engine_start


# --- what moto cannot run of the deployed definition: one transformation per gap ---------------------------------


def without_item_batcher(document: dict[str, Any]) -> dict[str, Any]:
    """moto has no ItemBatcher: every item becomes a batch of one, in the shape the ItemBatcher gives the worker."""
    targets = document["States"]["Targets"]
    batcher = targets.pop("ItemBatcher")
    assert "ItemSelector" not in targets
    targets["ItemSelector"] = {"Items.$": "States.Array($$.Map.Item.Value)", "BatchInput": batcher["BatchInput"]}
    return document


def tolerated_failure_percentage_as_float(document: dict[str, Any]) -> dict[str, Any]:
    """moto's grammar takes ToleratedFailurePercentage only as a decimal: 100 -> 100.0, the same value."""
    targets = document["States"]["Targets"]
    targets["ToleratedFailurePercentage"] = float(targets["ToleratedFailurePercentage"])
    return document


def runnable_in_moto(document: dict[str, Any]) -> dict[str, Any]:
    return tolerated_failure_percentage_as_float(without_item_batcher(copy.deepcopy(document)))


# --- moto's side: the Lambda integration answered by our handlers; the result files its ResultWriter leaves out ------


@dataclass(frozen=True)
class Invocation:
    function: str  # the handler's name, e.g. scheduler_worker
    event: dict[str, Any]
    result: Any


@dataclass
class HandlersInProcess:
    """Stands in for ``lambda_eval_utils._invoke_lambda_function``: the handler the function name names, run with
    the function's environment from the hub, its return JSON-encoded as the Python runtime does."""

    hub: LocalHub
    invocations: list[Invocation] = field(default_factory=list)
    running: str | None = None  # the handler running now (invocations take turns), e.g. engine_start; else None
    _turn: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        function_name = parameters["FunctionName"].split(":")[-1]
        name = HANDLER_OF_FUNCTION[function_name]
        event = json.loads(parameters["Payload"])
        context = LambdaContext(function_name=function_name, invoked_function_arn=parameters["FunctionName"])
        with self._turn, environment(self.hub.environment(name)):
            handler = importlib.import_module(HANDLERS[name]).handler
            self.running = name
            try:
                payload = json.loads(json.dumps(handler(event, context)))
            except Exception as exc:  # Lambda's view: the invoke succeeded, the function failed
                error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                self.invocations.append(Invocation(name, event, error))
                return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": error}
            finally:
                self.running = None
            self.invocations.append(Invocation(name, event, payload))
            return {"StatusCode": 200, "Payload": payload}

    def of(self, name: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function == name]


def result_files_written(s3: Any) -> Callable[..., None]:
    """moto's ResultWriter (``ResourceEvalS3._handle_put_object``), completed: after it writes the manifest, the
    children's outputs it dropped go to ``SUCCEEDED_0.json`` beside it and the manifest lists that file."""
    moto_put_object = ResourceEvalS3._handle_put_object

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        outputs = env.stack[-2]  # under the writer's parameters: the children's outputs, in item order
        moto_put_object(env, resource_runtime_part, state_credentials)
        if any(output is None for output in outputs):
            raise AssertionError("moto swallowed a child execution's failure: its FAILED result cannot be written")
        written = env.stack[-1]["ResultWriterDetails"]
        bucket, manifest_key = written["Bucket"], written["Key"]
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        children = [
            {"Status": "SUCCEEDED", "Output": json.dumps(output), "OutputDetails": {"Included": True}}
            for output in outputs
        ]
        body = json.dumps(children).encode()
        key = manifest_key.rsplit("/", 1)[0] + "/SUCCEEDED_0.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        manifest["ResultFiles"]["SUCCEEDED"] = [{"Key": key, "Size": len(body)}]
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())

    return put_object


# --- the engine in moto ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    name: str
    description: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]


@dataclass
class EngineInMoto:
    hub: LocalHub
    lambdas: HandlersInProcess
    machine_arn: str
    s3: Any
    stepfunctions: Any

    def run(self, when: str) -> Execution:
        """One tick as the schedule starts it; waits for the execution to end."""
        name = f"scheduler-{when.replace(':', '').replace('-', '')}"
        arn = self.stepfunctions.start_execution(
            stateMachineArn=self.machine_arn,
            name=name,
            input=json.dumps({"capability": "scheduler", "time": when}),
        )["executionArn"]
        deadline = time.monotonic() + RUN_DEADLINE_SECONDS
        while (description := self.stepfunctions.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{name} still running after {RUN_DEADLINE_SECONDS} s"
            time.sleep(0.1)
        history = self.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return Execution(name, description, history)

    def objects(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.hub.engine_bucket, Prefix=prefix).get("Contents", [])
        return [o["Key"] for o in listed]

    def read(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.hub.engine_bucket, Key=key)["Body"].read())


_SYNTHESIZED: dict[str, dict[str, Any]] = {}  # config JSON -> template: one synth per process for every module


@pytest.fixture(scope="module")
def hub_template(config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The FinOpsHub template for the shipped config, synthesized as tests/stacks synthesizes it (once per process:
    the modules that import this fixture share it; none of them changes it)."""
    key = config.model_dump_json()
    if key in _SYNTHESIZED:
        return _SYNTHESIZED[key]
    imported = set(sys.modules)
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    env = Environment(account=config.organization.automation_account_id, region=ALERTS_REGION)
    stack = FinOpsHubStack(app, "FinOpsHub", config=config, layer_dir=ensure_layer(ROOT / "build" / "layer"), env=env)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    # The stack imports the handlers for their PERMISSIONS, without a Lambda environment (Powertools reads it at
    # import): forget those imports, so whatever invokes a handler next imports it as Lambda does.
    for module in set(sys.modules) - imported:
        if module.startswith("finops.handlers."):
            del sys.modules[module]
    _SYNTHESIZED[key] = template
    return template


@pytest.fixture
def estate(request: pytest.FixtureRequest) -> Iterator[SimulatedOrganization]:
    """The default simulated Organization with its resources (``ACCOUNTS_ONLY`` as the param: without them)."""
    estate = default_estate()
    if getattr(request, "param", None) == ACCOUNTS_ONLY:
        accounts = tuple(account.model_copy(update={"regions": {}}) for account in estate.accounts)
        estate = estate.model_copy(update={"accounts": accounts})
    # The interpreter's switch must be on the outer mock: simulated_aws's own mock_aws() copies the active config
    # when it starts and, nested, neither resets the backends nor replaces the config.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), simulated_aws(estate) as organization:
        yield organization


@pytest.fixture
def engine_for(
    estate: SimulatedOrganization, sink: Any, hub_template: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[[FinOpsConfig], EngineInMoto]]:
    """The hub in moto for a config, and the scheduler's state machine created from the synthesized definition."""
    with contextlib.ExitStack() as patches:

        def stand_up(config: FinOpsConfig) -> EngineInMoto:
            hub = LocalHub(config, tmp_path)
            hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
            account = hub.session.client("sts").get_caller_identity()["Account"]
            arns = {
                name: f"arn:aws:lambda:{hub.region}:{account}:function:{resource_name(name)}"
                for name in ENGINE_FUNCTIONS
            }
            deployed = definition(hub_template, MACHINE, arns, bucket_name=hub.engine_bucket, partition="aws")
            stepfunctions = hub.session.client("stepfunctions")
            machine_arn = stepfunctions.create_state_machine(
                name=MACHINE,
                definition=json.dumps(runnable_in_moto(deployed)),
                roleArn=f"arn:aws:iam::{account}:role/{MACHINE}-placeholder",
                type="STANDARD",
            )["stateMachineArn"]
            s3 = hub.session.client("s3")
            lambdas = HandlersInProcess(hub)
            patches.enter_context(mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", lambdas))
            patches.enter_context(
                mock.patch.object(ResourceEvalS3, "_handle_put_object", staticmethod(result_files_written(s3)))
            )
            cold_start(hub)
            return EngineInMoto(hub, lambdas, machine_arn, s3, stepfunctions)

        yield stand_up


def cold_start(hub: LocalHub) -> None:
    """Import each engine handler afresh with its function's environment, as a new deployment's first invoke does:
    nothing kept from a warm invoke of another test (the worker keeps its kill switch across invokes)."""
    for name in ENGINE_FUNCTIONS:
        sys.modules.pop(HANDLERS[name], None)
        with environment(hub.environment(name)):
            importlib.import_module(HANDLERS[name])


def instance_state(estate: SimulatedOrganization, account: str, name: str) -> str:
    ec2 = estate.session(account).client("ec2", region_name="eu-west-1")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


FAILED_RUN_PATH = ["Start", "AnythingDue", "Targets", "Aggregate", "AnythingFailed", "RunHadFailures"]


# --- the runs ------------------------------------------------------------------------------------------------------


def test_the_friday_evening_run_as_shipped_reports_the_plan_changes_nothing_and_fails_loudly(
    estate: SimulatedOrganization, engine_for: Callable[[FinOpsConfig], EngineInMoto], config: FinOpsConfig, sink: Any
) -> None:
    # Given the shipped config (report mode) and an estate with one account whose member role cannot be assumed
    assert config.capabilities.scheduler.mode == Mode.REPORT
    engine = engine_for(config)

    # When the Friday-evening tick runs the synthesized state machine
    run = engine.run(EVENING)

    # Then the run fans out, aggregates and fails loudly, for the unreachable account
    assert run.states_entered == FAILED_RUN_PATH
    assert (run.description["status"], run.description["error"]) == ("FAILED", "RunHadFailures")
    # engine_start wrote the targets under the run's name, and the Map read them: every target reached the worker,
    # in the batch shape, with the run
    [start] = engine.lambdas.of("engine_start")
    assert start.result["targets"] == {"bucket": engine.hub.engine_bucket, "key": f"targets/scheduler/{run.name}.json"}
    written = engine.read(start.result["targets"]["key"])
    workers = engine.lambdas.of("scheduler_worker")
    assert sorted(item for w in workers for item in map(json.dumps, w.event["Items"])) == sorted(
        map(json.dumps, written)
    )
    assert {w.event["BatchInput"]["run"]["run_id"] for w in workers} == {run.name}
    assert {(t["account"], t["region"]) for t in written} >= {(STAGING, "eu-west-1"), (NO_MEMBER_ROLE, "eu-west-1")}
    # Aggregate read the results the Map wrote under results/scheduler/ and summed the run up
    [aggregate] = engine.lambdas.of("engine_aggregate")
    assert aggregate.event["map"]["ResultWriterDetails"]["Key"].startswith("results/scheduler/")
    assert aggregate.event["run"]["run_id"] == run.name
    summary = aggregate.result
    assert (summary["status"], summary["mode"]) == ("completed with failures", "report")
    assert {t["account"] for t in summary["failed_targets"]} == {NO_MEMBER_ROLE}
    assert summary["targets"]["total"] == len(written)
    assert engine.objects(f"runs/scheduler/{run.name}/") == [summary["summary_key"]]
    # Report mode: the plan, and nothing changed in the estate
    assert any((a["name"], a["action"]) == ("payments-web-staging", "would stop") for a in summary["acted"])
    assert instance_state(estate, STAGING, "payments-web-staging") == "running"
    assert instance_state(estate, DEV, "jupyter-hub-dev") == "running"
    # The digests reached Slack, one per team channel; the default channel names the unreachable account
    assert sorted(p.channel for p in sink.posts) == ["#data-oncall", "#finops-alerts", "#payments-oncall"]
    default = json.dumps(next(p for p in sink.posts if p.channel == "#finops-alerts").payload)
    assert f"sandbox-legacy ({NO_MEMBER_ROLE})" in default


def test_the_friday_evening_run_in_enforce_mode_stops_staging_and_dev_and_never_prod(
    estate: SimulatedOrganization,
    engine_for: Callable[[FinOpsConfig], EngineInMoto],
    config: FinOpsConfig,
    sink: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the same hub with the scheduler in enforce mode, and the worker's clock a minute into the tick (a worker
    # past the next tick stands down rather than act on a stale clock)
    from finops import runtime

    monkeypatch.setattr(runtime, "wall_clock", lambda: datetime.fromisoformat(EVENING) + timedelta(minutes=1))
    engine = engine_for(enforcing(config))

    # When the Friday-evening tick runs
    run = engine.run(EVENING)

    # Then staging and dev on office-hours are stopped, prod is not, and the unreachable account fails the run
    assert run.states_entered == FAILED_RUN_PATH
    assert instance_state(estate, STAGING, "payments-web-staging") == "stopped"
    assert instance_state(estate, DEV, "jupyter-hub-dev") == "stopped"
    assert instance_state(estate, PROD, "payments-reporting") == "running"
    assert instance_state(estate, STAGING, "payments-hsm-proxy-staging") == "running"  # protected
    [aggregate] = engine.lambdas.of("engine_aggregate")
    assert aggregate.result["mode"] == "enforce"
    assert {t["account"] for t in aggregate.result["failed_targets"]} == {NO_MEMBER_ROLE}
    payments = json.dumps(next(p for p in sink.posts if p.channel == "#payments-oncall").payload)
    assert "payments-web-staging" in payments


@pytest.mark.parametrize("estate", [ACCOUNTS_ONLY], indirect=True)
def test_a_quiet_tick_ends_in_nothing_due_without_a_worker(
    estate: SimulatedOrganization, engine_for: Callable[[FinOpsConfig], EngineInMoto], config: FinOpsConfig, sink: Any
) -> None:
    # Given the shipped config
    engine = engine_for(config)

    # When a tick runs at which no schedule changes state
    run = engine.run(QUIET)

    # Then engine_start says so and the run ends there: no targets file, no worker, no digest
    assert run.states_entered == ["Start", "AnythingDue", "NothingDue"]
    assert run.description["status"] == "SUCCEEDED"
    assert [i.function for i in engine.lambdas.invocations] == ["engine_start"]
    assert engine.objects("targets/") == []
    assert not sink.posts
