"""The engine's own state in the hub: when each capability's last run completed (its catch-up point)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Protocol


class RunState(Protocol):
    def last_completed(self, capability: str) -> datetime | None: ...

    def complete(self, capability: str, at: datetime, run_id: str) -> None: ...


class DynamoRunState:
    """One item per capability in the state table: ``pk = run#<capability>``."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._ddb = dynamodb
        self._table = table_name

    def last_completed(self, capability: str) -> datetime | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": f"run#{capability}"}}, ConsistentRead=True)
        value = item.get("Item", {}).get("completed_at", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def complete(self, capability: str, at: datetime, run_id: str) -> None:
        # Never move the catch-up point backwards (an old execution finishing late).
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.put_item(
                TableName=self._table,
                Item={"pk": {"S": f"run#{capability}"}, "completed_at": {"S": at.isoformat()}, "run_id": {"S": run_id}},
                ConditionExpression="attribute_not_exists(completed_at) OR completed_at < :at",
                ExpressionAttributeValues={":at": {"S": at.isoformat()}},
            )


class MemoryRunState:
    """For `make run` previews and tests: nothing outlives the process."""

    def __init__(self, completed: dict[str, datetime] | None = None) -> None:
        self.completed = dict(completed or {})

    def last_completed(self, capability: str) -> datetime | None:
        return self.completed.get(capability)

    def complete(self, capability: str, at: datetime, run_id: str) -> None:
        if capability not in self.completed or self.completed[capability] < at:
            self.completed[capability] = at
