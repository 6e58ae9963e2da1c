"""The automation hub, stood up in moto: what the FinOpsHub stack deploys, for the demo, `make invoke` and tests.

It creates the same resources the stack does (audit and idempotency tables, the Slack retry queue and its DLQ,
each function's dead-letter queue, the Slack secret, the config file the config layer carries), sets the same
environment variables the Lambda gets, and runs handlers the way Lambda does: async invokes with two retries and
an on-failure destination, and an SQS event source that deletes only the records that succeeded.

Call everything here inside an active moto mock.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from finops.aws.clients import AwsClients
from finops.aws.organizations import enumerate_targets
from finops.engine.kill_switch import KillSwitch
from finops.engine.local import run_locally
from finops.engine.request import parse_run_request
from finops.engine.state import DynamoRunState
from finops.handlers import CAPABILITY_WORKERS, HANDLERS
from finops.models.config import FinOpsConfig
from finops.notify.slack import SlackOutbox
from finops.runtime import (
    digest_renderer,
    engine_capability,
    once_per_key,
    outbox_delivery,
    run_conclusion,
    slack_sender,
    wall_clock,
)
from finops.services.audit import AuditTrail
from finops.settings import Settings

ASYNC_RETRY_ATTEMPTS = 2  # Lambda's default for async invokes, as the stack configures it
RETRY_QUEUE_MAX_RECEIVES = 50


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the real context object."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass(frozen=True)
class Invocation:
    """One async invoke as Lambda would run it: the result, or the error and the DLQ record it produced."""

    function: str
    attempts: int
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    dead_letter: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is None:
            return self.result if isinstance(self.result, dict) else {"value": self.result}
        return {
            "error": self.error,
            "errorType": self.error_type,
            "attempts": self.attempts,
            "dead_letter": self.dead_letter,
        }


class LocalHub:
    """Hub resources in the current moto account, named as the stack names them."""

    def __init__(self, config: FinOpsConfig, workdir: Path, *, region: str = "us-east-1") -> None:
        self.config = config
        self.region = region
        self.session = boto3.Session(region_name=region)
        self.dynamodb = self.session.client("dynamodb")
        self.sqs = self.session.client("sqs")
        self.secrets = self.session.client("secretsmanager")
        self.config_path = workdir / "finops" / "config.json"
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        # What the config layer carries: the validated config as JSON.
        self.config_path.write_text(config.model_dump_json(by_alias=True))
        self._create_tables()
        self.retry_dlq_url = self.sqs.create_queue(QueueName="finops-slack-retry-dlq")["QueueUrl"]
        dlq_arn = self._queue_arn(self.retry_dlq_url)
        self.retry_queue_url = self.sqs.create_queue(
            QueueName="finops-slack-retry",
            Attributes={
                "VisibilityTimeout": "0",  # locally, a failed redelivery is visible again at once
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(RETRY_QUEUE_MAX_RECEIVES)}
                ),
            },
        )["QueueUrl"]
        self.retry_queue_arn = self._queue_arn(self.retry_queue_url)
        self.function_dlq_urls = {
            name: self.sqs.create_queue(QueueName=f"finops-{name.replace('_', '-')}-failures")["QueueUrl"]
            for name in HANDLERS
        }

    def _create_tables(self) -> None:
        self.audit_table = "finops-audit"
        self.idempotency_table = "finops-idempotency"
        self.state_table = "finops-engine-state"
        self.engine_bucket = "finops-engine"
        self.session.client("s3").create_bucket(Bucket=self.engine_bucket)
        self.dynamodb.create_table(
            TableName=self.state_table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.create_table(
            TableName=self.audit_table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.create_table(
            TableName=self.idempotency_table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def put_slack_secret(self, secret: dict[str, Any]) -> None:
        name = self.config.notifications.slack.secret_name
        with contextlib.suppress(self.secrets.exceptions.ResourceNotFoundException):
            self.secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.secrets.create_secret(Name=name, SecretString=json.dumps(secret))

    @property
    def settings(self) -> Settings:
        return Settings(
            config_path=str(self.config_path),
            audit_table_name=self.audit_table,
            idempotency_table_name=self.idempotency_table,
            slack_retry_queue_url=self.retry_queue_url,
            engine_bucket_name=self.engine_bucket,
            state_table_name=self.state_table,
        )

    def environment(self, function: str) -> dict[str, str]:
        env = self.settings.environment()
        return env | {
            "POWERTOOLS_SERVICE_NAME": function,  # as the function factory sets it
            "POWERTOOLS_METRICS_NAMESPACE": "FinOps",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": f"finops-{function.replace('_', '-')}",
        }

    def invoke(
        self,
        function: str,
        event: dict[str, Any],
        *,
        retry_attempts: int = ASYNC_RETRY_ATTEMPTS,
        config: FinOpsConfig | None = None,
    ) -> Invocation:
        """An async invoke: up to 1 + retry_attempts tries; then the event and error go to the function's DLQ.
        ``config`` stands in for the hub's own, as a redeployed config layer would (e.g. the same file in enforce
        mode)."""
        attempts = 0
        variables = self.environment(function)
        if config is not None:
            text = config.model_dump_json(by_alias=True)
            path = self.config_path.with_name(f"config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json")
            path.write_text(text)
            variables["FINOPS_CONFIG_PATH"] = str(path)
        with environment(variables):
            handler = _handler(function)  # imported with the function's environment, as Lambda does
            while True:
                attempts += 1
                context = LambdaContext(function_name=f"finops-{function.replace('_', '-')}")
                try:
                    result = handler(event, context)
                except Exception as exc:  # Lambda's own view: any exception is a failed invoke
                    if attempts <= retry_attempts:
                        continue
                    record = _on_failure_record(function, event, exc, attempts, context)
                    self.sqs.send_message(QueueUrl=self.function_dlq_urls[function], MessageBody=json.dumps(record))
                    return Invocation(
                        function, attempts, error=str(exc), error_type=type(exc).__name__, dead_letter=record
                    )
                return Invocation(function, attempts, result=result)

    def run(
        self,
        capability: str,
        event: dict[str, Any],
        *,
        run_id: str | None = None,
        config: FinOpsConfig | None = None,
    ) -> dict[str, Any]:
        """One whole run of ``capability`` as the state machine runs it (start, Map over the worker, aggregate),
        with the hub's state table, audit trail, kill-switch parameter and Slack outbox; the event's time is the
        run's clock. ``config`` stands in for the hub's own (e.g. the same file in enforce mode). Raises
        ``InvalidEvent`` for an event that is not a run request."""
        config = config or self.config
        request = parse_run_request({**event, "capability": capability})
        run_id = run_id or f"{capability}-{request.now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        with environment(self.environment(CAPABILITY_WORKERS[capability])):
            clients = AwsClients(self.session, region=self.region)
            spec, worker = engine_capability(capability, config, sleep=_moto_needs_no_wait)
            outbox = SlackOutbox(
                sender=slack_sender(clients, config),
                sqs=clients.client("sqs"),
                queue_url=self.retry_queue_url,
                clock=lambda: request.now,
            )
            return run_locally(
                spec,
                worker,
                request,
                config=config,
                run_id=run_id,
                state=DynamoRunState(clients.client("dynamodb"), self.state_table),
                kill_switch=KillSwitch(clients.client("ssm"), config.safety.kill_switch_parameter),
                enumerate_targets=lambda: enumerate_targets(config, clients.client("organizations")),
                worker_deps={
                    "scopes": clients,
                    "role_name": config.organization.member_role_name,
                    "kill_switch": KillSwitch(clients.client("ssm"), config.safety.kill_switch_parameter),
                    "audit": AuditTrail(clients.client("dynamodb"), self.audit_table, clock=wall_clock),
                    "actor": f"finops-{CAPABILITY_WORKERS[capability].replace('_', '-')}",
                },
                render=digest_renderer(spec, config),
                deliver=outbox_delivery(outbox, once_per_key(clients, self.idempotency_table)),
                conclude=run_conclusion(spec, config, clients),
            )

    def set_kill_switch(self, value: str | None) -> None:
        """Set the hub's kill-switch parameter (None deletes it: no switch set)."""
        ssm = self.session.client("ssm")
        name = self.config.safety.kill_switch_parameter
        if value is None:
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)
            return
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)

    def drain_retry_queue(self, *, max_batches: int = 10) -> list[Invocation]:
        """The SQS event source of slack_redrive: receive, invoke, delete what succeeded."""
        runs: list[Invocation] = []
        for _ in range(max_batches):
            messages = self.sqs.receive_message(
                QueueUrl=self.retry_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                break
            event = {"Records": [sqs_record(m, self.retry_queue_arn) for m in messages]}
            run = self.invoke("slack_redrive", event, retry_attempts=0)
            runs.append(run)
            failed = {f["itemIdentifier"] for f in (run.result or {}).get("batchItemFailures", [])}
            for message in messages:
                if run.error is None and message["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.retry_queue_url, ReceiptHandle=message["ReceiptHandle"])
            if failed or run.error is not None:
                break  # Slack still refuses: leave the rest for the next poll, as the event source would
        return runs

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


def _moto_needs_no_wait(_seconds: float) -> None:
    """moto changes a resource's state at once: the worker's verification polls need not sleep here."""


def _handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    if function not in HANDLERS:
        raise SystemExit(f"unknown function {function!r}; known: {', '.join(sorted(HANDLERS))}")
    name = HANDLERS[function]
    module = importlib.import_module(name)
    if name not in _IMPORTED_AS_LAMBDA:
        # Powertools reads its environment at import. A module first imported elsewhere (the stacks import every
        # handler for its PERMISSIONS) is imported again here, with the function's environment, as Lambda would.
        module = importlib.reload(module)
        _IMPORTED_AS_LAMBDA.add(name)
    return module.handler  # type: ignore[no-any-return]


_IMPORTED_AS_LAMBDA: set[str] = set()


def _on_failure_record(
    function: str, event: Any, exc: Exception, attempts: int, context: LambdaContext
) -> dict[str, Any]:
    """The record Lambda's on-failure destination receives (a subset of its documented shape)."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": context.aws_request_id,
            "functionArn": f"function:finops-{function.replace('_', '-')}",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(exc), "errorType": type(exc).__name__},
    }


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
