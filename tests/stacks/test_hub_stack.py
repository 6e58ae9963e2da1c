"""FinOpsHub: the functions' defaults, failure handling, IAM contract, queues, tables and subscriptions.

The run engine's state machine, schedule and grants are in test_run_engine.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack, Stage
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from finops.models.config import FinOpsConfig, load_config
from finops.settings import Settings
from stacks.app_stacks import FinOpsStacks
from stacks.constructs.lambda_function import HANDLERS, handler_permissions
from stacks.constructs.layers import CONFIG_PATH, config_json
from stacks.constructs.slack_retry_queue import SlackRetryQueue
from tests.stacks.template_helpers import as_list, flatten, only, per_install, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"
MANAGEMENT = "111111111111"
FUNCTIONS = {
    "anomaly_alerts": "finops-anomaly-alerts",
    "slack_redrive": "finops-slack-redrive",
    "engine_start": "finops-engine-start",
    "engine_aggregate": "finops-engine-aggregate",
    "scheduler_worker": "finops-scheduler-worker",
    "ebs_cleanup_worker": "finops-ebs-cleanup-worker",
    "tag_compliance_worker": "finops-tag-compliance-worker",
    "auto_tagger": "finops-auto-tagger",
}
# What posts to Slack through the outbox (audit trail, once-only records, the Slack secret)...
POSTING = {"anomaly_alerts", "slack_redrive", "engine_aggregate"}
# ...and what else writes the audit trail: the workers, for every action they take.
AUDIT_WRITERS = POSTING | {"scheduler_worker", "ebs_cleanup_worker", "tag_compliance_worker", "auto_tagger"}
# ...and what keeps once-only records without posting: the auto-tagger, one run per CloudTrail event id.
ONCE_ONLY = POSTING | {"auto_tagger"}


def function(hub_template: Template, name: str) -> tuple[str, dict[str, Any]]:
    return only(hub_template, "AWS::Lambda::Function", {"FunctionName": FUNCTIONS[name]})


def role_id(hub_template: Template, name: str) -> str:
    return only(hub_template, "AWS::IAM::Role", {"RoleName": FUNCTIONS[name]})[0]


def audit_table_id(hub_template: Template) -> str:
    """The audit table: the one with a sort key (the engine's state table also has a partition key ``pk``)."""
    key = Match.array_with([{"AttributeName": "sk", "KeyType": "RANGE"}])
    return only(hub_template, "AWS::DynamoDB::Table", {"KeySchema": key})[0]


def ref(hub_template: Template, resource_type: str, props: dict[str, Any]) -> dict[str, str]:
    return {"Ref": only(hub_template, resource_type, props)[0]}


def test_every_handler_in_the_table_is_deployed_as_finops_name(hub_template: Template) -> None:
    assert set(HANDLERS) == set(FUNCTIONS)
    for name, module in HANDLERS.items():
        _, body = function(hub_template, name)
        assert body["Properties"]["Handler"] == f"{module}.handler"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_run_the_newest_python_on_arm64_traced_with_json_logs_kept_a_month(
    hub_template: Template, name: str
) -> None:
    _, body = function(hub_template, name)
    properties = body["Properties"]
    # named per install: the group outlives an uninstall, and a reinstall must not collide with it
    log_group_name = per_install(f"/aws/lambda/{FUNCTIONS[name]}")
    log_group = ref(hub_template, "AWS::Logs::LogGroup", {"LogGroupName": log_group_name})

    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": log_group}
    hub_template.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": log_group_name, "RetentionInDays": 30})
    assert properties["Role"] == {"Fn::GetAtt": [role_id(hub_template, name), "Arn"]}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_get_exactly_the_settings_variables_and_powertools_names(hub_template: Template, name: str) -> None:
    _, body = function(hub_template, name)
    variables = body["Properties"]["Environment"]["Variables"]

    assert set(variables) == set(Settings.ENV.values()) | {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == name
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "FinOps"
    assert variables["FINOPS_CONFIG_PATH"] == CONFIG_PATH == "/opt/finops/config.json"
    assert variables["AUDIT_TABLE_NAME"] == {"Ref": audit_table_id(hub_template)}
    assert variables["IDEMPOTENCY_TABLE_NAME"] == ref(
        hub_template, "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    )
    assert variables["SLACK_RETRY_QUEUE_URL"] == ref(
        hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"}
    )
    assert variables["ENGINE_BUCKET_NAME"] == {"Ref": only(hub_template, "AWS::S3::Bucket")[0]}
    assert variables["STATE_TABLE_NAME"] == ref(
        hub_template, "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_failed_async_invokes_retry_twice_then_wait_in_an_encrypted_queue(hub_template: Template, name: str) -> None:
    function_id, _ = function(hub_template, name)
    queue_id, queue = only(hub_template, "AWS::SQS::Queue", {"QueueName": f"{FUNCTIONS[name]}-failures"})

    hub_template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function_id},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )
    assert queue["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs"  # KMS, the account's AWS managed SQS key
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_errors_and_failed_invokes_alarm_to_the_alarm_topic(hub_template: Template, name: str) -> None:
    function_id, _ = function(hub_template, name)
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": f"{FUNCTIONS[name]}-failures"})
    alarm_topic = ref(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})

    hub_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [alarm_topic],
        },
    )
    hub_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [alarm_topic],
        },
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_failure_queue_alarm_tells_on_call_where_the_failed_events_are(hub_template: Template, name: str) -> None:
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": f"{FUNCTIONS[name]}-failures"})

    description = alarm["Properties"]["AlarmDescription"]

    assert description == (
        f"Async invokes of {FUNCTIONS[name]} failed after 2 retries; the queue {FUNCTIONS[name]}-failures holds "
        "each failed event with its error. See docs/runbook.md."
    )


