"""What every run returns: what was acted on, skipped and failed, each with resource, action and reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["acted", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Item:
    resource: str
    action: str
    reason: str
    account: str | None = None
    region: str | None = None
    name: str | None = None  # the resource's name, where it has one beside its id


@dataclass(slots=True)
class RunSummary:
    run_id: str
    capability: str
    mode: str
    acted: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)
    failed: list[Item] = field(default_factory=list)

    def add(self, outcome: Outcome, item: Item) -> None:
        getattr(self, outcome).append(item)

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {"acted": len(self.acted), "skipped": len(self.skipped), "failed": len(self.failed)}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "capability": self.capability,
            "mode": self.mode,
            "counts": self.counts(),
            "acted": [asdict(i) for i in self.acted],
            "skipped": [asdict(i) for i in self.skipped],
            "failed": [asdict(i) for i in self.failed],
        }


class RunFailed(RuntimeError):
    """Raised by a handler after a run in which any item failed, so retries, alarms and DLQs see it."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        reasons = "; ".join(f"{i.resource}: {i.reason}" for i in summary.failed[:5])
        super().__init__(f"{summary.capability} run {summary.run_id}: {len(summary.failed)} item(s) failed: {reasons}")
