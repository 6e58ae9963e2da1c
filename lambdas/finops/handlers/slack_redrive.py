"""Drains the Slack retry queue: each parked message is posted again or stays queued (partial batch failure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

PERMISSIONS: tuple[str, ...] = ()  # queue, secret and tables come from CDK grants

logger = Logger()
tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from finops.aws.clients import AwsClients
    from finops.runtime import once_per_key, slack_sender, wall_clock
    from finops.services.audit import AuditTrail
    from finops.services.redrive import Redrive
    from finops.settings import Settings, config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    clients = AwsClients()
    redrive = Redrive(
        sender=slack_sender(clients, config),
        audit=AuditTrail(clients.client("dynamodb"), settings.audit_table_name, clock=wall_clock),
        once=once_per_key(clients, settings.idempotency_table_name, context),
        run_id=context.aws_request_id,
        actor=context.function_name,
        clock=wall_clock,
        time_left_ms=context.get_remaining_time_in_millis,
    )

    def record_handler(record: SQSRecord) -> str:
        return redrive(record.body)

    # A batch that fails whole (Slack down) is reported item by item, not raised: the retry queue's delayed and
    # backlog alarms speak for an outage; an Errors alarm on every poll would not.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
