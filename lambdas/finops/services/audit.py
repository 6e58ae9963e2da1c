"""The audit trail: one DynamoDB record per mutation (and per alert delivered), with its before-state.

Keyed by the thing acted on (``pk``) and the time it was written + run + a unique suffix (``sk``), so "what
happened to vol-0abc?" is one Query. ``at`` is the run's clock (the event's time); ``recorded_at`` is when the trail
wrote the record, which differs when Lambda retries an event hours later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    run_id: str
    actor: str
    action: str
    target: str
    reason: str
    at: datetime
    mode: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    account: str | None = None
    region: str | None = None
    id: str | None = None  # an engine action's record id (``make restore RECORD=<id>``); else one is made

    def to_item(self, recorded_at: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id or f"{self.run_id}/{self.target}#{uuid.uuid4().hex[:8]}",
            "pk": self.target,
            "sk": f"{recorded_at.isoformat()}#{self.run_id}#{uuid.uuid4().hex[:8]}",
            "recorded_at": recorded_at.isoformat(),
            "run_id": self.run_id,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "mode": self.mode,
            "before": json.dumps(self.before, sort_keys=True, default=str),
            "after": json.dumps(self.after, sort_keys=True, default=str),
        }
        item.update({k: v for k, v in (("account", self.account), ("region", self.region)) if v})
        return item


# IAM for the trail is a CDK grant on the table (StateTables.grant_audit_append: PutItem only), not PERMISSIONS.
def record_id(run_id: str, account: str, region: str, resource: str) -> str:
    """The record id of one engine action: unique, since a plan has one action per resource. The restore takes it."""
    return f"{run_id}/{account}/{region}/{resource}"


def parse_record_id(value: str) -> tuple[str, str, str, str]:
    """(run id, account, region, resource) of an engine action's record id; ValueError saying what is wrong."""
    parts = value.strip().rsplit("/", 3)
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"{value!r} is not an audit record id: expected <run id>/<account>/<region>/<resource id>")
    run, account, region, resource = parts
    if not (account.isdigit() and len(account) == 12):
        raise ValueError(f"{value!r}: {account!r} is not a 12-digit account id")
    return run, account, region, resource


class AuditTrail:
    def __init__(self, dynamodb: Any, table_name: str, *, clock: Callable[[], datetime]) -> None:
        self._ddb = dynamodb
        self._table = table_name
        self._clock = clock

    def record(self, entry: AuditRecord) -> None:
        item = entry.to_item(self._clock())
        self._ddb.put_item(
            TableName=self._table,
            Item={k: {"S": str(v)} for k, v in item.items()},
            ConditionExpression="attribute_not_exists(pk)",
        )


def record_after_the_fact(trail: AuditTrail | MemoryAuditTrail, entry: AuditRecord) -> bool:
    """Record something that has already happened and cannot be undone (a Slack post).

    A failed write is logged and counted (metric ``AuditWriteFailed``) instead of raised: raising would make Lambda
    retry and post the alert a second time. Mutations of resources record *before* acting, with ``record``.
    """
    try:
        trail.record(entry)
    except (ClientError, BotoCoreError) as exc:
        logger.exception("audit record not written", target=entry.target, action=entry.action, error=str(exc))
        metrics.add_metric(name="AuditWriteFailed", unit=MetricUnit.Count, value=1)
        return False
    return True


class MemoryAuditTrail:
    """The same records, kept in memory: for previews against real accounts, where there is no audit table yet."""

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self.items: list[dict[str, Any]] = []
        self._clock = clock

    def record(self, entry: AuditRecord) -> None:
        self.items.append(entry.to_item(self._clock()) | {"before": entry.before, "after": entry.after})


def read_trail(dynamodb: Any, table_name: str) -> list[dict[str, Any]]:
    """Every record, oldest first (for the demo, `make invoke` and tests; production reads by Query)."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name):
        items.extend({k: v["S"] for k, v in item.items()} for item in page["Items"])
    for item in items:
        item["before"] = json.loads(item["before"])
        item["after"] = json.loads(item["after"])
    return sorted(items, key=lambda i: (i["at"], i["recorded_at"]))
