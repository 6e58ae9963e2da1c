"""Synthetic anomalies that prove the alert path: ``make smoke`` and the scheduled delivery heartbeat.

Both are published to the management account's anomaly topic as Cost Anomaly JSON whose ``anomalyId`` starts with
:data:`SMOKE_PREFIX` or :data:`HEARTBEAT_PREFIX`, with a zero impact (a function that predates this module finds them
below every severity tier and posts nothing). The alert function recognizes them here, before any routing: they go
to the heartbeat channel (``notifications.heartbeat.channel`` when the heartbeat is on, else the default channel),
page nobody, are posted every time they arrive (no once-only key: each smoke test has its own id, and a redelivered
heartbeat posting twice harms no one) and are logged as ``synthetic alert received`` and ``synthetic alert posted``
(with the channel and Slack's ts) or ``synthetic alert parked``: the records ``make smoke`` reads back
(tools/smoke.py). A delivered heartbeat counts ``HeartbeatDelivered``, whose absence the hub alarms on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.models.alerts import Alert, CostAnomaly
from finops.models.config import FinOpsConfig
from finops.models.summary import Item, RunSummary
from finops.notify.blocks import SlackMessage, escape
from finops.services.audit import AuditRecord, record_after_the_fact

if TYPE_CHECKING:
    from finops.services.alerts import AlertRun

logger = Logger(child=True)
metrics = Metrics()

Kind = Literal["smoke", "heartbeat"]
SMOKE_PREFIX = "finops-smoke-"
HEARTBEAT_PREFIX = "finops-heartbeat-"
PREFIXES: dict[Kind, str] = {"smoke": SMOKE_PREFIX, "heartbeat": HEARTBEAT_PREFIX}
SMOKE_TEXT = "SMOKE TEST — not a real anomaly"
HEARTBEAT_TEXT = "HEARTBEAT — not a real anomaly"
HEARTBEAT_METRIC = "HeartbeatDelivered"
# What the function logs; tools/smoke.py searches the log group for them.
RECEIVED, POSTED, PARKED = "synthetic alert received", "synthetic alert posted", "synthetic alert parked"


def synthetic_kind(alert: Alert) -> Kind | None:
    """``smoke`` or ``heartbeat`` for a synthetic anomaly, None for everything real."""
    if not isinstance(alert, CostAnomaly):
        return None
    for kind, prefix in PREFIXES.items():
        if alert.anomaly_id.startswith(prefix):
            return kind
    return None


def split_synthetic(alerts: Sequence[Alert]) -> tuple[list[CostAnomaly], list[Alert]]:
    """The synthetic anomalies, and the real alerts (in their order)."""
    synthetic = [a for a in alerts if isinstance(a, CostAnomaly) and synthetic_kind(a) is not None]
    return synthetic, [a for a in alerts if synthetic_kind(a) is None]


def synthetic_anomaly(kind: Kind, suffix: str, *, sent_at: str, sent_by: str) -> str:
    """The SNS message of a synthetic anomaly ``<prefix><suffix>``, as Cost Anomaly Detection shapes one.

    ``sent_at`` and ``suffix`` may be EventBridge Scheduler context attributes (``<aws.scheduler.scheduled-time>``),
    which the schedule replaces when it publishes. ``sent_at`` must be an ISO 8601 instant once replaced."""
    text = SMOKE_TEXT if kind == "smoke" else HEARTBEAT_TEXT
    message = {
        "anomalyId": PREFIXES[kind] + suffix,
        "anomalyStartDate": sent_at,
        "monitorName": f"finops {kind}: {text}",
        "dimensionalValue": text,
        "impact": {"maxImpact": 0, "totalImpact": 0},
        "rootCauses": [],
        "finopsSynthetic": {"kind": kind, "sentAt": sent_at, "sentBy": sent_by, "text": text},
    }
    return json.dumps(message, ensure_ascii=False)


def synthetic_channel(config: FinOpsConfig) -> str:
    """The heartbeat channel when the heartbeat is on (it is the channel for proofs of delivery), else the default
    channel: a smoke test must not fail on a heartbeat channel nobody created."""
    heartbeat = config.notifications.heartbeat
    return heartbeat.channel if heartbeat.enabled else config.notifications.slack.default_channel


def synthetic_message(anomaly: CostAnomaly, kind: Kind, *, channel: str, now: datetime) -> SlackMessage:
    """What a person reads in the channel: says plainly it is a test, pages nobody."""
    sent = anomaly.start.isoformat().replace("+00:00", "Z") if anomaly.start else "an unknown time"
    if kind == "smoke":
        headline = f":white_check_mark: {SMOKE_TEXT}. `make smoke` proves the alert path: topic → function → Slack."
        follow = "Nothing to do. If `make smoke` says a hop is missing, docs/smoke.md says what to check."
    else:
        headline = (
            f":heartbeat: {HEARTBEAT_TEXT}. The scheduled delivery heartbeat came through topic → function → Slack."
        )
        follow = (
            "Nothing to do. When heartbeats stop arriving, the finops-alerts-heartbeat alarm fires (docs/smoke.md)."
        )
    detail = f"{escape(anomaly.anomaly_id)} · sent {escape(sent)} · handled {now.isoformat().replace('+00:00', 'Z')}"
    return SlackMessage(
        channel=channel,
        text=f"{headline} {follow}",
        blocks=(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{follow}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": detail}]},
        ),
    )


def deliver_synthetic(anomalies: Sequence[CostAnomaly], run: AlertRun, summary: RunSummary) -> None:
    """Post each synthetic anomaly through the run's outbox (a Slack outage parks it like any alert), log what
    ``make smoke`` reads, audit it, and add it to ``summary``."""
    channel = synthetic_channel(run.config)
    for anomaly in anomalies:
        kind = synthetic_kind(anomaly)
        if kind is None:  # pragma: no cover - split_synthetic passes synthetic anomalies only
            raise ValueError(f"{anomaly.anomaly_id} is not a synthetic anomaly")
        logger.info(RECEIVED, synthetic=kind, anomaly_id=anomaly.anomaly_id)
        message = synthetic_message(anomaly, kind, channel=channel, now=run.now)
        delivery = run.outbox.deliver(message, key=f"{kind}:{anomaly.anomaly_id}")
        record_after_the_fact(
            run.audit,
            AuditRecord(
                run_id=run.run_id,
                actor=run.actor,
                action=delivery.audit_action,
                target=f"slack:{delivery.channel}",
                reason=f"{kind} {anomaly.anomaly_id}" + (f"; {delivery.reason}" if delivery.reason else ""),
                at=run.now,
                mode=run.mode,
                after={"status": delivery.status, "via": delivery.via, "synthetic": kind},
            ),
        )
        where: dict[str, Any] = {"synthetic": kind, "anomaly_id": anomaly.anomaly_id, "channel": delivery.channel}
        if delivery.status == "parked":
            logger.warning(PARKED, **where, reason=delivery.reason)
            summary.add("acted", Item(anomaly.anomaly_id, "notify", f"{kind} parked for {channel}: {delivery.reason}"))
            continue
        if delivery.status == "delivered":
            logger.info(POSTED, **where, ts=delivery.ts, via=delivery.via, intended=delivery.intended)
            if kind == "heartbeat":
                metrics.add_metric(name=HEARTBEAT_METRIC, unit=MetricUnit.Count, value=1)
        verb = "would post to" if delivery.status == "previewed" else "posted to"
        note = f" (refused by {delivery.intended}: {delivery.reason})" if delivery.intended else ""
        summary.add("acted", Item(anomaly.anomaly_id, "notify", f"{kind} {verb} {delivery.channel}{note}"))
