"""Wiring: build the services a handler needs from one AwsClients, the settings and the config.

The handlers, ``make invoke`` (moto) and ``make run`` (real AWS) all go through these functions, so the dry
run, the demo and the Lambda are the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from finops.aws.clients import AwsClients
from finops.aws.organizations import AccountDirectory
from finops.engine.kill_switch import KillSwitch
from finops.models.config import FinOpsConfig
from finops.services.audit import AuditTrail, MemoryAuditTrail
from finops.services.once import Once, Request, Result, memory_once
from finops.settings import Settings

if TYPE_CHECKING:  # annotations only: the alert handlers do not import the engine, the workers not Slack's SDK
    from finops.engine.aggregate import Conclude, Deliver, Render
    from finops.engine.model import Capability, RunContext, TargetResult
    from finops.engine.start import RunSpec
    from finops.notify.blocks import SlackMessage
    from finops.notify.slack import PreviewOutbox, SlackOutbox, SlackSender, SlackTransport
    from finops.services.alerts import AlertRun

IDEMPOTENCY_TTL_SECONDS = 3 * 24 * 3600  # SNS, Lambda and SQS retries land well inside this


def wall_clock() -> datetime:
    """Now, for what records when things happen (the audit trail); decisions get the run's clock instead."""
    return datetime.now(UTC)


def slack_sender(clients: AwsClients, config: FinOpsConfig) -> SlackSender:
    """The Slack secret is read on the first post (not at import, not when nothing is posted)."""
    from finops.notify.slack import SlackSender

    slack = config.notifications.slack

    @cache
    def transport() -> SlackTransport:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        from finops.notify.slack import DeliveryError, SlackTransport, credentials_from_secret

        provider = SecretsProvider(boto3_client=clients.client("secretsmanager"))
        try:
            secret = provider.get(slack.secret_name, max_age=300)
        except GetParameterError as exc:
            raise DeliveryError(f"cannot read Slack secret {slack.secret_name!r}: {exc}", scope="credentials") from exc
        return SlackTransport(credentials_from_secret(secret, secret_name=slack.secret_name))

    return SlackSender(transport=transport, fallback_channel=slack.default_channel)


