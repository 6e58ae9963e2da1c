"""The run engine every acting capability shares, on AWS: one schedule and one state machine per capability.

On the capability's own schedule (:class:`RunSchedule`: every tick on the UTC grid, or daily at a UTC time),
EventBridge Scheduler starts the Standard state machine ``finops-<capability>`` with
``{"capability": "<name>", "time": "<scheduled time>"}``::

    Start (engine_start)  ->  AnythingDue?  --fan_out false-->  NothingDue (Succeed)
                                   | fan_out true
                                   v
    Targets: Distributed Map over the targets file engine_start wrote, batches of targets to the worker
                                   |  results written to the engine bucket under results/<capability>/
                                   v
    Aggregate (engine_aggregate)  ->  AnythingFailed?  --status "completed with failures"-->  RunHadFailures (Fail)
                                                       --otherwise-->  Done (Succeed)

The targets list and the Map's results live in one engine bucket (objects expire after 30 days). Decisions stay in the
Lambdas: ``engine_start`` reads the kill switch and the state table and says whether anything is due; the worker
plans and applies per target and reports failures as data; ``engine_aggregate`` summarises and posts digests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    CfnResource,
    Duration,
    IStableListProducer,
    Lazy,
    RemovalPolicy,
    Stack,
    TimeZone,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from finops.models.config import EngineConfig
from stacks.constructs.lambda_function import FinOpsFunction
from stacks.nag import acknowledge_checkov, acknowledge_wildcard_resource, acknowledge_wildcard_resources
from stacks.naming import resource_name, retained_name

# Where engine_start writes each run's targets (a JSON array of Target JSON) and where the Map writes its results
# (``results/<capability>/<map run id>/manifest.json`` and the result files it lists).
TARGETS_PREFIX = "targets/"
RESULTS_PREFIX = "results/"
SUMMARIES_PREFIX = "runs/"  # engine_aggregate: runs/<capability>/<run id>/summary.json
FAILED_STATUS = "completed with failures"  # finops.engine.aggregate's status when any target or action failed
OBJECT_EXPIRY = Duration.days(30)
# A run that has not finished after this long is stopped (and alarmed): ticks are minutes apart.
RUN_TIMEOUT = Duration.hours(1)
# Errors of the Lambda service itself (not of our code), worth retrying with backoff. Throttling is the likely one
# when the Map fans out; a function error is not retried: the worker reports per-target failures as data, and an
# exception is a bug the Map's tolerated failures and the alarms surface.
LAMBDA_SERVICE_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# CDK renders a Distributed Map's ResultWriterV2 only with this feature flag; the engine sets it for its own subtree.
RESULT_WRITER_V2_FLAG = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"
# How often EventBridge Scheduler tries again to start a run, within the age limit below (at most one tick).
SCHEDULE_RETRY_ATTEMPTS = 3

# State names: what a reader of an execution, and the local interpreter test, sees.
START, ANYTHING_DUE, NOTHING_DUE, TARGETS, WORKER, AGGREGATE, RUN_FAILED_CHOICE, RUN_FAILED, DONE = (
    "Start",
    "AnythingDue",
    "NothingDue",
    "Targets",
    "Worker",
    "Aggregate",
    "AnythingFailed",
    "RunHadFailures",
    "Done",
)


def tick_cron(minutes: int) -> tuple[str, str]:
    """The cron minute and hour fields of a tick every ``minutes`` on the UTC grid: 15 -> ``("0/15", "*")``.

    The grid is anchored at midnight UTC so ticks fall on the same wall-clock minutes every day; a tick that does not
    divide an hour or a day evenly would drift across it, so it is refused.
    """
    if 0 < minutes < 60 and 60 % minutes == 0:
        return f"0/{minutes}", "*"
    hours, rest = divmod(minutes, 60)
    if rest == 0 and 0 < hours <= 24 and 24 % hours == 0:
        return "0", {1: "*", 24: "0"}.get(hours, f"0/{hours}")
    raise ValueError(f"a tick of {minutes} minutes does not divide an hour or a day evenly")


def tick_schedule(minutes: int) -> scheduler.ScheduleExpression:
    """``cron(0/15 * * * ? *)`` in UTC for a 15-minute tick (see :func:`tick_cron`)."""
    minute, hour = tick_cron(minutes)
    return scheduler.ScheduleExpression.cron(minute=minute, hour=hour, time_zone=TimeZone.ETC_UTC)


def daily_cron(at: str) -> tuple[str, str]:
    """The cron minute and hour fields of a daily run at ``HH:MM`` UTC: ``"06:30"`` -> ``("30", "6")``."""
    found = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", at)
    if found is None:
        raise ValueError(f"a daily run's time is HH:MM (UTC, 00:00-23:59), not {at!r}")
    return str(int(found[2])), str(int(found[1]))


@dataclass(frozen=True)
class RunSchedule:
    """When a capability's runs start: ``expression`` (a cron in UTC) and ``interval``, the time between two runs.

    A start EventBridge Scheduler could not deliver is retried for at most one interval (and at most the 24 hours
    Scheduler allows): a run delivered after the next one would have started would act on a stale clock.
    """

    expression: scheduler.ScheduleExpression
    interval: Duration
    description: str

    @classmethod
    def every(cls, minutes: int) -> RunSchedule:
        """A tick every ``minutes`` on the UTC grid (:func:`tick_cron`)."""
        return cls(tick_schedule(minutes), Duration.minutes(minutes), f"Every {minutes} minutes on the UTC grid")

    @classmethod
    def daily_at(cls, at: str) -> RunSchedule:
        """Once a day at ``at`` (``HH:MM``, UTC)."""
        minute, hour = daily_cron(at)
        expression = scheduler.ScheduleExpression.cron(minute=minute, hour=hour, time_zone=TimeZone.ETC_UTC)
        return cls(expression, Duration.days(1), f"Daily at {at} UTC")

    @property
    def max_event_age(self) -> Duration:
        return Duration.minutes(max(1, min(int(self.interval.to_minutes()), 24 * 60)))


def _retry_lambda_service_errors(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
    task.add_retry(
        errors=list(LAMBDA_SERVICE_ERRORS),
        interval=Duration.seconds(2),
        max_attempts=6,
        backoff_rate=2,
        max_delay=Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


class EngineCapability(Construct):
    """One capability on the engine: the state machine ``finops-<name>``, its schedule, logs and alarm.

    Exposes ``state_machine``, ``log_group``, ``schedule``, ``schedule_role``, ``failed_alarm`` and ``map_state``.
    Made by :meth:`RunEngine.add_capability`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: EngineConfig,
        bucket: s3.IBucket,
        start: FinOpsFunction,
        worker: FinOpsFunction,
        aggregate: FinOpsFunction,
        run_schedule: RunSchedule,
        schedule_dead_letter_queue: sqs.IQueue,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        machine_name = resource_name(name)
        results_prefix = f"{RESULTS_PREFIX}{name}"

        start_task = _retry_lambda_service_errors(
            tasks.LambdaInvoke(
                self,
                START,
                lambda_function=start.function,
                comment="Kill switch, is anything due, the targets written to the engine bucket",
                # The execution's name becomes the run id: one name in the audit trail, the digests and the console.
                payload=sfn.TaskInput.from_object(
                    {"request": sfn.JsonPath.object_at("$"), "execution": sfn.JsonPath.execution_name}
                ),
                output_path="$.Payload",
                retry_on_service_exceptions=False,
            )
        )
        worker_task = _retry_lambda_service_errors(
            tasks.LambdaInvoke(
                self,
                WORKER,
                lambda_function=worker.function,
                comment="One batch of targets: {Items: [target...], BatchInput: {run}} -> {results: [...]}",
                payload=sfn.TaskInput.from_json_path_at("$"),
                output_path="$.Payload",
                retry_on_service_exceptions=False,
            )
        )
        self.map_state = sfn.DistributedMap(
            self,
            TARGETS,
            comment="Every target of the run, in batches, through the capability's worker",
            item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.targets.key")),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=settings.targets_per_invocation,
                batch_input={"run.$": "$.run"},
            ),
            max_concurrency=settings.max_concurrency,
            tolerated_failure_percentage=settings.tolerated_failure_percent,
            result_writer_v2=sfn.ResultWriterV2(bucket=bucket, prefix=results_prefix),
            result_path="$.map",
            label=name.replace("_", "-"),
        )
        self.map_state.item_processor(worker_task)
        aggregate_task = _retry_lambda_service_errors(
            tasks.LambdaInvoke(
                self,
                AGGREGATE,
                lambda_function=aggregate.function,
                comment="The Map's results from the engine bucket: one summary, the digests, the metrics",
                payload=sfn.TaskInput.from_object(
                    {
                        "run": sfn.JsonPath.object_at("$.run"),
                        "map": sfn.JsonPath.object_at("$.map"),
                        "targets": sfn.JsonPath.object_at("$.targets"),
                        "execution": sfn.JsonPath.execution_id,
                    }
                ),
                output_path="$.Payload",
                retry_on_service_exceptions=False,
            )
        )
        definition = start_task.next(
            sfn.Choice(self, ANYTHING_DUE, comment="engine_start says whether this tick fans out")
            .when(
                sfn.Condition.boolean_equals("$.fan_out", True),
                self.map_state.next(aggregate_task).next(
                    sfn.Choice(self, RUN_FAILED_CHOICE, comment="Any target or action failed: fail loudly (alarmed)")
                    .when(
                        sfn.Condition.string_equals("$.status", FAILED_STATUS),
                        sfn.Fail(
                            self,
                            RUN_FAILED,
                            error="RunHadFailures",
                            cause="Some targets or actions failed; the digests name them, and the run summary in the "
                            "engine bucket (runs/<capability>/<run id>/summary.json) lists each with its error.",
                        ),
                    )
                    .otherwise(sfn.Succeed(self, DONE))
                ),
            )
            .when(
                sfn.Condition.boolean_equals("$.fan_out", False),
                sfn.Succeed(self, NOTHING_DUE, comment="Nothing due, or paused by the kill switch"),
            )
        )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Kept on deletion, so named per install (a reinstall must not collide with it); the /aws/vendedlogs/
            # prefix keeps CloudWatch Logs' resource policy from growing with every log delivery.
            log_group_name=retained_name(self, f"/aws/vendedlogs/states/{machine_name}"),
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge_checkov(
            self.log_group,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every log group at rest, and this one holds state transitions without the "
            "execution data (include_execution_data is off): no secret, no payload. A customer managed key would add "
            "a key per install and a key policy for logs.<region>.amazonaws.com, and outlive the retained group.",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            comment=f"The run engine for {name}: start, a Distributed Map over {worker.function_name}, aggregate",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=RUN_TIMEOUT,
            tracing_enabled=True,
            # Every state transition, without the state data: it holds no secrets, but the run context and the
            # targets are the Lambdas' to log, once, in their own log groups.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )

        _drop_redundant_role_dependency(self.state_machine)
        map_policy = self.state_machine.node.find_child("DistributedMapPolicy")

        # The schedule's own role: start this state machine, nothing else (and park an undeliverable tick).
        schedule_name = machine_name
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            description=f"EventBridge Scheduler starts {machine_name}",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": stack.account,
                        "aws:SourceArn": stack.format_arn(
                            service="scheduler", resource="schedule-group", resource_name="default"
                        ),
                    }
                },
            ),
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=schedule_name,
            description=f"{run_schedule.description}: a run of {name}",
            schedule=run_schedule.expression,
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"capability": name, "time": scheduler.ContextAttribute.scheduled_time}
                ),
                role=self.schedule_role,
                dead_letter_queue=schedule_dead_letter_queue,
                # A run delivered later than the next one would act on a stale clock: give up after one interval.
                max_event_age=run_schedule.max_event_age,
                retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
            ),
        )

        # What engine_start writes and engine_aggregate reads; the Map's own S3 access CDK grants with the reader
        # and the writer.
        targets = bucket.arn_for_objects(f"{TARGETS_PREFIX}*")
        results = bucket.arn_for_objects(f"{results_prefix}/*")
        summaries = bucket.arn_for_objects(f"{SUMMARIES_PREFIX}{name}/*")
        self.start_access = iam.Policy(
            self,
            "StartAccess",
            roles=[start.role],
            statements=[iam.PolicyStatement(actions=["s3:PutObject"], resources=[targets])],
        )
        acknowledge_wildcard_resource(
            self.start_access,
            targets,
            f"{start.function_name} writes each run's targets file under {TARGETS_PREFIX}, one new key per run; "
            "it reads nothing back.",
        )
        self.aggregate_access = iam.Policy(
            self,
            "AggregateAccess",
            roles=[aggregate.role],
            statements=[
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[results, targets]),
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[summaries]),
            ],
        )
        acknowledge_wildcard_resource(
            self.aggregate_access,
            targets,
            f"{aggregate.function_name} reads back the run's targets file under {TARGETS_PREFIX} (one key per run) to "
            "report every target the Map recorded no result for.",
        )
        acknowledge_wildcard_resource(
            self.aggregate_access,
            summaries,
            f"{aggregate.function_name} writes each run's whole summary under {SUMMARIES_PREFIX}{name}/, one key per "
            "run (the state's own output is capped at 256 KiB).",
        )
        acknowledge_wildcard_resource(
            self.aggregate_access,
            results,
            f"{aggregate.function_name} reads the manifest and result files the Map writes under {results_prefix}/, "
            "in a folder per Map Run that Step Functions names.",
        )
        # No tick before every permission of the run exists: the Map's (which CDK attaches beside the state machine's
        # role, outside its dependencies) and the two above.
        self.schedule.node.add_dependency(map_policy, self.start_access, self.aggregate_access)

        alarm_action = cloudwatch_actions.SnsAction(alarm_topic)
        five_minutes = Duration.minutes(5)
        self.failed_alarm = cloudwatch.Alarm(
            self,
            "FailedAlarm",
            alarm_name=f"{machine_name}-run-failed",
            alarm_description=(
                f"A {name} run failed or timed out ({RUN_TIMEOUT.to_minutes()} min): open the failed execution of "
                f"the state machine {machine_name} (logs: {self.log_group.log_group_name}); a failed Aggregate means "
                "at least one target failed, its summary says which."
            ),
            metric=cloudwatch.MathExpression(
                expression="failed + timed_out",
                using_metrics={
                    "failed": self.state_machine.metric_failed(period=five_minutes, statistic="Sum"),
                    "timed_out": self.state_machine.metric_timed_out(period=five_minutes, statistic="Sum"),
                },
                period=five_minutes,
                label=f"{machine_name} executions failed or timed out",
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.failed_alarm.add_alarm_action(alarm_action)

        # What CDK's Step Functions constructs grant the state machine's role on wildcard resources, and why.
        acknowledge_wildcard_resources(self.state_machine.role.node.find_child("DefaultPolicy"), _ROLE_WILDCARDS)
        acknowledge_wildcard_resources(map_policy, _MAP_WILDCARDS)


@jsii.implements(IStableListProducer)
class _DependenciesButRoles:
    def __init__(self, resource: CfnResource) -> None:
        self._resource = resource

    def produce(self) -> list[str]:
        stack = Stack.of(self._resource)
        return [
            stack.resolve(stack.get_logical_id(dependency))
            for dependency in self._resource.obtain_dependencies()
            if isinstance(dependency, CfnResource) and not isinstance(dependency, iam.CfnRole)
        ]


def _drop_redundant_role_dependency(machine: sfn.StateMachine) -> None:
    """aws-cdk-lib makes a state machine depend on its whole role, policies included, so the permissions exist before
    the first execution. The role itself is already ordered by the ``RoleArn`` GetAtt, which cfn-lint flags (W3005):
    keep every dependency CDK computes (read at synth, once it has computed them) but the role.
    """
    resource = machine.node.default_child
    if not isinstance(resource, CfnResource):  # pragma: no cover - a StateMachine is one CfnStateMachine
        raise TypeError(f"{machine.node.path} has no CloudFormation resource")
    resource.add_override("DependsOn", Lazy.list(_DependenciesButRoles(resource)))


# Why each statement CDK writes into a state machine's policies names a wildcard resource, by the action it grants.
_ROLE_WILDCARDS: Mapping[str, str] = {
    "lambda:InvokeFunction": (
        "CDK's LambdaInvoke grants lambda:InvokeFunction on the function and on its versions and aliases (the :* "
        "suffix); the state machine invokes only its three functions."
    ),
    "s3:GetObject": (
        "The Distributed Map's item reader reads the run's targets file, whose key engine_start chooses at run time, "
        "from the engine bucket, which holds nothing but the engine's own targets and results."
    ),
    "s3:PutObject": (
        "The Distributed Map's result writer writes its manifest and result files (PutObject, GetObject, "
        "ListMultipartUploadParts, AbortMultipartUpload) under a prefix of the engine bucket named per Map Run."
    ),
    "logs:CreateLogDelivery": (
        "Execution logging to CloudWatch Logs: the log-delivery and resource-policy actions support no "
        "resource-level permissions."
    ),
    "xray:PutTraceSegments": "X-Ray tracing: the X-Ray actions support no resource-level permissions.",
}
_MAP_WILDCARDS: Mapping[str, str] = {
    "states:DescribeExecution": (
        "The Distributed Map describes and stops the child executions it starts, whose names Step Functions "
        "generates: every execution of this state machine, no other."
    ),
    "states:RedriveExecution": (
        "Redriving a failed Map Run restarts its child executions, named by Step Functions under this Map's label."
    ),
}


class RunEngine(Construct):
    """The engine's shared pieces, once per hub: the engine bucket and the dead-letter queue of the schedules.

    Add each acting capability with :meth:`add_capability`. Exposes ``bucket``, ``schedule_dead_letter_queue``,
    ``dead_letter_alarm`` and ``capabilities`` (name -> :class:`EngineCapability`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: EngineConfig, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.node.set_context(RESULT_WRITER_V2_FLAG, True)
        self._settings = settings
        self._alarm_topic = alarm_topic
        self.capabilities: dict[str, EngineCapability] = {}

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireEngineData",
                    expiration=OBJECT_EXPIRY,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge_checkov(
            self.bucket,
            "CKV_AWS_18",
            "The engine's scratch space, read and written only by the hub's engine roles, public access blocked and "
            "TLS enforced, objects expired after 30 days. An access-log bucket would hold more than this one and need "
            "the same acknowledgment; object access is auditable with CloudTrail data events on the trail.",
        )
        acknowledge_checkov(
            self.bucket,
            "CKV_AWS_21",
            "No versioning: every key is written once per run (targets, Map results, the summary under the run's "
            "id) and expires after 30 days; old versions would keep data past that expiry and restore nothing anyone "
            "needs. What the automation did is in the audit table, which has point-in-time recovery.",
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason=(
                    "The engine's scratch space: run target lists and Map results, written and read only by the "
                    "hub's engine roles and expired after 30 days, with public access blocked and TLS enforced. An "
                    "access-log bucket would hold more than this one and need the same acknowledgment; object-level "
                    "access is auditable through CloudTrail data events on the Organization's trail."
                ),
            )
        )
        self.schedule_dead_letter_queue = sqs.Queue(
            self,
            "ScheduleDeadLetterQueue",
            queue_name="finops-engine-schedule-dlq",
            # The account's AWS managed SQS key: the schedules' roles (same account) may use it through SQS.
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.schedule_dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is the dead-letter target of the engine's EventBridge Scheduler schedules (cdk-nag "
                    "recognises only an SQS redrive policy); nothing else sends to it, and its depth is alarmed."
                ),
            )
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "ScheduleDeadLetterAlarm",
            alarm_name="finops-engine-schedule-dlq",
            alarm_description=(
                "EventBridge Scheduler could not start a run engine state machine after its retries; each start that "
                "was dropped waits in finops-engine-schedule-dlq with the error. The next scheduled run starts "
                "normally."
            ),
            metric=self.schedule_dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))

    def add_capability(
        self,
        name: str,
        *,
        start: FinOpsFunction,
        worker: FinOpsFunction,
        aggregate: FinOpsFunction,
        run_schedule: RunSchedule,
    ) -> EngineCapability:
        """The state machine ``finops-<name>`` running ``start`` -> Map over ``worker`` -> ``aggregate``, started on
        ``run_schedule``."""
        capability = EngineCapability(
            self,
            "".join(part.title() for part in name.split("_")),
            name=name,
            settings=self._settings,
            bucket=self.bucket,
            start=start,
            worker=worker,
            aggregate=aggregate,
            run_schedule=run_schedule,
            schedule_dead_letter_queue=self.schedule_dead_letter_queue,
            alarm_topic=self._alarm_topic,
        )
        self.capabilities[name] = capability
        return capability


def definition(
    template: Mapping[str, Any],
    state_machine: str,
    arns: Mapping[str, str],
    *,
    bucket_name: str = "finops-engine",
    partition: str = "aws",
) -> dict[str, Any]:
    """The synthesized definition of ``state_machine`` as ASL, every reference resolved: see :func:`definition_json`."""
    resources: Mapping[str, Any] = template["Resources"]
    machines = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
        and state_machine in (logical_id, resource["Properties"].get("StateMachineName"))
    }
    if len(machines) != 1:
        raise KeyError(f"no single state machine named {state_machine!r} in the template")
    (machine,) = machines.values()

    def function_arn(logical_id: str) -> str:
        function_name = resources[logical_id]["Properties"]["FunctionName"]
        for key, arn in arns.items():
            if function_name in (key, resource_name(key)):
                return arn
        raise KeyError(f"no ARN given for the function {function_name} (pass its handler name, e.g. engine_start)")

    def resolve(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(resolve(part) for part in parts)
        if isinstance(value, dict) and set(value) == {"Ref"}:
            ref = value["Ref"]
            if ref == "AWS::Partition":
                return partition
            if resources.get(ref, {}).get("Type") == "AWS::S3::Bucket":
                return bucket_name
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn" and resources.get(logical_id, {}).get("Type") == "AWS::Lambda::Function":
                return function_arn(logical_id)
        raise ValueError(f"cannot resolve {json.dumps(value)} in the definition of {state_machine}")

    parsed: dict[str, Any] = json.loads(resolve(machine["Properties"]["DefinitionString"]))
    return parsed


def definition_json(
    template: Mapping[str, Any],
    state_machine: str,
    arns: Mapping[str, str],
    *,
    bucket_name: str = "finops-engine",
    partition: str = "aws",
) -> str:
    """The definition of ``state_machine`` in a synthesized ``template`` (``Template.to_json()``), as the ASL JSON
    string a local interpreter runs.

    ``state_machine`` is its name (``finops-scheduler``) or logical id. ``arns`` maps each function the definition
    invokes, by handler name (``engine_start``) or function name (``finops-engine-start``), to the ARN to call
    instead; the engine bucket becomes ``bucket_name`` and the partition ``partition``. Anything else the definition
    references raises ``ValueError``, and a function without an ARN ``KeyError``.
    """
    return json.dumps(definition(template, state_machine, arns, bucket_name=bucket_name, partition=partition))
