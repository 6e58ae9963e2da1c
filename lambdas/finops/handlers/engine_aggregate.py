"""The last state of every run: the Map's results from S3, one summary, per-team digests, metrics, catch-up point."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.tracing import LazyTracer

PERMISSIONS: tuple[str, ...] = ()  # the bucket, tables, queue and secret come from CDK grants

logger = Logger()
tracer = LazyTracer()  # the X-Ray SDK on the first invocation, not in the init phase (finops/tracing.py)
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Imported on the first invocation: the init phase imports Powertools only (python -m tools.bench.imports).
    from finops.aws.clients import AwsClients
    from finops.engine.aggregate import aggregate, compact, results_from_manifest, with_missing_targets
    from finops.engine.model import RunContext
    from finops.engine.state import DynamoRunState
    from finops.notify.slack import SlackOutbox
    from finops.runtime import (
        digest_renderer,
        engine_capability,
        once_per_key,
        outbox_delivery,
        run_conclusion,
        slack_sender,
    )
    from finops.settings import Settings, config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    ctx = RunContext.from_json(event["run"])
    spec, _ = engine_capability(ctx.capability, config)
    clients = AwsClients()
    s3 = clients.client("s3")
    written = event["map"]["ResultWriterDetails"]
    results = results_from_manifest(s3, written["Bucket"], written["Key"], ctx)
    # Every target the start step wrote must come back: one without a result is a failure, never silence.
    listed = json.loads(s3.get_object(Bucket=event["targets"]["bucket"], Key=event["targets"]["key"])["Body"].read())
    results = with_missing_targets(results, listed, ctx)
    outbox = SlackOutbox(
        sender=slack_sender(clients, config),
        sqs=clients.client("sqs"),
        queue_url=settings.slack_retry_queue_url,
        clock=lambda: ctx.now,
    )
    document = aggregate(
        ctx,
        results,
        config=config,
        render=digest_renderer(spec, config),
        deliver=outbox_delivery(outbox, once_per_key(clients, settings.idempotency_table_name, context)),
        state=DynamoRunState(clients.client("dynamodb"), settings.state_table_name),
        complete=not ctx.params.get("rerun"),
        conclude=run_conclusion(spec, config, clients),
    )
    key = f"runs/{ctx.capability}/{ctx.run_id}/summary.json"
    s3.put_object(Bucket=settings.engine_bucket_name, Key=key, Body=json.dumps(document, default=str).encode())
    # The state machine fails the execution (and its alarm fires) when status says failures; the output stays small.
    return compact(document, summary_key=key)
