"""The delivery heartbeat in the templates: the management account's schedule publishing to the anomaly topic with a
role scoped to that topic and its key, the hub's alarm on the heartbeat's silence; nothing of it while it is off;
cdk-nag and cfn-lint clean with it on. And the message the schedule publishes, as Scheduler fills it in, is posted by
the real handler to the heartbeat channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from finops.models.config import FinOpsConfig, parse_config
from stacks.app_stacks import create_stacks
from tests.stacks.template_helpers import config_with, flatten, only, resources, statements
from tests.stacks.test_app_synth import ACCEPTED_WARNINGS
from tests.stacks.test_nag_and_tags import findings
from tools.local_hub import LocalHub

HEARTBEAT_ON = {"heartbeat": {"enabled": True, "channel": "#ops-heartbeat", "max_silence_hours": 30}}


def schedules(template: Template) -> dict[str, Any]:
    return resources(template, "AWS::Scheduler::Schedule", {"Name": "finops-heartbeat"})


def heartbeat_alarms(template: Template) -> dict[str, Any]:
    return resources(template, "AWS::CloudWatch::Alarm", {"MetricName": "HeartbeatDelivered"})


def topic_id(template: Template) -> str:
    logical_id, _ = only(template, "AWS::SNS::Topic", {"TopicName": "finops-cost-anomalies"})
    return logical_id


def test_off_by_default_no_schedule_and_no_alarm(management_template: Template, hub_template: Template):
    assert schedules(management_template) == {}
    assert heartbeat_alarms(hub_template) == {}


def test_on_the_management_account_publishes_the_heartbeat_to_the_anomaly_topic(management_for):
    template = management_for(notifications=HEARTBEAT_ON)

    [schedule] = schedules(template).values()
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == "rate(1 day)"
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = flatten(properties["Target"])
    assert target["Arn"] == "arn:${AWS::Partition}:scheduler:::aws-sdk:sns:publish"  # the universal target
    request = scheduler_fills_in(properties["Target"]["Input"], template, execution="e1", at="2026-11-27T08:00:00Z")
    assert request["TopicArn"].endswith(f"#{topic_id(template)}")  # this stack's topic, by reference
    message = json.loads(request["Message"])
    assert message["anomalyId"] == "finops-heartbeat-e1"  # a new id per execution
    assert message["anomalyStartDate"] == "2026-11-27T08:00:00Z"
    assert message["impact"] == {"maxImpact": 0, "totalImpact": 0}


def test_the_schedule_role_may_publish_to_that_topic_and_use_its_key_through_sns_only(management_for):
    template = management_for(notifications=HEARTBEAT_ON)
    [schedule] = schedules(template).values()
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]
    [trust] = statements(role, "AssumeRolePolicyDocument")
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == "111111111111"
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"] == (
        "arn:${AWS::Partition}:scheduler:us-east-1:111111111111:schedule-group/default"
    )

    policies = resources(template, "AWS::IAM::Policy")
    granted = [
        s
        for policy in policies.values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in statements(policy)
    ]
    key_id, _ = only(template, "AWS::KMS::Key", {"Description": "Encrypts the SNS topic finops-cost-anomalies"})
    assert granted == [
        {"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id(template)}},
        {
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Condition": {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
        },
    ]


def test_the_topic_key_lets_this_accounts_iam_grant_its_use(management_for):
    """The role's identity statements take effect only because the key policy delegates to the account."""
    template = management_for(notifications=HEARTBEAT_ON)
    _, key = only(template, "AWS::KMS::Key", {"Description": "Encrypts the SNS topic finops-cost-anomalies"})

    [root] = [
        s
        for s in statements(key, "KeyPolicy")
        if s.get("Principal", {}).get("AWS") == "arn:${AWS::Partition}:iam::111111111111:root"
    ]
    assert (root["Action"], root["Resource"]) == ("kms:*", "*")
    assert "Condition" not in root


def test_without_anomaly_alerts_the_heartbeat_is_refused_by_key_path(management_for):
    with pytest.raises(ValueError, match=r"notifications\.heartbeat\.enabled: .*capabilities\.anomaly_alerts"):
        management_for(notifications=HEARTBEAT_ON, capabilities={"anomaly_alerts": {"enabled": False}})