def once_per_key(clients: AwsClients, table_name: str, lambda_context: Any = None) -> Once:
    """At most once per ``request["key"]`` across invocations, through Powertools idempotency on DynamoDB."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=clients.client("dynamodb"))
    idempotency = IdempotencyConfig(
        event_key_jmespath="key", expires_after_seconds=IDEMPOTENCY_TTL_SECONDS, raise_on_no_idempotency_key=True
    )
    if lambda_context is not None:
        idempotency.register_lambda_context(lambda_context)

    def once(fn: Callable[[Request], Result], request: Request) -> Result:
        def deliver(request: Request) -> Result:
            return fn(request)

        wrapped = idempotent_function(
            data_keyword_argument="request",
            persistence_store=persistence,
            config=idempotency,
            key_prefix="finops",
        )(deliver)
        result: Result = wrapped(request=request)
        return result

    return once


def alert_run(
    clients: AwsClients,
    settings: Settings,
    config: FinOpsConfig,
    *,
    now: datetime,
    run_id: str,
    actor: str,
    lambda_context: Any = None,
) -> AlertRun:
    from finops.notify.slack import SlackOutbox
    from finops.services.alerts import AlertRun

    return AlertRun(
        config=config,
        directory=AccountDirectory(clients.client("organizations")),
        outbox=SlackOutbox(
            sender=slack_sender(clients, config),
            sqs=clients.client("sqs"),
            queue_url=settings.slack_retry_queue_url,
            clock=lambda: now,
        ),
        audit=AuditTrail(clients.client("dynamodb"), settings.audit_table_name, clock=wall_clock),
        once=once_per_key(clients, settings.idempotency_table_name, lambda_context),
        run_id=run_id,
        actor=actor,
        now=now,
    )


def preview_alert_run(
    clients: AwsClients,
    config: FinOpsConfig,
    *,
    outbox: PreviewOutbox,
    audit: MemoryAuditTrail,
    now: datetime,
    run_id: str,
    actor: str,
) -> AlertRun:
    """The same run against a real account before anything is deployed: real Organizations reads; messages
    rendered and routed but not posted; audit and once-only kept in memory."""
    from finops.services.alerts import AlertRun

    return AlertRun(
        config=config,
        directory=AccountDirectory(clients.client("organizations")),
        outbox=outbox,
        audit=audit,
        once=memory_once(),
        run_id=run_id,
        actor=actor,
        now=now,
        mode="report",
    )


# -- the run engine ----------------------------------------------------------------------------------------------


def engine_capability(
    name: str, config: FinOpsConfig, *, sleep: Callable[[float], None] = time.sleep
) -> tuple[RunSpec, Capability]:
    """The hub side and the worker side of the acting capability ``name``; ``sleep`` paces verification polls."""
    if name == "scheduler":
        from finops.services.scheduler_run import SchedulerCapability, SchedulerSpec

        return SchedulerSpec(), SchedulerCapability(config, sleep=sleep)
    if name == "ebs_cleanup":
        from finops.services.cleanup_run import CleanupCapability, CleanupSpec

        return CleanupSpec(), CleanupCapability(config, sleep=sleep)
    if name == "tag_compliance":
        from finops.services.tag_compliance_run import TagComplianceCapability, TagComplianceSpec

        return TagComplianceSpec(), TagComplianceCapability(config, sleep=sleep)
    raise KeyError(f"no acting capability {name!r}; known: scheduler, ebs_cleanup, tag_compliance")


def kill_switch(clients: AwsClients, config: FinOpsConfig) -> KillSwitch:
    """The hub's kill-switch parameter, read through the hub's own credentials (never a member's)."""
    return KillSwitch(clients.client("ssm"), config.safety.kill_switch_parameter)


def worker_batch(
    make: Callable[[FinOpsConfig], Capability],
    event: dict[str, Any],
    *,
    actor: str,
    switch: KillSwitch | None,
) -> tuple[dict[str, Any], KillSwitch]:
    """One Distributed Map batch of a capability's worker, as every worker handler runs it: the config and clients
    of this invocation, the capability ``make`` builds from the config, the member role, the kill switch (``switch``,
    kept across warm invocations by the handler: read at most once a minute), the audit trail and the wall clock.
    Returns the batch's output and the kill switch to keep."""
    from finops.engine.worker import run_batch
    from finops.settings import config_at

    settings = Settings.from_env()
    config = config_at(settings.config_path)
    clients = AwsClients()
    switch = switch or kill_switch(clients, config)
    output = run_batch(
        make(config),
        event,
        concurrency=config.engine.target_concurrency,
        scopes=clients,
        role_name=config.organization.member_role_name,
        kill_switch=switch,
        audit=AuditTrail(clients.client("dynamodb"), settings.audit_table_name, clock=wall_clock),
        actor=actor,
        wall_clock=wall_clock,
    )
    return output, switch


def digest_renderer(spec: RunSpec, config: FinOpsConfig) -> Render:
    """The capability's own digests when its spec has them (``spec.digests``), else the engine's common ones."""
    from finops.notify.digest import digests

    own = getattr(spec, "digests", None)

    def render(results: Sequence[TargetResult], ctx: RunContext, conclusion: Mapping[str, Any]) -> list[SlackMessage]:
        if own is not None:
            messages: list[SlackMessage] = own(results, ctx, conclusion, config)
            return messages
        return digests(results, ctx, config, title=spec.title(ctx))

    return render


def run_conclusion(spec: RunSpec, config: FinOpsConfig, clients: AwsClients) -> Conclude | None:
    """The capability's run-level findings (``spec.conclude``) with the hub's clients, for the aggregate; None for a
    capability without them. The deployed aggregate, `make invoke` and `make run` all get it from here."""
    conclude = getattr(spec, "conclude", None)
    if conclude is None:
        return None

    def concluded(results: Sequence[TargetResult], ctx: RunContext) -> Mapping[str, Any]:
        found: Mapping[str, Any] = conclude(results, ctx, config=config, clients=clients)
        return found

    return concluded


def outbox_delivery(outbox: SlackOutbox | PreviewOutbox, once: Once) -> Deliver:
    """Digests go through the alerts' outbox (a Slack outage parks them), once per run and channel."""
    from finops.notify.slack import Delivery

    def deliver(message: SlackMessage, key: str) -> Delivery:
        def post(request: Request) -> Result:
            return asdict(outbox.deliver(message, key=key))

        return Delivery(**once(post, {"key": key}))

    return deliver
