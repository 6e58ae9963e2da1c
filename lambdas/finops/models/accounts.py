"""What we know of an account: its id and, where Organizations told us, its name and tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AccountRef:
    id: str | None
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    lookup_error: str | None = None  # why Organizations could not tell us the name and tags

    @property
    def label(self) -> str:
        if self.id and self.name:
            return f"{self.name} ({self.id})"
        return self.id or self.name or "unknown account"
