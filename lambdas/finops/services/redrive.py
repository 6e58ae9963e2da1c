"""Re-send Slack messages parked on the retry queue; a failure leaves the message on the queue for later."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.notify.slack import DeliveryError, SlackTransport, redeliver
from finops.services.audit import AuditRecord, AuditTrail

metrics = Metrics()


@dataclass(frozen=True, slots=True)
class Redrive:
    transport: Callable[[], SlackTransport]
    audit: AuditTrail
    run_id: str
    actor: str
    now: datetime

    def __call__(self, body: str) -> str:
        """Deliver one parked message (raises DeliveryError when Slack still refuses)."""
        try:
            delivery = redeliver(body, self.transport())
        except DeliveryError:
            metrics.add_metric(name="AlertsStillUndeliverable", unit=MetricUnit.Count, value=1)
            raise
        parked = json.loads(body)
        self.audit.record(
            AuditRecord(
                run_id=self.run_id,
                actor=self.actor,
                action="slack.post",
                target=f"slack:{delivery.channel}",
                reason=f"redelivered {parked['key']} parked at {parked['parked_at']} ({parked['reason']})",
                at=self.now,
                mode="enforce",
                after={"status": delivery.status, "via": delivery.via},
            )
        )
        metrics.add_metric(name="AlertsRedelivered", unit=MetricUnit.Count, value=1)
        return delivery.channel
