"""The tags the scheduler writes on what it stops, and their values: pure, so the planner, the services that write
them and the tests share one definition.

- ``finops:scheduler-sizes`` on an Auto Scaling group it stopped: the sizes to restore, ``min=1,desired=2,max=4``.
- ``finops:scheduler-stopped-at`` on an RDS instance or Aurora cluster it stopped: the run's clock,
  ``2026-11-27T18:00:00Z``. RDS starts a stopped database by itself after 7 days; the planner tells that restart
  from a person's start by this tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SIZES_TAG = "finops:scheduler-sizes"
STOPPED_AT_TAG = "finops:scheduler-stopped-at"

_SIZE_KEYS = ("min", "desired", "max")


@dataclass(frozen=True, slots=True)
class GroupSizes:
    min: int
    desired: int
    max: int

    @property
    def zero(self) -> bool:
        return self.min == self.desired == self.max == 0

    def to_tag(self) -> str:
        return f"min={self.min},desired={self.desired},max={self.max}"

    def to_json(self) -> dict[str, int]:
        return {"min": self.min, "desired": self.desired, "max": self.max}

    @classmethod
    def from_tag(cls, value: str) -> GroupSizes:
        """Parse ``min=1,desired=2,max=4`` (any order, spaces allowed); ``ValueError`` saying what is wrong."""
        sizes: dict[str, int] = {}
        for part in value.split(","):
            key, sep, number = (p.strip() for p in part.partition("="))
            if not sep or key not in _SIZE_KEYS or key in sizes:
                raise ValueError(f"expected min=<n>,desired=<n>,max=<n>, got {value!r}")
            if not number.isdigit():
                raise ValueError(f"{key} must be a whole number >= 0, got {number!r}")
            sizes[key] = int(number)
        missing = [k for k in _SIZE_KEYS if k not in sizes]
        if missing:
            raise ValueError(f"missing {', '.join(missing)} in {value!r}")
        parsed = cls(sizes["min"], sizes["desired"], sizes["max"])
        if not parsed.min <= parsed.desired <= parsed.max:
            raise ValueError(f"needs min <= desired <= max, got {value!r}")
        return parsed


def stopped_at_value(now: datetime) -> str:
    """The run's clock as the stopped-at tag value, in UTC to the second: ``2026-11-27T18:00:00Z``."""
    if now.tzinfo is None:
        raise ValueError("the run's clock must be timezone-aware")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
