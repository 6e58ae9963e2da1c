"""The CloudTrail event path to the auto-tagger: each member region forwards its successful create calls to the hub's
bus through a role that may only put events there; the bus admits only the Organization; a rule there invokes the
auto-tagger with retries and a dead-letter queue; and the member role lets the auto-tagger do its own few things and
nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from finops.services.auto_tagger import MEMBER_PERMISSIONS
from stacks.constructs.cloudtrail_forwarding import DEAD_LETTER_QUEUE_NAME
from tests.conftest import load_event
from tests.stacks.template_helpers import as_list, flatten, only, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"
BUS_ARN = f"arn:${{AWS::Partition}}:events:us-east-1:{HUB}:event-bus/finops-cloudtrail"
EVENT_NAMES = [
    "CopyImage",
    "CopySnapshot",
    "CreateDBCluster",
    "CreateDBInstance",
    "CreateDBInstanceReadReplica",
    "CreateImage",
    "CreateSnapshot",
    "CreateSnapshots",
    "CreateVolume",
    "RestoreDBClusterFromSnapshot",
    "RestoreDBClusterToPointInTime",
    "RestoreDBInstanceFromDBSnapshot",
    "RestoreDBInstanceToPointInTime",
    "RunInstances",
]
PATTERN = {
    "source": ["aws.ec2", "aws.rds"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["ec2.amazonaws.com", "rds.amazonaws.com"],
        "eventName": EVENT_NAMES,
        "errorCode": [{"exists": False}],
    },
}


def rule(template: Template) -> dict[str, Any]:
    return only(template, "AWS::Events::Rule")[1]["Properties"]


# -- the member side --------------------------------------------------------------------------------------------------


def test_each_member_region_forwards_its_successful_create_calls_to_the_hubs_bus(member_regional_template: Template):
    properties = rule(member_regional_template)
    role_id, role = only(member_regional_template, "AWS::IAM::Role")

    assert "EventBusName" not in properties  # the region's default bus, where CloudTrail's events arrive
    assert properties["EventPattern"] == PATTERN
    [target] = properties["Targets"]
    assert flatten(target["Arn"]) == BUS_ARN
    assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    [trust] = statements(role, "AssumeRolePolicyDocument")
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}


def test_the_forwarding_role_may_only_put_events_on_the_hubs_bus(member_regional_template: Template):
    _, role = only(member_regional_template, "AWS::IAM::Role")

    [policy] = role["Properties"]["Policies"]
    assert flatten(policy["PolicyDocument"]["Statement"]) == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": BUS_ARN}
    ]
    assert not member_regional_template.find_resources("AWS::IAM::Policy")


def test_what_it_names_never_collides_across_the_regions_of_one_account(member_regional_template: Template):
    _, role = only(member_regional_template, "AWS::IAM::Role")

    # IAM is global: the region is in the role's name; a rule's name is the region's own
    assert flatten(role["Properties"]["RoleName"]) == "finops-cloudtrail-forwarding-${AWS::Region}"
    assert rule(member_regional_template)["Name"] == "finops-cloudtrail-forwarding"


@pytest.mark.parametrize(
    ("name", "change", "forwarded"),
    [
        ("cloudtrail_run_instances", None, True),
        ("cloudtrail_create_volume", None, True),
        ("cloudtrail_create_snapshot", None, True),
        ("cloudtrail_create_db_instance", None, True),
        ("cloudtrail_federated_user", None, True),
        ("cloudtrail_run_instances_failed", None, False),  # errorCode set
        ("cloudtrail_create_volume", {"eventName": "AttachVolume"}, False),
        ("cloudtrail_create_volume", {"eventSource": "s3.amazonaws.com", "eventName": "CreateBucket"}, False),
    ],
)
def test_the_pattern_forwards_the_sample_events_and_nothing_else(
    name: str, change: dict[str, str] | None, forwarded: bool
) -> None:
    # EventBridge's own matching, as moto implements it: a rule with the pattern, a queue as its target
    event = load_event(name)
    event["detail"].update(change or {})
    with mock_aws():
        bridge = boto3.client("events", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        queue = sqs.create_queue(QueueName="forwarded")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bridge.put_rule(Name="forward", EventPattern=json.dumps(PATTERN))
        bridge.put_targets(Rule="forward", Targets=[{"Id": "queue", "Arn": queue_arn}])

        bridge.put_events(
            Entries=[
                {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
            ]
        )

        assert bool(sqs.receive_message(QueueUrl=queue).get("Messages")) is forwarded


# -- the hub side -----------------------------------------------------------------------------------------------------


def test_the_hubs_bus_admits_put_events_from_the_organization_only(hub_template: Template):
    bus_id, bus = only(hub_template, "AWS::Events::EventBus")
    _, policy = only(hub_template, "AWS::Events::EventBusPolicy")

    assert bus["Properties"]["Name"] == "finops-cloudtrail"
    assert policy["Properties"]["EventBusName"] == {"Ref": bus_id}
    assert flatten(policy["Properties"]["Statement"]) == {
        "Sid": "cdk-OrganizationMembersForwardCloudTrailEvents",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "events:PutEvents",
        "Resource": {"Fn::GetAtt": [bus_id, "Arn"]},
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}},
    }


def test_the_organization_id_is_a_parameter_defaulting_to_the_configured_one(
    hub_template: Template, hub_for: Callable[..., Template]
):
    parameter = hub_template.to_json()["Parameters"]["OrganizationId"]
    assert "Default" not in parameter  # the shipped config names no Organization: pass it to cdk deploy
    assert parameter["AllowedPattern"] == "^o-[a-z0-9]{10,32}$"
    assert parameter["Description"].endswith("may put events on the auto-tagger's bus finops-cloudtrail")

    configured = hub_for(organization={"organization_id": "o-a1b2c3d4e5"})

    assert configured.to_json()["Parameters"]["OrganizationId"]["Default"] == "o-a1b2c3d4e5"


def test_the_rule_invokes_the_auto_tagger_with_retries_then_a_dead_letter_queue(hub_template: Template):
    bus_id, _ = only(hub_template, "AWS::Events::EventBus")
    function_id, _ = only(hub_template, "AWS::Lambda::Function", {"FunctionName": "finops-auto-tagger"})
    queue_id, queue = only(hub_template, "AWS::SQS::Queue", {"QueueName": DEAD_LETTER_QUEUE_NAME})
    properties = rule(hub_template)

    assert properties["EventBusName"] == {"Ref": bus_id}
    assert properties["Name"] == "finops-cloudtrail-to-auto-tagger"
    assert properties["EventPattern"] == PATTERN
    assert properties["Targets"] == [
        {
            "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
            "Id": "Target0",
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}},
            "RetryPolicy": {"MaximumEventAgeInSeconds": 6 * 3600, "MaximumRetryAttempts": 8},
        }
    ]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True  # EventBridge cannot use the AWS managed SQS key
    [permission] = [
        p["Properties"]
        for p in resources(hub_template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    rule_id = only(hub_template, "AWS::Events::Rule")[0]
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_only_eventbridge_for_this_rule_may_write_to_the_dead_letter_queue_and_its_depth_alarms(hub_template: Template):
    queue_id, _ = only(hub_template, "AWS::SQS::Queue", {"QueueName": DEAD_LETTER_QUEUE_NAME})
    rule_id = only(hub_template, "AWS::Events::Rule")[0]
    [policy] = [
        p
        for p in resources(hub_template, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": DEAD_LETTER_QUEUE_NAME})
    topic = only(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})[0]

    assert [(s["Principal"], s["Action"], s["Condition"]) for s in allows] == [
        (
            {"Service": "events.amazonaws.com"},
            "sqs:SendMessage",
            {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
        )
    ]
    assert alarm["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    ]
    assert (alarm["Properties"]["Threshold"], alarm["Properties"]["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
    assert "docs/auto-tagger.md" in alarm["Properties"]["AlarmDescription"]


def auto_tagger_statements(hub_template: Template) -> list[dict[str, Any]]:
    role = {"Ref": only(hub_template, "AWS::IAM::Role", {"RoleName": "finops-auto-tagger"})[0]}
    return [
        s
        for policy in resources(hub_template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for s in statements(policy)
    ]


def test_the_auto_tagger_may_assume_the_member_role_and_read_the_kill_switch(hub_template: Template):
    granted = {
        (a, json.dumps(s["Resource"])) for s in auto_tagger_statements(hub_template) for a in as_list(s["Action"])
    }

    assert ("sts:AssumeRole", json.dumps("arn:${AWS::Partition}:iam::*:role/FinOpsMemberRole")) in granted
    assert any(a == "ssm:GetParameter" and "parameter/finops/kill-switch" in r for a, r in granted)
    unscoped = {a for a, r in granted if r == '"*"'}
    assert unscoped == {
        "organizations:DescribeAccount",
        "organizations:ListParents",
        "organizations:ListTagsForResource",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


# -- the member role --------------------------------------------------------------------------------------------------


def member_role(member_template: Template) -> dict[str, Any]:
    return only(member_template, "AWS::IAM::Role")[1]


def test_the_auto_tagger_assumes_the_member_role_only_with_its_own_session_names(member_template: Template):
    trust = statements(member_role(member_template), "AssumeRolePolicyDocument")
    tagger = f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-auto-tagger"

    [own] = [s for s in trust if s["Condition"]["ArnEquals"]["aws:PrincipalArn"] == tagger]
    assert own["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": tagger},
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
        "StringLike": {"sts:RoleSessionName": "finops-auto_tagger-*"},
    }
    workers = [s for s in trust if s is not own]
    assert all(tagger not in as_list(s["Condition"]["ArnEquals"]["aws:PrincipalArn"]) for s in workers)


def test_the_auto_taggers_sessions_may_do_nothing_but_its_own_declared_actions(member_template: Template):
    role = member_role(member_template)
    every = [flatten(s) for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    [deny] = [s for s in every if s.get("Sid") == "AutoTaggerSessionsOnlyTheirOwnActions"]
    allowed = {a for s in every if s["Effect"] == "Allow" for a in as_list(s["Action"])}

    assert deny == {
        "Sid": "AutoTaggerSessionsOnlyTheirOwnActions",
        "Effect": "Deny",
        "NotAction": sorted(MEMBER_PERMISSIONS),
        "Resource": "*",
        "Condition": {"StringLike": {"aws:userid": "*:finops-auto_tagger-*"}},
    }
    assert set(MEMBER_PERMISSIONS) <= allowed
    assert {"ec2:StopInstances", "ec2:DeleteVolume"} & set(MEMBER_PERMISSIONS) == set()
