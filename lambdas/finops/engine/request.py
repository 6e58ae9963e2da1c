"""What starts a run: the schedule's input, an EventBridge scheduled event, or a person re-running failed targets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from finops.engine.model import Target
from finops.models.events import InvalidEvent
from finops.models.problems import problems


class _TargetRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class RunRequest(BaseModel):
    """``{"capability": "scheduler", "time": "<ISO>"}`` as EventBridge Scheduler sends it (``time`` from
    ``<aws.scheduler.scheduled-time>``), or an EventBridge "Scheduled Event" (its ``time``). Optional: ``kind`` (e.g.
    ``reconcile``), ``targets`` (re-run only these, e.g. a previous run's ``failed_targets``; the catch-up point is
    then left alone), ``since`` (act on what changed after this instant instead of the last completed run),
    ``digest`` (post the capability's periodic digest in this run whatever the day: tag compliance's weekly one)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    capability: str | None = None
    time: AwareDatetime
    kind: str | None = None
    targets: tuple[_TargetRef, ...] | None = None
    since: AwareDatetime | None = None
    digest: bool = False

    @property
    def now(self) -> datetime:
        return self.time.astimezone(UTC)

    @property
    def rerun(self) -> bool:
        return self.targets is not None

    def target_list(self) -> list[Target] | None:
        if self.targets is None:
            return None
        return sorted({Target(t.account, t.region) for t in self.targets})


def parse_run_request(event: Mapping[str, Any]) -> RunRequest:
    """Raise :class:`InvalidEvent` naming the field that is wrong (e.g. ``time: Field required``)."""
    try:
        return RunRequest.model_validate(dict(event))
    except ValidationError as exc:
        raise InvalidEvent("not a run request: " + "; ".join(problems(exc, unknown_key_hint=""))) from None
