"""`make schedule`: what one schedule does between two instants, and its state at given instants, as JSON.

Pure over the config and the rules in :mod:`finops.rules.schedule` (the same code the scheduler's ticks run), so
the preview shows exactly what the scheduler would do:

    {"schedule": "office-hours", "timezone": "Europe/Berlin",
     "transitions": [{"at": "2026-03-30T05:00:00Z", "action": "start", "local": "2026-03-30T07:00:00+02:00"}, ...],
     "states": [{"at": "2026-03-30T06:00:00Z", "state": "running"}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.models.scheduler_config import SchedulerConfig
from finops.rules.schedule import desired_state, transitions

EXAMPLE = "2026-03-29T05:00:00Z"


class PreviewInputError(ValueError):
    """An argument of the preview is unusable; the message names the flag and the value."""


def parse_instant(text: str, flag: str) -> datetime:
    """An ISO 8601 instant with ``Z``, with an offset, or naive (read as UTC); a date alone is its UTC midnight."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PreviewInputError(f"{flag}: cannot read {text!r} as an ISO 8601 instant, e.g. {EXAMPLE}") from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def split_instants(values: Iterable[str], flag: str) -> list[datetime]:
    """Each value may hold several instants separated by commas; empty parts are ignored."""
    return [parse_instant(part, flag) for value in values for part in value.split(",") if part.strip()]


def read_instants_file(path: str) -> list[str]:
    """A JSON list of instants, or one instant per line (blank lines and ``#`` comments ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PreviewInputError(f"--at-file: cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [line for line in (raw.split("#", 1)[0].strip() for raw in text.splitlines()) if line]
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise PreviewInputError(f"--at-file: {path} holds JSON but not a list of instants (strings)")
    return data


def utc_text(instant: datetime) -> str:
    """``2026-03-29T05:00:00Z``."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def schedule_preview(
    config: SchedulerConfig, name: str, start: datetime, end: datetime, at: Sequence[datetime] = ()
) -> dict[str, Any]:
    """Every transition of schedule ``name`` in [start, end), and its state at each of ``at``, in the order given."""
    schedule = config.schedules.get(name)
    if schedule is None:
        known = ", ".join(sorted(config.schedules)) or "none (capabilities.scheduler.schedules is empty)"
        raise PreviewInputError(f"unknown schedule {name!r}; known: {known}")
    if start >= end:
        raise PreviewInputError(f"--from ({utc_text(start)}) must be before --to ({utc_text(end)})")
    return {
        "schedule": name,
        "timezone": schedule.timezone,
        "transitions": [
            {"at": utc_text(t.at), "action": t.action, "local": t.local.isoformat()}
            for t in transitions(schedule, start, end)
        ],
        "states": [{"at": utc_text(instant), "state": desired_state(schedule, instant)} for instant in at],
    }
