"""Turning pydantic validation errors into lines a person can act on: ``key.path[2].field: what is wrong``.

Shared by the config (``finops.yaml``) and the simulator's estate file, so both speak the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ProblemsError(ValueError):
    """A file is unreadable or invalid; ``str()`` lists every problem with its key path."""

    what = "file"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source} is not a valid {self.what}:\n" + "\n".join(f"  - {p}" for p in problems))


def read_data(path: str | Path, error: type[ProblemsError]) -> object:
    """A YAML (or, by its suffix, JSON) file's data; unreadable or unparsable files raise ``error`` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise error(str(path), [f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"]) from None


def format_location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "constrained-")):
            continue  # pydantic's names for validators, not keys of the file
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def describe(error: dict[str, Any], *, unknown_key_hint: str) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key ({unknown_key_hint})"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "timezone_aware":
        return f"timestamps need a timezone, e.g. 2026-10-01T09:00:00Z (got {error['input']!s})"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match the expected form {error['ctx']['pattern']}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], dict | list | tuple):
        return f"{message} (got {error['input']!r})"
    return message


def problems(exc: ValidationError, *, unknown_key_hint: str) -> list[str]:
    found = []
    for error in exc.errors():
        location = format_location(error["loc"])
        message = describe(dict(error), unknown_key_hint=unknown_key_hint)
        # A model-level check may report "sub.path: what" for its own parts; join the paths so each reads whole.
        for part in message.split("; ") if error["type"] == "value_error" else [message]:
            head, sep, rest = part.partition(": ")
            if sep and " " not in head and location != "(top level)":
                found.append(f"{location}.{head}: {rest}")
            elif sep and " " not in head:
                found.append(f"{head}: {rest}")
            else:
                found.append(f"{location}: {part}")
    return found
