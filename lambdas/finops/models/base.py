"""What every config model shares: frozen, unknown keys rejected, and the report/enforce switch."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, and a key the model does not know is an error (a typo is caught, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Mode(StrEnum):
    """What a capability may do. ``report`` computes and reports the plan; ``enforce`` also acts on it."""

    REPORT = "report"
    ENFORCE = "enforce"
