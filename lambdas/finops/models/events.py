"""Turning an incoming Lambda event into alerts, at the edge, with errors that name the bad field.

Accepted: an SNS event (Cost Anomaly Detection JSON or AWS Budgets text in ``Message``) and the EventBridge
``Anomaly Detected`` event from ``aws.ce``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SnsModel
from pydantic import ValidationError

from finops.models.alerts import Alert, CostAnomaly
from finops.models.problems import key_path
from finops.rules.budget_text import NotABudgetAlert, looks_like_budget_alert, parse_budget_alert


class InvalidEvent(ValueError):
    """The event cannot become an alert. The message names the field; the handler raises it so the event is
    retried and then kept by the function's dead-letter queue."""


def _field_errors(exc: ValidationError, prefix: str) -> str:
    parts = []
    for error in exc.errors():
        where = key_path([p for p in (prefix, *error["loc"]) if p != ""])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:80] + ("…" if len(flat) > 80 else "")


def alert_from_message(message: str, *, message_id: str, where: str) -> Alert:
    """One SNS ``Message``: anomaly JSON or budget text."""
    try:
        data: Any = json.loads(message)
    except json.JSONDecodeError:
        if looks_like_budget_alert(message):
            try:
                return parse_budget_alert(message, message_id=message_id)
            except NotABudgetAlert as exc:
                raise InvalidEvent(f"{where}: {exc}") from None
        raise InvalidEvent(
            f"{where}: neither Cost Anomaly JSON nor an AWS Budgets notification (starts {_snippet(message)!r})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"{where}: expected a JSON object, got {type(data).__name__}")
    return anomaly_from(data, where=where)


def anomaly_from(data: dict[str, Any], *, where: str) -> CostAnomaly:
    if not data.get("anomalyId"):
        raise InvalidEvent(f"{where}.anomalyId: required field missing or empty")
    try:
        return CostAnomaly.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_field_errors(exc, where)) from None


def alerts_from_event(event: object) -> tuple[list[Alert], datetime]:
    """The alerts in ``event`` and the event's own time (the run's clock)."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"(event): expected a JSON object, got {type(event).__name__}")
    if "Records" in event:
        try:
            sns = parse(event=event, model=SnsModel)
        except ValidationError as exc:
            raise InvalidEvent(_field_errors(exc, "")) from None
        if not sns.Records:
            raise InvalidEvent("Records: empty list, nothing to deliver")
        alerts = [
            alert_from_message(str(r.Sns.Message), message_id=r.Sns.MessageId, where=f"Records[{i}].Sns.Message")
            for i, r in enumerate(sns.Records)
        ]
        return alerts, max(r.Sns.Timestamp for r in sns.Records)
    if event.get("source") == "aws.ce":
        try:
            bridge = parse(event=event, model=EventBridgeModel)
        except ValidationError as exc:
            raise InvalidEvent(_field_errors(exc, "")) from None
        if not isinstance(bridge.detail, dict):
            raise InvalidEvent("detail: expected the anomaly object")
        return [anomaly_from(bridge.detail, where="detail")], bridge.time
    raise InvalidEvent(
        "(event): not an SNS event (no 'Records') and not an aws.ce EventBridge event "
        f"(source={event.get('source')!r}, detail-type={event.get('detail-type')!r})"
    )
