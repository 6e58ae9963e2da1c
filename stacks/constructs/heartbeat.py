"""The delivery heartbeat (``notifications.heartbeat``): a scheduled synthetic anomaly through the real alert path,
and an alarm when none has been posted for ``max_silence_hours``.

Two halves, one per account: :class:`HeartbeatSchedule` in the management stack, beside the anomaly topic it
publishes to; :class:`HeartbeatAlarm` in the hub stack, beside the function that posts it and counts
``HeartbeatDelivered``. What the message looks like and how the function recognizes it is
:mod:`finops.services.heartbeat`'s; docs/smoke.md is the operator's side.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from finops.models.config import HeartbeatConfig
from finops.services.heartbeat import HEARTBEAT_METRIC, synthetic_anomaly
from stacks.constructs.lambda_function import METRICS_NAMESPACE

SCHEDULE_NAME = "finops-heartbeat"
ALARM_NAME = "finops-alerts-heartbeat"
# A heartbeat Scheduler could not publish within this is dropped: the next one proves the path as well.
MAX_EVENT_AGE = Duration.hours(1)
ALERT_FUNCTION_SERVICE = "anomaly_alerts"  # the Powertools service, the metric's dimension


def heartbeat_message() -> str:
    """The SNS message the schedule publishes: the execution id makes each one its own anomaly id, and the
    scheduled time is when it was sent (Scheduler fills both in)."""
    return synthetic_anomaly(
        "heartbeat",
        scheduler.ContextAttribute.execution_id,
        sent_at=scheduler.ContextAttribute.scheduled_time,
        sent_by=f"EventBridge Scheduler {SCHEDULE_NAME}",
    )


class HeartbeatSchedule(Construct):
    """``finops-heartbeat``: publishes :func:`heartbeat_message` to ``topic`` on ``settings.schedule``, through
    Scheduler's universal target for ``sns:Publish``.

    Its role, assumable by EventBridge Scheduler only for this account's default schedule group, may publish to
    ``topic`` alone and use ``key`` (the topic's) only through SNS in this region: the topic encrypts with a
    customer-managed key, whose policy delegates to IAM in this account (the account root statement
    :class:`ServicePublishedTopic` keeps), so these identity statements are what lets the publish through.
    Exposes ``role`` and ``schedule``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: HeartbeatConfig, topic: sns.ITopic, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description=f"EventBridge Scheduler publishes the delivery heartbeat to {topic.topic_name}",
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
        publish = [
            iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]),
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],  # what SNS asks KMS for on a publish
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{stack.region}.amazonaws.com"}},
            ),
        ]
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=SCHEDULE_NAME,
            description=(
                f"The FinOps delivery heartbeat: a synthetic anomaly to {topic.topic_name}, posted to "
                f"{settings.channel}; the hub alarms when none arrived for {settings.max_silence_hours} h"
            ),
            schedule=scheduler.ScheduleExpression.expression(settings.schedule),
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.Universal(
                service="sns",
                action="publish",
                input=scheduler.ScheduleTargetInput.from_object(
                    {"TopicArn": topic.topic_arn, "Message": heartbeat_message()}
                ),
                policy_statements=publish,
                role=self.role,
                max_event_age=MAX_EVENT_AGE,
            ),
        )


class HeartbeatAlarm(Construct):
    """``finops-alerts-heartbeat``: in ALARM when no heartbeat was posted in any of the last ``max_silence_hours``
    hourly periods (missing data breaches: silence is the failure). Exposes ``alarm`` and ``metric``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: HeartbeatConfig, alarm_topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        hours = settings.max_silence_hours
        self.metric = cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=HEARTBEAT_METRIC,
            dimensions_map={"service": ALERT_FUNCTION_SERVICE},
            period=Duration.hours(1),
            statistic="Sum",
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=ALARM_NAME,
            alarm_description=(
                f"No delivery heartbeat reached {settings.channel} in {hours} hours: the path from the "
                "management account's anomaly topic to Slack may be broken (the schedule finops-heartbeat, the "
                "topic's policy or key, the subscription, the function, or Slack). Run `make smoke` to find the "
                "hop (docs/smoke.md)."
            ),
            metric=self.metric,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=hours,
            datapoints_to_alarm=hours,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