def test_on_the_hub_alarms_on_silence_to_the_alarm_topic(hub_for):
    template = hub_for(notifications=HEARTBEAT_ON)

    [alarm] = heartbeat_alarms(template).values()
    properties = alarm["Properties"]
    assert properties["AlarmName"] == "finops-alerts-heartbeat"
    assert (properties["Namespace"], properties["Statistic"], properties["Period"]) == ("FinOps", "Sum", 3600)
    assert properties["Dimensions"] == [{"Name": "service", "Value": "anomaly_alerts"}]  # Powertools' dimension
    assert properties["ComparisonOperator"] == "LessThanThreshold"
    assert properties["Threshold"] == 1
    assert (properties["EvaluationPeriods"], properties["DatapointsToAlarm"]) == (30, 30)
    assert properties["TreatMissingData"] == "breaching"  # silence is the failure
    alarm_topic, _ = only(template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})
    assert properties["AlarmActions"] == [{"Ref": alarm_topic}]
    assert "#ops-heartbeat" in properties["AlarmDescription"]
    assert "make smoke" in properties["AlarmDescription"]


def scheduler_fills_in(raw_input: Any, template: Template, *, execution: str, at: str) -> dict[str, Any]:
    """The universal target's input as Scheduler sends it: references resolved, context attributes replaced."""
    topic = f"arn:aws:sns:us-east-1:111111111111:finops-cost-anomalies#{topic_id(template)}"
    text = "".join(part if isinstance(part, str) else topic for part in raw_input["Fn::Join"][1])
    text = text.replace("<aws.scheduler.execution-id>", execution).replace("<aws.scheduler.scheduled-time>", at)
    return dict(json.loads(text))


@pytest.mark.usefixtures("sim")
def test_the_published_heartbeat_is_posted_to_the_heartbeat_channel(management_for, config, sink, tmp_path):
    template = management_for(notifications=HEARTBEAT_ON)
    [schedule] = schedules(template).values()
    request = scheduler_fills_in(
        schedule["Properties"]["Target"]["Input"], template, execution="d32c5kddcf5bb8c3", at="2026-11-27T08:00:00Z"
    )
    assert request["TopicArn"].startswith("arn:aws:sns:us-east-1:111111111111:finops-cost-anomalies")
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{request['TopicArn']}:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:111111111111:finops-cost-anomalies",
                    "Subject": None,
                    "Message": request["Message"],
                    "Timestamp": "2026-11-27T08:00:01.000Z",
                    "SignatureVersion": "1",
                    "Signature": "x",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    hub = LocalHub(config_with(config, notifications=HEARTBEAT_ON), tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    run = hub.invoke("anomaly_alerts", event)

    assert run.error is None, run.error
    assert run.result["acted"][0]["reason"] == "heartbeat posted to #ops-heartbeat"
    [post] = sink.posts
    assert post.channel == "#ops-heartbeat"
    assert "HEARTBEAT — not a real anomaly" in post.payload["text"]
    assert "finops-heartbeat-d32c5kddcf5bb8c3" in json.dumps(post.payload, ensure_ascii=False)


@pytest.fixture(scope="module")
def heartbeat_app(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[App, Path]:
    from tests.conftest import ROOT

    shipped = yaml.safe_load((ROOT / "finops.yaml").read_text())
    shipped["notifications"]["heartbeat"] = HEARTBEAT_ON["heartbeat"]
    config: FinOpsConfig = parse_config(shipped, source="heartbeat on")
    outdir = tmp_path_factory.mktemp("heartbeat-cdk.out")
    app = App(outdir=str(outdir))
    create_stacks(app, config, layer_dir=layer_dir)
    app.synth()
    return app, outdir


@pytest.mark.slow
def test_with_the_heartbeat_on_cdk_nag_finds_nothing_unacknowledged(heartbeat_app):
    app, _ = heartbeat_app

    assert findings(app) == []


@pytest.mark.slow
def test_with_the_heartbeat_on_the_templates_are_cfn_lint_clean(heartbeat_app):
    _, outdir = heartbeat_app
    problems = []
    for name in ("FinOpsManagement", "FinOpsHub"):
        path = outdir / f"{name}.template.json"
        body = json.loads(path.read_text())["Resources"]
        for match in lint_file(path, config=ManualArgs(regions=["us-east-1"])):
            kind = body.get(match.path[1], {}).get("Type") if len(match.path) > 1 else None
            if match.rule.id.startswith("W") and (match.rule.id, kind) in ACCEPTED_WARNINGS:
                continue
            problems.append(f"{name}: {match.rule.id} {match.message} at {'/'.join(map(str, match.path))}")

    assert problems == []
