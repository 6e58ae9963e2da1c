"""The run engine in the hub: the state machine per capability, its schedule, the engine bucket and what each
identity may do with them (the state table, the kill switch, the member role).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from finops.handlers import CAPABILITY_WORKERS
from finops.models.config import EngineConfig, FinOpsConfig
from stacks import hub_stack
from stacks.constructs.run_engine import LAMBDA_SERVICE_ERRORS, daily_cron, definition, definition_json, tick_cron
from stacks.hub_stack import run_schedule, worker_timeout
from stacks.naming import resource_name
from tests.stacks.template_helpers import as_list, flatten, only, per_install, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"
MACHINE = "finops-scheduler"
CLEANUP_MACHINE = "finops-ebs-cleanup"
ARNS = {
    "engine_start": "arn:aws:lambda:us-east-1:000000000000:function:start",
    "scheduler_worker": "arn:aws:lambda:us-east-1:000000000000:function:worker",
    "engine_aggregate": "arn:aws:lambda:us-east-1:000000000000:function:aggregate",
}
CLEANUP_ARNS = {**ARNS, "ebs_cleanup_worker": "arn:aws:lambda:us-east-1:000000000000:function:cleanup-worker"}
BUCKET = "engine-bucket"
FUNCTIONS = {
    "anomaly_alerts": "finops-anomaly-alerts",
    "slack_redrive": "finops-slack-redrive",
    "engine_start": "finops-engine-start",
    "engine_aggregate": "finops-engine-aggregate",
    "scheduler_worker": "finops-scheduler-worker",
    "ebs_cleanup_worker": "finops-ebs-cleanup-worker",
    "tag_compliance_worker": "finops-tag-compliance-worker",
}
KILL_SWITCH_ARN = f"arn:${{AWS::Partition}}:ssm:us-east-1:{HUB}:parameter/finops/kill-switch"


def states_of(template: Template, machine: str = MACHINE) -> dict[str, Any]:
    states: dict[str, Any] = definition(template.to_json(), machine, ARNS, bucket_name=BUCKET)["States"]
    return states


def machine_of(template: Template, machine: str = MACHINE) -> tuple[str, dict[str, Any]]:
    return only(template, "AWS::StepFunctions::StateMachine", {"StateMachineName": machine})


def role_policies(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    role = {"Ref": role_logical_id}
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role in policy["Properties"]["Roles"]:
            found.extend(statements(policy))
    return found


def function_statements(template: Template, name: str) -> list[dict[str, Any]]:
    role_id, _ = only(template, "AWS::IAM::Role", {"RoleName": FUNCTIONS[name]})
    return role_policies(template, role_id)


def engine_bucket_id(template: Template) -> str:
    return only(template, "AWS::S3::Bucket")[0]


# --- the state machine ------------------------------------------------------------------------------------------


def test_every_acting_capability_has_a_standard_state_machine_named_finops_capability(hub_template: Template) -> None:
    assert {resource_name(capability) for capability in CAPABILITY_WORKERS} == {
        MACHINE,
        CLEANUP_MACHINE,
        "finops-tag-compliance",
    }
    for capability in CAPABILITY_WORKERS:
        _, machine = machine_of(hub_template, resource_name(capability))
        assert machine["Properties"]["StateMachineType"] == "STANDARD"


def test_the_clean_ups_machine_is_the_same_engine_over_its_own_worker_and_results(
    hub_template: Template, config: FinOpsConfig
) -> None:
    states = states_of_cleanup(hub_template)
    scheduler_states = states_of(hub_template)

    targets = states["Targets"]
    processor = targets["ItemProcessor"]
    worker = processor["States"][processor["StartAt"]]
    assert worker["Parameters"] == {"FunctionName": CLEANUP_ARNS["ebs_cleanup_worker"], "Payload.$": "$"}
    assert targets["ResultWriter"]["Parameters"] == {"Bucket": BUCKET, "Prefix": "results/ebs_cleanup"}
    assert targets["Label"] == "ebs-cleanup"
    assert targets["ItemBatcher"]["MaxItemsPerBatch"] == config.engine.targets_per_invocation
    # the same start and aggregate, the same path through the states
    assert states["Start"]["Parameters"] == scheduler_states["Start"]["Parameters"]
    assert states["Aggregate"]["Parameters"] == scheduler_states["Aggregate"]["Parameters"]
    assert set(states) == set(scheduler_states)


def states_of_cleanup(template: Template) -> dict[str, Any]:
    states: dict[str, Any] = definition(template.to_json(), CLEANUP_MACHINE, CLEANUP_ARNS, bucket_name=BUCKET)["States"]
    return states


def test_a_run_starts_then_fans_out_only_when_start_says_so(hub_template: Template) -> None:
    document = definition(hub_template.to_json(), MACHINE, ARNS, bucket_name=BUCKET)
    states = document["States"]

    # Start: engine_start with the execution input and the execution's name (the run id), its reply the state
    assert document["StartAt"] == "Start"
    start = states["Start"]
    assert start["Resource"] == "arn:aws:states:::lambda:invoke"
    assert start["Parameters"] == {
        "FunctionName": ARNS["engine_start"],
        "Payload": {"request.$": "$", "execution.$": "$$.Execution.Name"},
    }
    assert start["OutputPath"] == "$.Payload"
    assert start["Next"] == "AnythingDue"
    # Choice on fan_out: false ends the run ("nothing due" or paused), true goes to the Map
    choice = states["AnythingDue"]
    assert choice["Type"] == "Choice"
    assert {"Variable": "$.fan_out", "BooleanEquals": False, "Next": "NothingDue"} in choice["Choices"]
    assert {"Variable": "$.fan_out", "BooleanEquals": True, "Next": "Targets"} in choice["Choices"]
    assert "Default" not in choice  # neither true nor false: the run fails, loudly
    assert states["NothingDue"]["Type"] == "Succeed"


def test_the_map_reads_the_targets_engine_start_wrote_and_batches_them_for_the_worker(
    hub_template: Template, config: FinOpsConfig
) -> None:
    targets = states_of(hub_template)["Targets"]

    assert targets["Type"] == "Map"
    assert targets["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert targets["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": BUCKET, "Key.$": "$.targets.key"},
    }
    assert "ItemSelector" not in targets  # each item is the Target JSON as engine_start wrote it
    assert targets["ItemBatcher"] == {
        "MaxItemsPerBatch": config.engine.targets_per_invocation,
        "BatchInput": {"run.$": "$.run"},
    }
    assert targets["MaxConcurrency"] == config.engine.max_concurrency == 40
    assert targets["ToleratedFailurePercentage"] == config.engine.tolerated_failure_percent == 100
    assert targets["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": "results/scheduler"},
    }
    assert targets["ResultPath"] == "$.map"
    assert targets["Next"] == "Aggregate"


def test_the_worker_gets_each_batch_and_retries_only_lambda_service_errors_with_backoff(
    hub_template: Template,
) -> None:
    processor = states_of(hub_template)["Targets"]["ItemProcessor"]
    worker = processor["States"][processor["StartAt"]]

    # the batch as the Map hands it over: {"Items": [target, ...], "BatchInput": {"run": ...}}
    assert worker["Parameters"] == {"FunctionName": ARNS["scheduler_worker"], "Payload.$": "$"}
    assert worker["OutputPath"] == "$.Payload"
    assert worker["End"] is True
    (retry,) = worker["Retry"]
    assert (
        retry["ErrorEquals"]
        == list(LAMBDA_SERVICE_ERRORS)
        == [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ]
    )
    assert retry["BackoffRate"] > 1
    assert retry["MaxAttempts"] >= 3
    assert retry["JitterStrategy"] == "FULL"
    assert "Catch" not in worker  # a worker error is the Map's to count, against the tolerated failures


def test_aggregate_gets_the_run_the_map_results_and_the_execution_then_a_run_with_failures_fails(
    hub_template: Template,
) -> None:
    states = states_of(hub_template)

    aggregate = states["Aggregate"]
    assert aggregate["Parameters"] == {
        "FunctionName": ARNS["engine_aggregate"],
        "Payload": {"run.$": "$.run", "map.$": "$.map", "targets.$": "$.targets", "execution.$": "$$.Execution.Id"},
    }
    assert aggregate["OutputPath"] == "$.Payload"
    verdict = states[aggregate["Next"]]
    assert verdict["Type"] == "Choice"
    [failed] = verdict["Choices"]
    assert failed == {"Variable": "$.status", "StringEquals": "completed with failures", "Next": "RunHadFailures"}
    assert states["RunHadFailures"]["Type"] == "Fail"  # alarmed: ExecutionsFailed
    assert states["RunHadFailures"]["Error"] == "RunHadFailures"
    assert states[verdict["Default"]]["Type"] == "Succeed"
    # every Lambda step retries the Lambda service's own errors
    assert states["Start"]["Retry"] == aggregate["Retry"]
    assert aggregate["Retry"][0]["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)


def test_the_fan_out_follows_the_engine_config(hub_for: Callable[..., Template]) -> None:
    # Given another fan-out in the config, and another tick
    template = hub_for(
        engine={"max_concurrency": 7, "tolerated_failure_percent": 10, "targets_per_invocation": 3},
        capabilities={"scheduler": {"tick_minutes": 30}},
    )

    # Then the Map and the schedule follow it
    targets = states_of(template)["Targets"]
    assert targets["MaxConcurrency"] == 7
    assert targets["ToleratedFailurePercentage"] == 10
    assert targets["ItemBatcher"]["MaxItemsPerBatch"] == 3
    template.has_resource_properties("AWS::Scheduler::Schedule", {"ScheduleExpression": "cron(0/30 * * * ? *)"})


def test_runs_are_logged_traced_and_stopped_after_an_hour(hub_template: Template) -> None:
    _, machine = machine_of(hub_template)
    log_group_id, _ = only(
        hub_template,
        "AWS::Logs::LogGroup",
        {"LogGroupName": per_install(f"/aws/vendedlogs/states/{MACHINE}"), "RetentionInDays": 30},
    )
    properties = machine["Properties"]

    assert properties["LoggingConfiguration"] == {
        "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group_id, "Arn"]}}}],
        "IncludeExecutionData": False,
        "Level": "ALL",
    }
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert definition(hub_template.to_json(), MACHINE, ARNS)["TimeoutSeconds"] == 3600


def test_a_failed_or_timed_out_run_alarms_to_the_alarm_topic(hub_template: Template) -> None:
    machine_id, _ = machine_of(hub_template)
    topic_id, _ = only(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": f"{MACHINE}-run-failed"})
    properties = alarm["Properties"]

    metrics = {m["Id"]: m for m in properties["Metrics"]}
    assert metrics["expr_1"]["Expression"] == "failed + timed_out"
    for metric_id, name in (("failed", "ExecutionsFailed"), ("timed_out", "ExecutionsTimedOut")):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/States", name)
        assert metric["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert properties["AlarmActions"] == [{"Ref": topic_id}]


def test_definition_json_is_the_asl_a_local_interpreter_runs(hub_template: Template) -> None:
    text = definition_json(hub_template.to_json(), MACHINE, ARNS, bucket_name=BUCKET)

    document = json.loads(text)
    invoked = {
        state["Parameters"]["FunctionName"]
        for state in [*document["States"].values(), *document["States"]["Targets"]["ItemProcessor"]["States"].values()]
        if state.get("Resource") == "arn:aws:states:::lambda:invoke"
    }
    assert invoked == set(ARNS.values())
    assert "Fn::" not in text
    assert "${" not in text
    # the function's own name works as a key too; a function without an ARN is named
    by_function_name = {FUNCTIONS[name]: arn for name, arn in ARNS.items()}
    assert json.loads(definition_json(hub_template.to_json(), MACHINE, by_function_name)) == json.loads(
        definition_json(hub_template.to_json(), MACHINE, ARNS)
    )
    with pytest.raises(KeyError, match="finops-engine-aggregate"):
        definition(hub_template.to_json(), MACHINE, {k: v for k, v in ARNS.items() if k != "engine_aggregate"})


# --- the schedule -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "fields"),
    [
        (1, ("0/1", "*")),
        (5, ("0/5", "*")),
        (15, ("0/15", "*")),
        (30, ("0/30", "*")),
        (60, ("0", "*")),
        (120, ("0", "0/2")),
        (360, ("0", "0/6")),
        (1440, ("0", "0")),
    ],
)
def test_ticks_fall_on_the_utc_grid(minutes: int, fields: tuple[str, str]) -> None:
    assert tick_cron(minutes) == fields


@pytest.mark.parametrize("minutes", [0, 7, 45, 90, 300, 2880])
def test_a_tick_that_would_drift_across_the_grid_is_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="does not divide an hour or a day evenly"):
        tick_cron(minutes)


def test_the_schedule_starts_the_state_machine_every_tick_on_the_utc_grid(
    hub_template: Template, config: FinOpsConfig
) -> None:
    machine_id, _ = machine_of(hub_template)
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-engine-schedule-dlq"})
    _, schedule = only(hub_template, "AWS::Scheduler::Schedule", {"Name": MACHINE})
    properties = schedule["Properties"]
    target = properties["Target"]

    assert config.capabilities.scheduler.tick_minutes == 15
    assert properties["ScheduleExpression"] == "cron(0/15 * * * ? *)"
    assert properties["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert properties["State"] == "ENABLED"
    assert target["Arn"] == {"Ref": machine_id}
    assert json.loads(target["Input"]) == {"capability": "scheduler", "time": "<aws.scheduler.scheduled-time>"}
    # retried, but never delivered later than the next tick (a missed tick is the next one's to catch up)
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 15 * 60, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}


@pytest.mark.parametrize(
    ("at", "fields"),
    [("06:00", ("0", "6")), ("00:00", ("0", "0")), ("23:59", ("59", "23")), ("07:05", ("5", "7"))],
)
def test_a_daily_run_falls_on_its_utc_minute(at: str, fields: tuple[str, str]) -> None:
    assert daily_cron(at) == fields


@pytest.mark.parametrize("at", ["6:00", "24:00", "12:60", "noon", "06:00Z"])
def test_a_daily_time_that_is_not_hh_mm_is_refused(at: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        daily_cron(at)


def test_the_clean_up_runs_once_a_day_at_its_run_at_and_gives_up_on_a_start_a_day_late(
    hub_template: Template, config: FinOpsConfig
) -> None:
    machine_id, _ = machine_of(hub_template, CLEANUP_MACHINE)
    _, schedule = only(hub_template, "AWS::Scheduler::Schedule", {"Name": CLEANUP_MACHINE})
    properties = schedule["Properties"]
    target = properties["Target"]

    assert config.capabilities.ebs_cleanup.run_at == "06:00"
    assert properties["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert properties["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert target["Arn"] == {"Ref": machine_id}
    assert json.loads(target["Input"]) == {"capability": "ebs_cleanup", "time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 24 * 60 * 60, "MaximumRetryAttempts": 3}


def test_each_capability_keeps_its_own_schedule_when_the_config_moves_one(hub_for: Callable[..., Template]) -> None:
    # Given the clean-up moved to a quarter to midnight and the scheduler to a half-hour tick
    template = hub_for(capabilities={"ebs_cleanup": {"run_at": "23:45"}, "scheduler": {"tick_minutes": 30}})

    # Then each schedule follows its own setting
    expressions = {
        s["Properties"]["Name"]: s["Properties"]["ScheduleExpression"]
        for s in resources(template, "AWS::Scheduler::Schedule").values()
    }
    assert expressions == {
        MACHINE: "cron(0/30 * * * ? *)",
        CLEANUP_MACHINE: "cron(45 23 * * ? *)",
        "finops-tag-compliance": "cron(0 5 * * ? *)",  # tag_compliance.run_at, unmoved
    }


def test_a_capability_without_a_run_schedule_stops_the_synth(config: FinOpsConfig) -> None:
    with pytest.raises(KeyError, match="no run schedule for the acting capability 'tag_enforcement'"):
        run_schedule("tag_enforcement", config.capabilities)


def test_the_schedules_role_may_only_start_its_state_machine_and_park_a_tick_it_could_not_deliver(
    hub_template: Template,
) -> None:
    machine_id, _ = machine_of(hub_template)
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-engine-schedule-dlq"})
    _, schedule = only(hub_template, "AWS::Scheduler::Schedule", {"Name": MACHINE})
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    _, role = only(hub_template, "AWS::IAM::Role", {"Description": f"EventBridge Scheduler starts {MACHINE}"})

    allowed = role_policies(hub_template, role_id)

    assert allowed == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": machine_id}},
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]}},
    ]
    (trust,) = statements(role, "AssumeRolePolicyDocument")
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": HUB,
            "aws:SourceArn": f"arn:${{AWS::Partition}}:scheduler:us-east-1:{HUB}:schedule-group/default",
        }
    }


def test_a_tick_that_could_not_start_a_run_waits_in_an_alarmed_queue(hub_template: Template) -> None:
    queue_id, queue = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-engine-schedule-dlq"})
    topic_id, _ = only(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})

    assert queue["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs"
    hub_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "finops-engine-schedule-dlq",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [{"Ref": topic_id}],
        },
    )


# --- the engine bucket --------------------------------------------------------------------------------------------


def test_the_engine_bucket_is_private_encrypted_tls_only_and_forgets_after_30_days(hub_template: Template) -> None:
    bucket_id, bucket = only(hub_template, "AWS::S3::Bucket")
    properties = bucket["Properties"]

    assert "BucketName" not in properties
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 30)
    _, policy = only(hub_template, "AWS::S3::BucketPolicy", {"Bucket": {"Ref": bucket_id}})
    (deny,) = [s for s in statements(policy) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == {"AWS": "*"}


def test_engine_start_writes_targets_and_engine_aggregate_reads_results_and_writes_summaries_nothing_else(
    hub_template: Template,
) -> None:
    bucket_arn = {"Fn::GetAtt": [engine_bucket_id(hub_template), "Arn"]}

    def objects(prefix: str) -> Any:
        return flatten({"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]})

    start = [s for s in function_statements(hub_template, "engine_start") if "s3:" in json.dumps(s["Action"])]
    aggregate = [s for s in function_statements(hub_template, "engine_aggregate") if "s3:" in json.dumps(s["Action"])]

    # one targets file per run, whichever capability's
    assert start == [{"Action": "s3:PutObject", "Effect": "Allow", "Resource": objects("targets/")}] * len(
        CAPABILITY_WORKERS
    )
    # each capability's results and summaries under its own prefix
    for capability in CAPABILITY_WORKERS:
        assert {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": [objects(f"results/{capability}/"), objects("targets/")],
        } in aggregate
        assert {"Action": "s3:PutObject", "Effect": "Allow", "Resource": objects(f"runs/{capability}/")} in aggregate
    assert len(aggregate) == 2 * len(CAPABILITY_WORKERS)
    for name in ("anomaly_alerts", "slack_redrive", *CAPABILITY_WORKERS.values()):
        assert not [s for s in function_statements(hub_template, name) if "s3:" in json.dumps(s["Action"])], name


def test_the_state_machine_may_read_targets_write_results_and_run_its_own_child_executions(
    hub_template: Template,
) -> None:
    machine_id, machine = machine_of(hub_template)
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    bucket = {"Ref": engine_bucket_id(hub_template)}
    bucket_objects = flatten({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", bucket, "/*"]]})

    allowed = role_policies(hub_template, role_id)

    def actions_on(resource: Any) -> set[str]:
        return {a for s in allowed if resource in as_list(s["Resource"]) for a in as_list(s["Action"])}

    # the item reader and the result writer, on the engine bucket only
    on_bucket = {a for s in allowed for a in as_list(s["Action"]) if a.startswith("s3:")}
    assert on_bucket == {"s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"}
    assert {json.dumps(s["Resource"]) for s in allowed if str(as_list(s["Action"])[0]).startswith("s3:")} == {
        json.dumps(bucket_objects)
    }
    # the Distributed Map's child executions: start this state machine, describe and stop its executions
    assert actions_on({"Ref": machine_id}) == {"states:StartExecution"}
    states_actions = {a for s in allowed for a in as_list(s["Action"]) if a.startswith("states:")}
    assert states_actions == {
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
    }
    for statement in allowed:
        if set(as_list(statement["Action"])) & {"states:DescribeExecution", "states:RedriveExecution"}:
            resource = json.dumps(statement["Resource"])
            assert f":states:us-east-1:{HUB}:execution:" in resource
            assert machine_id in resource
    # and it invokes exactly its three functions
    invoked = {
        json.dumps(r)
        for s in allowed
        if "lambda:InvokeFunction" in as_list(s["Action"])
        for r in as_list(s["Resource"])
        if isinstance(r, dict)  # the function itself; its versions and aliases are the ":*" strings
    }
    functions = {
        json.dumps(
            {"Fn::GetAtt": [only(hub_template, "AWS::Lambda::Function", {"FunctionName": FUNCTIONS[n]})[0], "Arn"]}
        )
        for n in ("engine_start", "scheduler_worker", "engine_aggregate")
    }
    assert invoked == functions


# --- the state table, the kill switch, the member role --------------------------------------------------------------


def state_table_id(template: Template) -> str:
    return only(template, "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})[0]


def test_the_state_table_is_on_demand_recoverable_and_kept(hub_template: Template) -> None:
    _, table = only(hub_template, "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    properties = table["Properties"]

    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # a tick with nothing due completes in engine_start itself (the next tick starts from it)
        ("engine_start", {"dynamodb:GetItem", "dynamodb:PutItem"}),
        ("engine_aggregate", {"dynamodb:GetItem", "dynamodb:PutItem"}),
        ("scheduler_worker", set()),
        ("ebs_cleanup_worker", set()),
        ("tag_compliance_worker", set()),
        ("anomaly_alerts", set()),
        ("slack_redrive", set()),
    ],
)
def test_only_engine_start_and_engine_aggregate_touch_the_state_table(
    hub_template: Template, name: str, expected: set[str]
) -> None:
    table = state_table_id(hub_template)

    granted = {
        a
        for s in function_statements(hub_template, name)
        if table in json.dumps(s["Resource"])
        for a in as_list(s["Action"])
    }

    assert granted == expected


def test_the_kill_switch_is_read_by_start_and_the_workers_on_exactly_its_parameter(
    hub_template: Template, config: FinOpsConfig
) -> None:
    assert config.safety.kill_switch_parameter == "/finops/kill-switch"
    readers = set()
    for name in FUNCTIONS:
        for statement in function_statements(hub_template, name):
            if any(a.startswith("ssm:") for a in as_list(statement["Action"])):
                assert statement["Action"] == "ssm:GetParameter"
                assert statement["Resource"] == KILL_SWITCH_ARN
                readers.add(name)

    assert readers == {"engine_start", *CAPABILITY_WORKERS.values()}
    # the stack never creates (so a deploy never resets) the operator's switch
    assert not resources(hub_template, "AWS::SSM::Parameter")


def test_only_the_workers_may_assume_the_member_role_and_only_it(hub_template: Template, config: FinOpsConfig) -> None:
    assumers = {}
    for name in FUNCTIONS:
        for statement in function_statements(hub_template, name):
            if "sts:AssumeRole" in as_list(statement["Action"]):
                assert as_list(statement["Action"]) == ["sts:AssumeRole"]
                assumers[name] = statement["Resource"]

    member_role = f"arn:${{AWS::Partition}}:iam::*:role/{config.organization.member_role_name}"
    cost_reader = f"arn:${{AWS::Partition}}:iam::{config.organization.management_account_id}:role/finops-cost-reader"
    # the aggregate assumes only the management account's Cost Explorer reader (tag_compliance's spend KPI)
    assert assumers == {**dict.fromkeys(CAPABILITY_WORKERS.values(), member_role), "engine_aggregate": cost_reader}


def test_workers_have_time_for_their_waits_with_1024_mb_and_the_engine_stages_five_minutes(
    hub_template: Template, config: FinOpsConfig
) -> None:
    for name, (timeout, memory) in {
        "scheduler_worker": (600, 1024),
        # up to 60 s a wave of targets for final snapshots, then the deletions at EC2's rate: Lambda's most
        "ebs_cleanup_worker": (900, 1024),
        "tag_compliance_worker": (600, 1024),
        "engine_start": (300, 512),
        "engine_aggregate": (300, 512),
    }.items():
        hub_template.has_resource_properties(
            "AWS::Lambda::Function", {"FunctionName": FUNCTIONS[name], "Timeout": timeout, "MemorySize": memory}
        )
    assert (config.engine.targets_per_invocation, config.engine.target_concurrency) == (10, 10)


def _largest(field: str) -> int:
    return int(next(m.le for m in EngineConfig.model_fields[field].metadata if hasattr(m, "le")))


@pytest.mark.parametrize("capability", sorted(CAPABILITY_WORKERS))
def test_a_full_batch_of_the_largest_size_leaves_each_worker_two_minutes_beside_its_waves_of_waits(
    capability: str,
) -> None:
    # Given the largest batch, its targets run 4 at a time: they wait in ceil(10 / 4) = 3 waves
    most = _largest("targets_per_invocation")
    assert most == _largest("target_concurrency") == 10
    engine = EngineConfig(targets_per_invocation=most, target_concurrency=4)
    assert hub_stack.wait_waves(engine) == 3

    timeout = worker_timeout(capability, engine)

    assert timeout.to_seconds() - 3 * 60 >= 120
    assert hub_stack.wait_waves(EngineConfig(targets_per_invocation=most)) == 1  # at the default concurrency


def test_the_shipped_batch_waits_once_not_once_a_target() -> None:
    assert hub_stack.wait_waves(EngineConfig()) == 1
    assert hub_stack.wait_waves(EngineConfig(targets_per_invocation=10, target_concurrency=4)) == 3
    assert hub_stack.wait_waves(EngineConfig(targets_per_invocation=3, target_concurrency=10)) == 1
    assert hub_stack.wait_waves(EngineConfig(targets_per_invocation=8, target_concurrency=1)) == 8


def test_a_worker_timeout_too_short_for_a_batch_of_waits_stops_the_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a clean-up worker of 9 minutes and batches of 8 targets run one at a time, each up to a minute of waiting
    monkeypatch.setattr(hub_stack, "WORKER_TIMEOUTS", {**hub_stack.WORKER_TIMEOUTS, "ebs_cleanup": Duration.minutes(9)})
    serial = EngineConfig(targets_per_invocation=8, target_concurrency=1)

    # Then the synth stops, saying how much is left
    with pytest.raises(
        ValueError,
        match=re.escape(
            "targets_per_invocation 8 at engine.target_concurrency 1: the ebs_cleanup worker may wait 480 s on a "
            "batch, which leaves less than 120 s of its 540 s timeout"
        ),
    ):
        worker_timeout("ebs_cleanup", serial)
    # and the same batch run 4 at a time waits 2 minutes: it fits
    assert (
        worker_timeout("ebs_cleanup", EngineConfig(targets_per_invocation=8, target_concurrency=4)).to_seconds() == 540
    )


def test_the_largest_batch_run_one_target_at_a_time_does_not_fit_the_scheduler_worker() -> None:
    with pytest.raises(ValueError, match="may wait 600 s on a batch"):
        worker_timeout("scheduler", EngineConfig(targets_per_invocation=10, target_concurrency=1))


def test_every_state_machine_and_schedule_is_for_a_known_capability(hub_template: Template) -> None:
    machines = resources(hub_template, "AWS::StepFunctions::StateMachine")
    schedules = resources(hub_template, "AWS::Scheduler::Schedule")

    expected = {resource_name(capability) for capability in CAPABILITY_WORKERS}
    assert {m["Properties"]["StateMachineName"] for m in machines.values()} == expected
    assert {s["Properties"]["Name"] for s in schedules.values()} == expected
    hub_template.resource_count_is("AWS::S3::Bucket", 1)  # one engine bucket, shared


@pytest.mark.parametrize("capability", sorted(CAPABILITY_WORKERS))
def test_no_run_starts_before_its_permissions_outside_the_roles_exist(hub_template: Template, capability: str) -> None:
    # Given the policies CDK and the stack attach beside the roles (a function or state machine does not wait for them)
    machine = resource_name(capability)
    machine_id, _ = machine_of(hub_template, machine)
    worker_role, _ = only(hub_template, "AWS::IAM::Role", {"RoleName": FUNCTIONS[CAPABILITY_WORKERS[capability]]})

    def policies_granting(action: str, *, on: str = "", role: str = "") -> set[str]:
        found = {
            logical_id
            for logical_id, policy in resources(hub_template, "AWS::IAM::Policy").items()
            if any(action in as_list(s["Action"]) and on in json.dumps(s["Resource"]) for s in statements(policy))
            and (not role or {"Ref": role} in policy["Properties"]["Roles"])
            and "DefaultPolicy" not in logical_id
        }
        assert found, (action, on)
        return found

    _, schedule = only(hub_template, "AWS::Scheduler::Schedule", {"Name": machine})
    depends = set(schedule["DependsOn"])

    # Then its schedule waits for them: the Map's child executions, start's targets, aggregate's results, the worker's
    # way into the member accounts
    assert policies_granting("states:DescribeExecution", on=machine_id) <= depends
    assert policies_granting("s3:PutObject", on=f"/runs/{capability}/") <= depends
    assert policies_granting("s3:GetObject", on=f"/results/{capability}/") <= depends
    assert policies_granting("sts:AssumeRole", role=worker_role) <= depends
    assert policies_granting("s3:PutObject", on="/targets/") & depends
