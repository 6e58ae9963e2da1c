"""The queue Slack messages wait in when Slack is down or rate-limits us, and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# A message that failed becomes visible again after the visibility timeout, so this is also the pause between two
# attempts. AWS recommends at least six times the consuming function's timeout for an SQS event source.
VISIBILITY_TIMEOUT = Duration.minutes(15)
VISIBILITY_PER_CONSUMER_TIMEOUT = 6
# Each receive is one redelivery attempt by slack_redrive; 50 attempts 15 minutes apart is about twelve hours.
MAX_RECEIVE_COUNT = 50
# A message still waiting after this long has failed at least one redelivery: someone should look.
DELAYED_AGE = Duration.minutes(15)
# SQS leaves a message received three or more times out of ApproximateAgeOfOldestMessage, so in a long outage that
# alarm can clear while alerts still wait. Queue depth has no such blind spot: a backlog that lasts this long means
# redelivery keeps failing.
BACKLOG_PERIODS = 6  # of 5 minutes: two full visibility cycles
# How long a message that gave up waits in the DLQ to be replayed (the SQS maximum).
DEAD_LETTER_RETENTION = Duration.days(14)


class SlackRetryQueue(Construct):
    """Exposes ``queue`` (15-minute visibility), ``dead_letter_queue`` (14 days), both encrypted with the account's AWS
    managed SQS key (``alias/aws/sqs``: every principal of the account may use it through SQS, so the senders' and
    the consumer's grants need no key statement), and three alarms to
    ``alarm_topic``: ``delayed_alarm`` (oldest message at least 15 minutes old for two 5-minute periods),
    ``backlog_alarm`` (messages waiting or in flight for 30 minutes) and ``dead_letter_alarm`` (DLQ depth > 0).

    ``consumer_timeout`` is the timeout of the function the queue feeds; a timeout too long for the visibility
    timeout (more than a sixth of it) raises ``ValueError``, because a batch still running would be delivered twice.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, alarm_topic: sns.ITopic, consumer_timeout: Duration
    ) -> None:
        super().__init__(scope, construct_id)
        if consumer_timeout.to_seconds() * VISIBILITY_PER_CONSUMER_TIMEOUT > VISIBILITY_TIMEOUT.to_seconds():
            raise ValueError(
                f"the Slack retry queue's visibility timeout ({VISIBILITY_TIMEOUT.to_seconds()} s) must be at least "
                f"{VISIBILITY_PER_CONSUMER_TIMEOUT}x its consumer's timeout ({consumer_timeout.to_seconds()} s)"
            )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name="finops-slack-retry-dlq",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name="finops-slack-retry",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
        )
        self.delayed_alarm = cloudwatch.Alarm(
            self,
            "DelayedAlarm",
            alarm_name="finops-slack-retry-delayed",
            alarm_description=(
                "Slack alerts are queued and not being delivered: Slack outage, revoked token, or bot not in a "
                "channel; see finops-slack-redrive logs. The messages wait in finops-slack-retry and are retried "
                f"every {VISIBILITY_TIMEOUT.to_minutes()} minutes until the cause is fixed."
            ),
            metric=self.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(5), statistic="Maximum"),
            threshold=DELAYED_AGE.to_seconds(),
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        five_minutes = Duration.minutes(5)
        self.backlog_alarm = cloudwatch.Alarm(
            self,
            "BacklogAlarm",
            alarm_name="finops-slack-retry-backlog",
            alarm_description=(
                "Slack alerts have waited in finops-slack-retry for 30 minutes: redelivery keeps failing (Slack "
                "outage, revoked token, bot not in a channel); see finops-slack-redrive logs."
            ),
            metric=cloudwatch.MathExpression(
                expression="visible + in_flight",
                using_metrics={
                    "visible": self.queue.metric_approximate_number_of_messages_visible(
                        period=five_minutes, statistic="Minimum"
                    ),
                    "in_flight": self.queue.metric_approximate_number_of_messages_not_visible(
                        period=five_minutes, statistic="Minimum"
                    ),
                },
                period=five_minutes,
                label="Slack messages waiting or being retried",
            ),
            threshold=1,
            evaluation_periods=BACKLOG_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_name="finops-slack-retry-dlq",
            alarm_description=(
                f"Slack messages gave up after {MAX_RECEIVE_COUNT} attempts; they wait in finops-slack-retry-dlq "
                f"for {DEAD_LETTER_RETENTION.to_days()} days. Fix the cause (see finops-slack-redrive logs), then "
                "replay them with `aws sqs start-message-move-task --source-arn <finops-slack-retry-dlq ARN>` "
                "(docs/runbook.md)"
            ),
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm_action = cloudwatch_actions.SnsAction(alarm_topic)
        for alarm in (self.delayed_alarm, self.backlog_alarm, self.dead_letter_alarm):
            alarm.add_alarm_action(alarm_action)
