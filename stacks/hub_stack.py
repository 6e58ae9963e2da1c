"""FinOpsHub: the automation account's functions, queues, tables, topics and run engine; in us-east-1."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from finops.handlers import CAPABILITY_WORKERS
from finops.models.config import CapabilitiesConfig, EngineConfig, FinOpsConfig
from finops.settings import Settings
from stacks.constructs.cloudtrail_forwarding import CloudTrailHubBus
from stacks.constructs.heartbeat import HeartbeatAlarm
from stacks.constructs.lambda_function import METRICS_NAMESPACE, FinOpsFunction
from stacks.constructs.layers import CONFIG_PATH, ConfigLayer, DependencyLayer
from stacks.constructs.member_role import organization_id_parameter
from stacks.constructs.run_engine import RunEngine, RunSchedule
from stacks.constructs.service_topic import Publisher, ServicePublishedTopic
from stacks.constructs.slack_retry_queue import SlackRetryQueue
from stacks.constructs.state_tables import StateTables
from stacks.nag import acknowledge_wildcard_resource
from stacks.naming import (
    ALARM_TOPIC_NAME,
    budget_topic_arn,
    cost_anomaly_topic_arn,
    cost_reader_role_arn,
    member_role_arn_pattern,
)

# slack_redrive stops a batch when Slack is down or rejects the token, and checks the time left; the Slack retry
# queue's visibility timeout is at least six times this (SlackRetryQueue checks).
SLACK_REDRIVE_TIMEOUT = Duration.seconds(120)
# The run engine's first and last states: enumerate the Organization and write the targets; read every result and
# post the digests.
ENGINE_STAGE_TIMEOUT = Duration.minutes(5)
WORKER_MEMORY_MB = 1024
# The auto-tagger handles one event: a few Organizations reads, the member role, describes, the tags and a read-back.
AUTO_TAGGER_TIMEOUT = Duration.minutes(2)

# When each acting capability runs: the scheduler every tick, so a start or stop is at most one tick late; the storage
# clean-up and tag compliance once a day at their run_at (their grace periods are days).
RUN_SCHEDULES: Mapping[str, Callable[[CapabilitiesConfig], RunSchedule]] = {
    "scheduler": lambda capabilities: RunSchedule.every(capabilities.scheduler.tick_minutes),
    "ebs_cleanup": lambda capabilities: RunSchedule.daily_at(capabilities.ebs_cleanup.run_at),
    "tag_compliance": lambda capabilities: RunSchedule.daily_at(capabilities.tag_compliance.run_at),
}
# A capability the config can switch off entirely: no worker, no state machine, no schedule (absent: always on).
RUN_ENABLED: Mapping[str, Callable[[CapabilitiesConfig], bool]] = {
    "tag_compliance": lambda capabilities: capabilities.tag_compliance.enabled,
}
# A worker handles a batch of targets (engine.targets_per_invocation), each a fresh read, a plan, an apply and a check,
# and waits up to WORKER_WAIT_PER_TARGET on each: the scheduler for its starts to be running, the clean-up for its
# final snapshots to complete (max_wait_seconds of each capability's apply). It runs engine.target_concurrency targets
# at once, so the waits of a batch come in ceil(targets_per_invocation / target_concurrency) waves (one, as shipped).
# The clean-up also reads every volume, snapshot and AMI of a target, a sharing attribute per snapshot it may act on,
# and deletes within EC2's sustained rate (5 a second once the burst is spent): it gets the most Lambda allows.
# Tag compliance reads five describes a target and tags in batches; its stops are verified like the scheduler's.
WORKER_TIMEOUTS: Mapping[str, Duration] = {
    "scheduler": Duration.minutes(10),
    "ebs_cleanup": Duration.minutes(15),
    "tag_compliance": Duration.minutes(10),
}
WORKER_WAIT_PER_TARGET = Duration.seconds(60)
# What a batch must have left for its reads, plans and applies once it has waited on every target.
WORKER_MIN_WORK = Duration.minutes(2)


def run_schedule(capability: str, capabilities: CapabilitiesConfig) -> RunSchedule:
    """The schedule of ``capability``'s runs (:data:`RUN_SCHEDULES`); a capability without one stops the synth."""
    if capability not in RUN_SCHEDULES:
        raise KeyError(f"no run schedule for the acting capability {capability!r}: add it to RUN_SCHEDULES")
    return RUN_SCHEDULES[capability](capabilities)


def worker_timeout(capability: str, engine: EngineConfig) -> Duration:
    """The worker's timeout (:data:`WORKER_TIMEOUTS`), refused when a full batch's waits would leave it less than
    :data:`WORKER_MIN_WORK` for everything else."""
    if capability not in WORKER_TIMEOUTS:
        raise KeyError(f"no worker timeout for the acting capability {capability!r}: add it to WORKER_TIMEOUTS")
    timeout = WORKER_TIMEOUTS[capability]
    waits = wait_waves(engine) * WORKER_WAIT_PER_TARGET.to_seconds()
    if timeout.to_seconds() - waits < WORKER_MIN_WORK.to_seconds():
        raise ValueError(
            f"engine.targets_per_invocation {engine.targets_per_invocation} at engine.target_concurrency "
            f"{engine.target_concurrency}: the {capability} worker may wait {waits:g} s on a batch, which leaves less "
            f"than {WORKER_MIN_WORK.to_seconds():g} s of its {timeout.to_seconds():g} s timeout for the work"
        )
    return timeout


