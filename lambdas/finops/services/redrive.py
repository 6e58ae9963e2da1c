"""Re-send Slack messages parked on the retry queue, in order, at most once each, marked as late.

A refusal leaves the message on the queue. When Slack is down or rejects the token, the rest of the batch is not
tried (it would only wait out the same timeouts); a refusal of one message or one channel blocks nothing else.
Nothing is started when the invocation is running out of time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.notify.slack import DeliveryError, Parked, SlackSender
from finops.services.audit import AuditRecord, AuditTrail, record_after_the_fact
from finops.services.once import Once, Result

logger = Logger(child=True)
metrics = Metrics()
MIN_TIME_LEFT_MS = 20_000  # a post that retries can take ~16 s; do not start one we cannot finish


def how_late(parked_at: datetime, now: datetime) -> str:
    """``47 minutes``, ``3 hours 5 minutes``, ``2 days 4 hours``: how long a message waited, for the banner."""
    minutes = max(0, round((now - parked_at).total_seconds() / 60))
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} hours" + (f" {rest} minute{'s' if rest != 1 else ''}" if rest else "")
    days, hours = divmod(hours, 24)
    return f"{days} days" + (f" {hours} hour{'s' if hours != 1 else ''}" if hours else "")


class Redrive:
    def __init__(
        self,
        *,
        sender: SlackSender,
        audit: AuditTrail,
        once: Once,
        run_id: str,
        actor: str,
        clock: Callable[[], datetime],
        time_left_ms: Callable[[], int],
    ) -> None:
        self._sender = sender
        self._audit = audit
        self._once = once
        self._run_id = run_id
        self._actor = actor
        self._clock = clock
        self._time_left_ms = time_left_ms
        self.blocked: str | None = None

    def __call__(self, body: str) -> str:
        """Deliver one parked message; raises DeliveryError so the queue keeps it for a later try."""
        parked = Parked.from_body(body)
        if self.blocked is not None:
            raise DeliveryError(f"not tried in this batch: Slack refused an earlier message ({self.blocked})")
        if self._time_left_ms() < MIN_TIME_LEFT_MS:
            raise DeliveryError("not tried: too little time left in this invocation")
        try:
            result = self._once(lambda _: self._send(parked), {"key": f"redrive:{parked.key}"})
        except DeliveryError as exc:
            if exc.scope in ("transient", "credentials"):  # Slack-wide: the next message would fail the same way
                self.blocked = exc.reason
            metrics.add_metric(name="AlertsStillUndeliverable", unit=MetricUnit.Count, value=1)
            raise
        return str(result["channel"])

    def _send(self, parked: Parked) -> Result:
        held_since = parked.parked_at[:16].replace("T", " ")
        now = self._clock()
        late = parked.message.with_banner(
            f"Delivered {how_late(datetime.fromisoformat(parked.parked_at), now)} late: held since {held_since} UTC "
            f"because {parked.reason}"
        )
        delivery = self._sender.send(late)
        if delivery.intended:
            metrics.add_metric(name="AlertsRedirected", unit=MetricUnit.Count, value=1)
        record_after_the_fact(
            self._audit,
            AuditRecord(
                run_id=self._run_id,
                actor=self._actor,
                action="slack.post",
                target=f"slack:{delivery.channel}",
                reason=f"redelivered {parked.key} parked at {parked.parked_at} ({parked.reason})"
                + (f"; {delivery.reason}" if delivery.reason else ""),
                at=now,
                mode="enforce",
                after={"status": delivery.status, "via": delivery.via, "intended": delivery.intended},
            ),
        )
        metrics.add_metric(name="AlertsRedelivered", unit=MetricUnit.Count, value=1)
        logger.info("parked alert delivered", key=parked.key, channel=delivery.channel)
        return {"channel": delivery.channel, "run_id": self._run_id}
