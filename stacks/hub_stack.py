"""FinOpsHub: the automation account's functions, queues, tables and topics. Deployed there, in us-east-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from finops.models.config import FinOpsConfig
from finops.settings import Settings
from stacks.constructs.lambda_function import FinOpsFunction
from stacks.constructs.layers import CONFIG_PATH, ConfigLayer, DependencyLayer
from stacks.constructs.service_topic import Publisher, ServicePublishedTopic
from stacks.constructs.slack_retry_queue import SlackRetryQueue
from stacks.constructs.state_tables import StateTables
from stacks.naming import ALARM_TOPIC_NAME, budget_topic_arn, cost_anomaly_topic_arn

# slack_redrive stops a batch when Slack is down or rejects the token, and checks the time left; the Slack retry
# queue's visibility timeout is at least six times this (SlackRetryQueue checks).
SLACK_REDRIVE_TIMEOUT = Duration.seconds(120)


class FinOpsHubStack(Stack):
    """Alerts in, Slack out.

    ``anomaly_alerts`` is subscribed to the management account's anomaly and budget topics (by ARN: no
    cross-account stack references); it posts to Slack and parks undeliverable messages on the Slack retry queue,
    which ``slack_redrive`` drains. Both functions append to the audit table and keep Powertools idempotency
    records, with exactly the table actions that needs. Alarms go to ``finops-alarms``. Exposes the constructs.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: FinOpsConfig, layer_dir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        organization = config.organization
        capabilities = config.capabilities

        self.alarms = ServicePublishedTopic(
            self,
            "AlarmTopic",
            topic_name=ALARM_TOPIC_NAME,
            publishers=[
                Publisher(
                    "cloudwatch.amazonaws.com",
                    source_accounts=(organization.automation_account_id,),
                    key_conditions=True,
                )
            ],
        )
        self.state = StateTables(self, "State")
        self.slack_retry = SlackRetryQueue(
            self, "SlackRetry", alarm_topic=self.alarms.topic, consumer_timeout=SLACK_REDRIVE_TIMEOUT
        )
        self.slack_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "SlackSecret", config.notifications.slack.secret_name
        )
        layers = [
            DependencyLayer(self, "Dependencies", layer_dir=layer_dir).layer,
            ConfigLayer(self, "Config", config=config).layer,
        ]
        environment = Settings(
            config_path=CONFIG_PATH,
            audit_table_name=self.state.audit_table.table_name,
            idempotency_table_name=self.state.idempotency_table.table_name,
            slack_retry_queue_url=self.slack_retry.queue.queue_url,
        ).environment()

        self.slack_redrive = FinOpsFunction(
            self,
            "SlackRedrive",
            name="slack_redrive",
            description="Posts parked Slack messages again; failures stay queued (partial batch response)",
            environment=environment,
            layers=layers,
            alarm_topic=self.alarms.topic,
            timeout=SLACK_REDRIVE_TIMEOUT,
        )
        self.slack_redrive.function.add_event_source(
            event_sources.SqsEventSource(self.slack_retry.queue, batch_size=10, report_batch_item_failures=True)
        )
        functions = [self.slack_redrive]

        self.anomaly_alerts: FinOpsFunction | None = None
        if capabilities.anomaly_alerts.enabled or capabilities.budget_alerts.enabled:
            self.anomaly_alerts = FinOpsFunction(
                self,
                "AnomalyAlerts",
                name="anomaly_alerts",
                description="Cost anomaly and budget alerts to the owning team's Slack channel",
                environment=environment,
                layers=layers,
                alarm_topic=self.alarms.topic,
            )
            self.slack_retry.queue.grant_send_messages(self.anomaly_alerts.function)
            functions.append(self.anomaly_alerts)
            if capabilities.anomaly_alerts.enabled:
                anomaly_topic = sns.Topic.from_topic_arn(self, "CostAnomalyTopic", cost_anomaly_topic_arn(self, config))
                anomaly_topic.add_subscription(subscriptions.LambdaSubscription(self.anomaly_alerts.function))
            if capabilities.budget_alerts.enabled:
                # In the management account: Budgets publishes only to topics in the budget's own account.
                budget_topic = sns.Topic.from_topic_arn(self, "BudgetAlertTopic", budget_topic_arn(self, config))
                budget_topic.add_subscription(subscriptions.LambdaSubscription(self.anomaly_alerts.function))

        for hub_function in functions:
            self.state.grant_audit_append(hub_function.function)
            self.state.grant_idempotency(hub_function.function)
            self.slack_secret.grant_read(hub_function.function)