def test_the_slack_retry_queue_redrives_to_a_dead_letter_queue_after_50_receives(hub_template: Template) -> None:
    dlq_id, dlq = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry-dlq"})
    _, queue = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})

    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 50,
    }
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for body in (queue, dlq):
        assert body["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs"
    hub_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [ref(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})],
        },
    )


def test_the_dead_letter_alarm_tells_on_call_how_to_replay_the_messages(hub_template: Template) -> None:
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": "finops-slack-retry-dlq"})

    description = alarm["Properties"]["AlarmDescription"]

    assert description.startswith("Slack messages gave up after 50 attempts; they wait in finops-slack-retry-dlq")
    assert description.endswith(
        "replay them with `aws sqs start-message-move-task --source-arn <finops-slack-retry-dlq ARN>` (docs/runbook.md)"
    )


def test_every_queue_refuses_requests_without_tls(hub_template: Template) -> None:
    queues = resources(hub_template, "AWS::SQS::Queue")
    protected = set()
    for policy in resources(hub_template, "AWS::SQS::QueuePolicy").values():
        for statement in statements(policy):
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                protected.update(q["Ref"] for q in policy["Properties"]["Queues"])

    assert protected == set(queues)


def test_slack_redrive_drains_the_retry_queue_reporting_partial_batch_failures(hub_template: Template) -> None:
    function_id, _ = function(hub_template, "slack_redrive")
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})

    hub_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id},
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_the_retry_queue_hides_a_batch_for_six_times_slack_redrives_timeout(hub_template: Template) -> None:
    # AWS: an SQS event source's visibility timeout should be at least six times the function's timeout, or a batch
    # still being posted becomes visible again and is posted twice
    _, redrive = function(hub_template, "slack_redrive")
    _, queue = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})

    timeout = redrive["Properties"]["Timeout"]
    visibility = queue["Properties"]["VisibilityTimeout"]

    assert (timeout, visibility) == (120, 900)
    assert visibility >= 6 * timeout


def test_the_retry_queue_refuses_a_consumer_timeout_longer_than_a_sixth_of_its_visibility() -> None:
    stack = Stack(App(), "Scratch")
    topic = sns.Topic(stack, "Alarms")

    with pytest.raises(ValueError, match=r"at least 6x its consumer's timeout \(151 s\)"):
        SlackRetryQueue(stack, "SlackRetry", alarm_topic=topic, consumer_timeout=Duration.seconds(151))


def test_queued_slack_alerts_older_than_15_minutes_page_on_call(hub_template: Template) -> None:
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateAgeOfOldestMessage"})
    properties = alarm["Properties"]

    assert properties["Namespace"] == "AWS/SQS"
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert (properties["Statistic"], properties["Period"]) == ("Maximum", 300)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (properties["Threshold"], properties["EvaluationPeriods"]) == (900, 2)
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == [ref(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})]
    # the on-call engineer reads this first: what is wrong, the likely causes, where to look
    description = properties["AlarmDescription"]
    assert description.startswith(
        "Slack alerts are queued and not being delivered: Slack outage, revoked token, or bot not in a channel; "
        "see finops-slack-redrive logs."
    )


