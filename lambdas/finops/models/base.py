"""What every config model shares: frozen, unknown keys rejected, the report/enforce switch, and account ids."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from finops.models.problems import ACCOUNT_ID_WORDS, number_advice

__all__ = ["AccountId", "Mode", "StrictModel", "account_id"]

_TWELVE_DIGITS = re.compile(r"\d{12}")


class StrictModel(BaseModel):
    """Frozen, and a key the model does not know is an error (a typo is caught, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Mode(StrEnum):
    """What a capability may do. ``report`` computes and reports the plan; ``enforce`` also acts on it."""

    REPORT = "report"
    ENFORCE = "enforce"


def account_id(value: object) -> object:
    """A 12-digit account id as text. A number (an unquoted id YAML read as one) is refused with what YAML made of
    it; :mod:`finops.models.problems` words it again with what the file says, when it knows."""
    if isinstance(value, str) and _TWELVE_DIGITS.fullmatch(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "account_id_number", "{advice}", {"advice": number_advice(value, None, account_id=True)}
        )
    raise PydanticCustomError("account_id", "expected {words}", {"words": ACCOUNT_ID_WORDS})


AccountId = Annotated[str, BeforeValidator(account_id), Field(description=ACCOUNT_ID_WORDS)]
