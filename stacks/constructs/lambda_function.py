"""The one Lambda factory: every hub function gets its defaults, its failure handling and its IAM contract here."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from finops.handlers import HANDLERS
from stacks.naming import resource_name, retained_name

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"

# The newest Python runtime in aws-cdk-lib for which every pinned wheel exists (stacks/layer_spec.py names the same
# version and architecture for the layer build; a test checks they agree).
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "FinOps"
DEFAULT_TIMEOUT = Duration.seconds(60)
# Lambda retries a failed async invoke this often before handing the event to the on-failure queue.
ASYNC_RETRY_ATTEMPTS = 2


# Never shipped in the function asset: caches, tests, and the requirements the layer already carries.
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache", "**/.pytest_cache", "**/tests", "requirements.txt"]


# Why a service's declared actions get Resource "*". A handler that declares an action of a service not listed here
# stops the synth: scope it to a resource in the stack instead, or add the reason.
UNSCOPED_REASONS: Mapping[str, str] = {
    "organizations": (
        "Organizations account and OU ARNs embed the organization id, which the config does not carry, and the "
        "management account's resource policy delegates only Describe*/List* actions to the hub."
    ),
}


def unscoped_reason(permissions: Sequence[str]) -> str:
    """The reasons, one per service, that ``permissions`` cannot name a resource."""
    services = sorted({action.split(":", 1)[0] for action in permissions})
    missing = [service for service in services if service not in UNSCOPED_REASONS]
    if missing:
        raise ValueError(f"no reason recorded for granting {missing} actions on every resource: see UNSCOPED_REASONS")
    return " ".join(UNSCOPED_REASONS[service] for service in services)


def handler_permissions(name: str) -> tuple[str, ...]:
    """The ``PERMISSIONS`` the handler module of ``name`` declares (imported, so the contract is the code's own)."""
    module = importlib.import_module(HANDLERS[name])
    permissions = getattr(module, "PERMISSIONS", None)
    if not isinstance(permissions, tuple) or not all(isinstance(p, str) and ":" in p for p in permissions):
        raise TypeError(f"{HANDLERS[name]}.PERMISSIONS must be a tuple of IAM actions like 'service:Action'")
    return permissions


class FinOpsFunction(Construct):
    """A hub function named ``finops-<name>`` running ``HANDLERS[name].handler``, with the house defaults.

    Defaults: :data:`RUNTIME` on arm64, JSON logs to its own log group ``/aws/lambda/finops-<name>-<install id>``
    (kept one month, and kept when the stack is deleted), X-Ray active tracing,
    Powertools service/namespace, role ``finops-<name>`` (the member-account role trusts ``finops-*``). Async
    invokes retry twice, then land in an SQS on-failure queue. Alarms on errors and on that queue's depth go to
    ``alarm_topic``. Exposes ``name`` (the handler's), ``function_name``, ``function``, ``role``, ``log_group``,
    ``failure_queue``, ``errors_alarm`` and ``failure_queue_alarm``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion],
        alarm_topic: sns.ITopic,
        timeout: Duration | None = None,
        memory_size: int = 512,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function_name = resource_name(name)
        self.name = name
        self.function_name = function_name
        failure_queue_name = f"{function_name}-failures"
        permissions = handler_permissions(name)

        self.role = iam.Role(
            self,
            "Role",
            role_name=function_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {function_name}",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Kept on deletion (the record of what the function did), so named per install: a reinstall must not
            # collide with the group an uninstall kept.
            log_group_name=retained_name(self, f"/aws/lambda/{function_name}"),
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.log_group.grant_write(self.role)
        self.failure_queue = sqs.Queue(
            self,
            "FailureQueue",
            queue_name=failure_queue_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=_ASSET_EXCLUDES),
            handler=f"{HANDLERS[name]}.handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            layers=list(layers),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout or DEFAULT_TIMEOUT,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(self.failure_queue),
        )

        if permissions:
            reason = f"Exactly {HANDLERS[name]}.PERMISSIONS ({', '.join(permissions)}). {unscoped_reason(permissions)}"
            handler_policy = iam.Policy(
                self,
                "HandlerPermissions",
                statements=[iam.PolicyStatement(actions=sorted(permissions), resources=["*"])],
            )
            self.role.attach_inline_policy(handler_policy)
            Validations.of(handler_policy).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason=reason,
                )
            )
        default_policy = self.role.node.find_child("DefaultPolicy")
        Validations.of(default_policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no "
                    "resource-level permissions; every other statement here names its resource."
                ),
            )
        )
        Validations.of(self.failure_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason=(
                    f"This queue is the dead-letter target of {function_name}: its async on-failure destination "
                    "(cdk-nag recognises only a function's DeadLetterConfig). Its depth is alarmed."
                ),
            )
        )

        alarm_action = cloudwatch_actions.SnsAction(alarm_topic)
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_name=f"{function_name}-errors",
            alarm_description=f"{function_name} raised an error (see its log group {self.log_group.log_group_name})",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.failure_queue_alarm = cloudwatch.Alarm(
            self,
            "FailureQueueAlarm",
            alarm_name=f"{function_name}-failures",
            alarm_description=(
                f"Async invokes of {function_name} failed after {ASYNC_RETRY_ATTEMPTS} retries; the queue "
                f"{failure_queue_name} holds each failed event with its error. See docs/runbook.md."
            ),
            metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.errors_alarm, self.failure_queue_alarm):
            alarm.add_alarm_action(alarm_action)