def test_a_lasting_backlog_pages_on_call_even_when_the_age_metric_goes_blind(hub_template: Template) -> None:
    # Given the backlog alarm (the age metric skips messages received three times or more)
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": "finops-slack-retry-backlog"})
    properties = alarm["Properties"]

    # Then it sums waiting and in-flight messages of the retry queue over six 5-minute periods
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})
    metrics = {m["Id"]: m for m in properties["Metrics"]}
    assert metrics["expr_1"]["Expression"] == "visible + in_flight"
    for metric_id, name in (
        ("visible", "ApproximateNumberOfMessagesVisible"),
        ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
    ):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
        assert (stat["Stat"], stat["Period"]) == ("Minimum", 300)
    assert (properties["Threshold"], properties["EvaluationPeriods"]) == (1, 6)
    assert properties["AlarmActions"] == [ref(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})]


def policy_statements_of(hub_template: Template, name: str) -> list[dict[str, Any]]:
    """Every statement of every identity policy attached to the function's role."""
    role = {"Ref": role_id(hub_template, name)}
    found = []
    for policy in resources(hub_template, "AWS::IAM::Policy").values():
        if role in policy["Properties"]["Roles"]:
            found.extend(statements(policy))
    return found


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_only_unscoped_actions_are_the_handlers_permissions_and_x_ray(hub_template: Template, name: str) -> None:
    # Given the actions the handler module declares next to its code
    declared = set(handler_permissions(name))

    # When we collect what the role may do on any resource
    unscoped = set()
    for statement in policy_statements_of(hub_template, name):
        if statement["Resource"] == "*":
            unscoped.update(as_list(statement["Action"]))

    # Then it is exactly what the module declares, plus what active tracing needs
    assert unscoped == declared | {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_anomaly_alerts_declares_the_organizations_reads_it_makes() -> None:
    assert set(handler_permissions("anomaly_alerts")) == {
        "organizations:DescribeAccount",
        "organizations:ListTagsForResource",
    }


def actions_on(hub_template: Template, name: str, logical_id: str) -> set[str]:
    """Every action the function's role may take on a resource whose ARN names ``logical_id`` (table, index...)."""
    return {
        action
        for statement in policy_statements_of(hub_template, name)
        if logical_id in json.dumps(statement["Resource"])
        for action in as_list(statement["Action"])
    }


def table_id(hub_template: Template, partition_key: str) -> str:
    key = Match.array_with([{"AttributeName": partition_key, "KeyType": "HASH"}])
    return only(hub_template, "AWS::DynamoDB::Table", {"KeySchema": key})[0]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_may_only_append_to_the_audit_trail(hub_template: Template, name: str) -> None:
    # Given the audit table, which the runtime only ever writes with a conditional PutItem
    audit = audit_table_id(hub_template)

    # Then that is all a function may do there: no read, update, delete or scan could rewrite the trail
    assert actions_on(hub_template, name, audit) == ({"dynamodb:PutItem"} if name in AUDIT_WRITERS else set())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_get_exactly_what_powertools_idempotency_calls(hub_template: Template, name: str) -> None:
    idempotency = table_id(hub_template, "id")

    expected = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert actions_on(hub_template, name, idempotency) == (expected if name in ONCE_ONLY else set())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_read_the_slack_secret_and_no_other(hub_template: Template, name: str) -> None:
    allowed = policy_statements_of(hub_template, name)
    secret = f"arn:${{AWS::Partition}}:secretsmanager:us-east-1:{HUB}:secret:finops/slack-??????"

    secret_actions = {a for s in allowed if s["Resource"] == secret for a in as_list(s["Action"])}
    any_secret = {a for s in allowed for a in as_list(s["Action"]) if a.startswith("secretsmanager:")}

    # what grant_read gives for a secret imported by name (docs/architecture.md says the same)
    expected = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"} if name in POSTING else set()
    assert secret_actions == any_secret == expected


def test_only_anomaly_alerts_and_engine_aggregate_may_park_messages_on_the_retry_queue(hub_template: Template) -> None:
    queue_arn = {"Fn::GetAtt": [only(hub_template, "AWS::SQS::Queue", {"QueueName": "finops-slack-retry"})[0], "Arn"]}

    def actions_on_queue(name: str) -> set[str]:
        return {
            a
            for s in policy_statements_of(hub_template, name)
            if queue_arn in as_list(s["Resource"])
            for a in as_list(s["Action"])
        }

    assert {name for name in FUNCTIONS if "sqs:SendMessage" in actions_on_queue(name)} == {
        "anomaly_alerts",
        "engine_aggregate",
    }
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions_on_queue("slack_redrive")


def test_audit_table_keeps_its_data_and_idempotency_table_expires_records(hub_template: Template) -> None:
    _, audit = only(
        hub_template,
        "AWS::DynamoDB::Table",
        {"KeySchema": Match.array_with([{"AttributeName": "sk", "KeyType": "RANGE"}])},
    )
    _, idempotency = only(
        hub_template, "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    )

    assert audit["Properties"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert audit["DeletionPolicy"] == audit["UpdateReplacePolicy"] == "Retain"
    assert idempotency["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for table in (audit, idempotency):
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def subscriptions_and_permissions(hub_template: Template) -> tuple[list[Any], list[Any]]:
    subscriptions = [flatten(s["Properties"]) for s in resources(hub_template, "AWS::SNS::Subscription").values()]
    permissions = [flatten(p["Properties"]) for p in resources(hub_template, "AWS::Lambda::Permission").values()]
    return subscriptions, permissions


# AWS Budgets cannot publish to a topic in another account: the budget topic lives with the budgets, in management.
@pytest.mark.parametrize("topic", ["finops-cost-anomalies", "finops-budget-alerts"])
def test_anomaly_alerts_subscribes_to_the_management_accounts_topics_by_arn(hub_template: Template, topic: str) -> None:
    function_id, _ = function(hub_template, "anomaly_alerts")
    topic_arn = f"arn:${{AWS::Partition}}:sns:us-east-1:{MANAGEMENT}:{topic}"

    subscriptions, permissions = subscriptions_and_permissions(hub_template)

    assert {
        "Protocol": "lambda",
        "TopicArn": topic_arn,
        "Endpoint": {"Fn::GetAtt": [function_id, "Arn"]},
        "Region": "us-east-1",
    } in subscriptions
    assert any(p["Principal"] == "sns.amazonaws.com" and p["SourceArn"] == topic_arn for p in permissions)


def test_the_hub_owns_no_topic_but_its_alarm_topic(hub_template: Template) -> None:
    topics = resources(hub_template, "AWS::SNS::Topic")

    assert [t["Properties"]["TopicName"] for t in topics.values()] == ["finops-alarms"]


def test_cloudwatch_may_publish_alarms_to_the_encrypted_alarm_topic(hub_template: Template) -> None:
    topic_id, topic = only(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})
    _, policy = only(hub_template, "AWS::SNS::TopicPolicy", {"Topics": [{"Ref": topic_id}]})
    key_id, key = only(hub_template, "AWS::KMS::Key", {"Description": "Encrypts the SNS topic finops-alarms"})

    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    (publish,) = [s for s in statements(policy) if s["Effect"] == "Allow"]
    (use_key,) = [s for s in statements(key, "KeyPolicy") if "Service" in s["Principal"]]
    # CloudWatch may publish and use the key only for alarms of the hub account itself
    for statement in (publish, use_key):
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": [HUB]}}
    assert use_key["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]


def test_every_function_gets_the_dependency_and_config_layers(hub_template: Template) -> None:
    layers = resources(hub_template, "AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for name in FUNCTIONS:
        _, body = function(hub_template, name)
        assert sorted(r["Ref"] for r in body["Properties"]["Layers"]) == sorted(layers)


def test_the_config_layer_holds_the_validated_config_as_canonical_json(
    stacks: FinOpsStacks, config: FinOpsConfig
) -> None:
    stage = Stage.of(stacks.hub)
    assert stage is not None
    written = Path(stage.outdir) / "finops-config" / "finops" / "config.json"

    text = written.read_text(encoding="utf-8")

    assert text == config_json(config)
    # the Lambdas read it with the same loader the synth used: nothing lost on the way
    assert load_config(written) == config
