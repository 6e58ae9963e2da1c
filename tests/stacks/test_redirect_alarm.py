"""The hub alarms when an alert goes to the default channel on another team's behalf."""

from __future__ import annotations

from aws_cdk.assertions import Template

from tests.stacks.template_helpers import only


def test_redirected_alerts_alarm_to_the_alarm_topic(hub_template: Template) -> None:
    _, alarm = only(hub_template, "AWS::CloudWatch::Alarm", {"AlarmName": "finops-alerts-redirected"})
    properties = alarm["Properties"]

    [expression] = [m["Expression"] for m in properties["Metrics"] if "Expression" in m]
    assert expression == "FILL(alerts, 0) + FILL(redrive, 0)"
    stats = [m["MetricStat"] for m in properties["Metrics"] if "MetricStat" in m]
    assert {(s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Stat"]) for s in stats} == {
        ("FinOps", "AlertsRedirected", "Sum")
    }
    assert sorted(s["Metric"]["Dimensions"][0]["Value"] for s in stats) == ["anomaly_alerts", "slack_redrive"]
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert properties["TreatMissingData"] == "notBreaching"
    topic_id, _ = only(hub_template, "AWS::SNS::Topic", {"TopicName": "finops-alarms"})
    assert properties["AlarmActions"] == [{"Ref": topic_id}]
    assert "notifications.teams" in properties["AlarmDescription"]