def wait_waves(engine: EngineConfig) -> int:
    """How many times in a row a batch may wait a full WORKER_WAIT_PER_TARGET: its targets run
    ``target_concurrency`` at a time, and the waits of those running together overlap."""
    return math.ceil(engine.targets_per_invocation / min(engine.target_concurrency, engine.targets_per_invocation))


class FinOpsHubStack(Stack):
    """Alerts in, Slack out; and the run engine of the acting capabilities.

    ``anomaly_alerts`` is subscribed to the management account's anomaly and budget topics (by ARN: no
    cross-account stack references); it posts to Slack and parks undeliverable messages on the Slack retry queue,
    which ``slack_redrive`` drains. The run engine (:class:`RunEngine`) runs ``engine_start`` -> a Distributed Map
    over each capability's worker -> ``engine_aggregate`` on that capability's schedule (:data:`RUN_SCHEDULES`); the
    workers assume the member role in every target account. Every function gets exactly the table, queue, secret and
    parameter actions its code calls. Alarms go to ``finops-alarms``. Exposes the constructs.
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
        self.state = StateTables(
            self,
            "State",
            adopt_audit_table=config.reinstall.audit_table_name,
            adopt_state_table=config.reinstall.state_table_name,
        )
        self.slack_retry = SlackRetryQueue(
            self, "SlackRetry", alarm_topic=self.alarms.topic, consumer_timeout=SLACK_REDRIVE_TIMEOUT
        )
        self.slack_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "SlackSecret", config.notifications.slack.secret_name
        )
        self.engine = RunEngine(self, "Engine", settings=config.engine, alarm_topic=self.alarms.topic)
        layers = [
            DependencyLayer(self, "Dependencies", layer_dir=layer_dir).layer,
            ConfigLayer(self, "Config", config=config).layer,
        ]
        environment = Settings(
            config_path=CONFIG_PATH,
            audit_table_name=self.state.audit_table.table_name,
            idempotency_table_name=self.state.idempotency_table.table_name,
            slack_retry_queue_url=self.slack_retry.queue.queue_url,
            engine_bucket_name=self.engine.bucket.bucket_name,
            state_table_name=self.state.state_table.table_name,
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
        # What posts to Slack: through the outbox (audit, once-only, the secret, the retry queue).
        posting = [self.slack_redrive]

        self.anomaly_alerts: FinOpsFunction | None = None
        self.redirect_alarm: cloudwatch.Alarm | None = None
        self.heartbeat: HeartbeatAlarm | None = None
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
            posting.append(self.anomaly_alerts)
            self.redirect_alarm = alerts_redirected_alarm(self, alarm_topic=self.alarms.topic)
            if config.notifications.heartbeat.enabled:  # silence of the heartbeat the management stack sends
                self.heartbeat = HeartbeatAlarm(
                    self, "Heartbeat", settings=config.notifications.heartbeat, alarm_topic=self.alarms.topic
                )
            if capabilities.anomaly_alerts.enabled:
                anomaly_topic = sns.Topic.from_topic_arn(self, "CostAnomalyTopic", cost_anomaly_topic_arn(self, config))
                anomaly_topic.add_subscription(subscriptions.LambdaSubscription(self.anomaly_alerts.function))
            if capabilities.budget_alerts.enabled:
                # In the management account: Budgets publishes only to topics in the budget's own account.
                budget_topic = sns.Topic.from_topic_arn(self, "BudgetAlertTopic", budget_topic_arn(self, config))
                budget_topic.add_subscription(subscriptions.LambdaSubscription(self.anomaly_alerts.function))

        # The run engine: one start and one aggregate for every capability, one worker per capability.
        self.engine_start = FinOpsFunction(
            self,
            "EngineStart",
            name="engine_start",
            description="Run engine: kill switch, is anything due, the run's targets written to the engine bucket",
            environment=environment,
            layers=layers,
            alarm_topic=self.alarms.topic,
            timeout=ENGINE_STAGE_TIMEOUT,
        )
        self.engine_aggregate = FinOpsFunction(
            self,
            "EngineAggregate",
            name="engine_aggregate",
            description="Run engine: the Map's results to one summary, per-team digests and metrics",
            environment=environment,
            layers=layers,
            alarm_topic=self.alarms.topic,
            timeout=ENGINE_STAGE_TIMEOUT,
        )
        self.state.grant_state(self.engine_start.function)  # a tick with nothing due completes here
        self.state.grant_state(self.engine_aggregate.function)
        posting.append(self.engine_aggregate)
        self.slack_retry.queue.grant_send_messages(self.engine_aggregate.function)
        if capabilities.tag_compliance.enabled:  # the spend KPI: Cost Explorer through the management account's role
            self.engine_aggregate.function.add_to_role_policy(
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[cost_reader_role_arn(self, config)])
            )

        self.workers: dict[str, FinOpsFunction] = {}
        for capability, worker_name in CAPABILITY_WORKERS.items():
            if capability in RUN_ENABLED and not RUN_ENABLED[capability](capabilities):
                continue
            worker = FinOpsFunction(
                self,
                "".join(part.title() for part in worker_name.split("_")),
                name=worker_name,
                description=f"Run engine: one batch of {capability} targets, each planned and applied in its account",
                environment=environment,
                layers=layers,
                alarm_topic=self.alarms.topic,
                timeout=worker_timeout(capability, config.engine),
                memory_size=WORKER_MEMORY_MB,
            )
            self.workers[capability] = worker
            self.state.grant_audit_append(worker.function)
            member_access = self._grant_member_role(worker, config, construct_id=f"{worker.node.id}MemberRoleAccess")
            engine_capability = self.engine.add_capability(
                capability,
                start=self.engine_start,
                worker=worker,
                aggregate=self.engine_aggregate,
                run_schedule=run_schedule(capability, capabilities),
            )
            engine_capability.schedule.node.add_dependency(member_access)  # no run before the worker may act

        # The auto-tagger: the member accounts' CloudTrail create events, through the bus only the Organization may
        # put events on (its id: the stack parameter OrganizationId, defaulting to organization.organization_id).
        self.auto_tagger = FinOpsFunction(
            self,
            "AutoTagger",
            name="auto_tagger",
            description="Tags new resources with their creator and creation time, from the member accounts' CloudTrail",
            environment=environment,
            layers=layers,
            alarm_topic=self.alarms.topic,
            timeout=AUTO_TAGGER_TIMEOUT,
        )
        self.state.grant_audit_append(self.auto_tagger.function)
        self.state.grant_idempotency(self.auto_tagger.function)  # one run per event id
        self._grant_member_role(self.auto_tagger, config, construct_id="AutoTaggerMemberRoleAccess")
        self.organization_id = organization_id_parameter(
            self, config, guards="may put events on the auto-tagger's bus finops-cloudtrail"
        )
        self.cloudtrail = CloudTrailHubBus(
            self,
            "CloudTrail",
            function=self.auto_tagger.function,
            organization_id=self.organization_id.value_as_string,
            alarm_topic=self.alarms.topic,
        )

        # The kill switch is read, never written: the stack does not create the parameter, so a deploy cannot reset
        # an operator's switch (a missing parameter means no switch is set).
        self.kill_switch_arn = self.format_arn(
            service="ssm", resource="parameter", resource_name=config.safety.kill_switch_parameter.lstrip("/")
        )
        for reader in (self.engine_start, *self.workers.values(), self.auto_tagger):
            reader.function.add_to_role_policy(
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[self.kill_switch_arn])
            )

        for hub_function in posting:
            self.state.grant_audit_append(hub_function.function)
            self.state.grant_idempotency(hub_function.function)
            self.slack_secret.grant_read(hub_function.function)

    def _grant_member_role(self, worker: FinOpsFunction, config: FinOpsConfig, *, construct_id: str) -> iam.Policy:
        """``sts:AssumeRole`` on the member role, in any account: the worker's way into each target."""
        member_roles = member_role_arn_pattern(self, config)
        policy = iam.Policy(
            self,
            construct_id,
            statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[member_roles])],
        )
        worker.role.attach_inline_policy(policy)
        acknowledge_wildcard_resource(
            policy,
            member_roles,
            f"The worker assumes {config.organization.member_role_name} in whichever account a run targets (the "
            "Organization's accounts change without a redeploy); the role name is fixed, and its trust policy admits "
            "only the hub's worker roles from this Organization.",
        )
        return policy


def alerts_redirected_alarm(scope: Construct, *, alarm_topic: sns.ITopic) -> cloudwatch.Alarm:
    """Alerts that went to the default channel on another team's behalf (the team has no route, or its channel
    refused the message): someone should fix the routing, and nobody was paged for them."""
    five_minutes = Duration.minutes(5)

    def redirected(service: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="AlertsRedirected",
            dimensions_map={"service": service},
            period=five_minutes,
            statistic="Sum",
        )

    alarm = cloudwatch.Alarm(
        scope,
        "AlertsRedirectedAlarm",
        alarm_name="finops-alerts-redirected",
        alarm_description=(
            "An alert went to notifications.slack.default_channel instead of its team's channel (the team has no "
            "entry under notifications.teams, or Slack refused the channel: bot not invited, archived, no webhook), "
            "without paging anyone. The message's banner names the team and the fix."
        ),
        metric=cloudwatch.MathExpression(
            expression="FILL(alerts, 0) + FILL(redrive, 0)",
            using_metrics={"alerts": redirected("anomaly_alerts"), "redrive": redirected("slack_redrive")},
            period=five_minutes,
            label="alerts redirected to the default channel",
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
    return alarm
