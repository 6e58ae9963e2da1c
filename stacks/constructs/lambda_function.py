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
from stacks.nag import acknowledge_checkov
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


# A function's environment is readable by anyone who may read its configuration, and checkov's CKV_AWS_173 is
# acknowledged on every function because it holds no secret: names like these stop the synth (a secret is read from
# Secrets Manager at run time; its name or ARN may be passed).
_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "WEBHOOK", "PRIVATE_KEY", "CREDENTIAL")
_SECRET_REFERENCE_SUFFIXES = ("_NAME", "_ARN", "_ID")


def secret_like_variables(environment: Mapping[str, str]) -> list[str]:
    """The variables of ``environment`` whose name says they would hold a secret (not a reference to one)."""
    return sorted(
        name
        for name in environment
        if any(word in name.upper() for word in _SECRET_WORDS) and not name.upper().endswith(_SECRET_REFERENCE_SUFFIXES)
    )


# Why checkov's findings on every function are acknowledged rather than fixed (one skip per check, on the function).
CHECKOV_FUNCTION_REASONS: Mapping[str, str] = {
    "CKV_AWS_116": (
        "Async invokes retry twice, then go to the on-failure destination, an SQS queue of this function that holds "
        "each event with its error and whose depth is alarmed; checkov reads only DeadLetterConfig. Synchronous "
        "callers (Step Functions, the SQS event source) get the error themselves."
    ),
    "CKV_AWS_117": (
        "No VPC: the function calls only AWS APIs (in every region of the target accounts) and Slack over TLS, and "
        "reaches nothing inside a network. A VPC would add a NAT gateway or an interface endpoint per service and "
        "region, and no isolation: the role, not the network, bounds what it can do."
    ),
    "CKV_AWS_173": (
        "The environment holds table, queue and bucket names, the config path and Powertools settings: no secret "
        "(the Slack token is read from Secrets Manager at run time, and FinOpsFunction refuses a variable named like "
        "a secret). Lambda encrypts it at rest with its AWS managed key."
    ),
    "CKV_AWS_115": (
        "No reserved concurrency by default: a reservation is carved out of the account's shared regional pool, and "
        "AWS refuses one that would leave under 100 unreserved (a new account's quota may be 10), so it could fail "
        "the deploy or starve the account's other functions. Callers bound the fan-out where it matters (the run "
        "engine's Distributed Map max_concurrency); reserved_concurrency sets a hard cap where one is needed."
    ),
}
CHECKOV_LOG_GROUP_REASON = (
    "CloudWatch Logs encrypts every log group at rest. These hold the function's JSON logs (resource ids, actions, "
    "errors), never a secret; a customer managed key would add a key per install, a key policy for "
    "logs.<region>.amazonaws.com scoped to the group, and a key the retained group needs after an uninstall."
)


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

    checkov's findings that do not fit these functions (DeadLetterConfig, VPC, an environment key, reserved
    concurrency; a customer managed key for the log group) are acknowledged on the function and its log group with
    :data:`CHECKOV_FUNCTION_REASONS` and :data:`CHECKOV_LOG_GROUP_REASON`. An environment variable named like a
    secret raises ``ValueError``.
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
        secret_like = secret_like_variables(environment)
        if secret_like:
            raise ValueError(
                f"{function_name}: the environment variables {secret_like} are named like secrets; keep the secret in "
                "Secrets Manager and pass its name or ARN (a variable ending in _NAME or _ARN)"
            )

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
            # KMS with the account's AWS managed key (alias/aws/sqs): its key policy admits every principal of the
            # account through SQS, so Lambda's destination (the function's role) needs no key grant; each use is in
            # CloudTrail.
            encryption=sqs.QueueEncryption.KMS_MANAGED,
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
        for check_id, check_reason in CHECKOV_FUNCTION_REASONS.items():
            if check_id == "CKV_AWS_115" and reserved_concurrency is not None:
                continue  # reserved: nothing to acknowledge
            acknowledge_checkov(self.function, check_id, check_reason)
        acknowledge_checkov(self.log_group, "CKV_AWS_158", CHECKOV_LOG_GROUP_REASON)

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
