"""Turning pydantic validation errors into lines a person can fix in one go.

Each problem reads ``finops.yaml:12: key.path[2].field: what is wrong``: the file's line where the YAML parser gives
it (:func:`read_document` keeps where every key was written), the key path written one way everywhere
(:func:`key_path`: ``.key`` for mapping keys, ``[i]`` for list items), and what to do. A misspelled key is one problem
with a suggestion, not an unknown key plus a missing one; a value YAML read as a number or a boolean says what YAML
read and how to quote it.

Shared by the config (``finops.yaml``), the simulator's estate file and the engine's run requests, so all speak the
same way. A model-level check reports its own parts by raising :class:`PathProblems` (or a ValueError whose message is
``"sub.path: what; other.path: what"``); their paths are joined to the model's own.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

Loc = tuple[int | str, ...]

ACCOUNT_ID_WORDS = "a 12-digit account id, quoted, e.g. '012345678901'"
# Patterns whose regex means nothing to a reader, in words (a field's description is used when the model is known).
_PATTERN_WORDS = {r"^\d{12}$": ACCOUNT_ID_WORDS}
_NOT_KEYS = ("function-", "constrained-")  # pydantic's names for validators in a location, not keys of the file


class ProblemsError(ValueError):
    """A file is unreadable or invalid; ``str()`` lists every problem with its line and key path."""

    what = "file"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source} is not a valid {self.what}:\n" + "\n".join(f"  - {p}" for p in problems))


class PathProblems(ValueError):
    """Raised by a model validator for problems in its own parts: ``[(("periods", 1), "overlaps ..."), ...]``.

    Each path is relative to the model; :func:`problems` joins it to the model's location, so a problem names the
    key path (and line) of the part that is wrong, not just the model's.
    """

    def __init__(self, found: Iterable[tuple[Loc, str]]) -> None:
        self.found = [(tuple(path), message) for path, message in found]
        super().__init__("; ".join(f"{key_path(path)}: {message}" if path else message for path, message in self.found))


# -- where each key was written ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a key (or a list item) was written: 1-based line and column, and the value's (and the key's) text if a
    plain scalar."""

    line: int
    column: int
    text: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A file's data and, for YAML, where each key path was written (``marks``)."""

    data: object
    marks: Mapping[Loc, Mark] = field(default_factory=dict)


def read_document(path: str | Path, error: type[ProblemsError]) -> Document:
    """A YAML (or, by its suffix, JSON) file's data and marks; unreadable or unparsable files raise ``error``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        return Document(json.loads(text)) if path.suffix == ".json" else parse_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise error(str(path), [f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"]) from None


def read_data(path: str | Path, error: type[ProblemsError]) -> object:
    """A YAML (or JSON) file's data alone (see :func:`read_document`)."""
    return read_document(path, error).data


def parse_yaml(text: str) -> Document:
    """``yaml.safe_load(text)`` and, from the same parse, the line, column and text of every key path."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None)
        data = loader.construct_document(node)  # also merges ``<<`` keys into the node tree
        marks: dict[Loc, Mark] = {}
        _mark(loader, node, (), marks, set())
        return Document(data, marks)
    finally:
        loader.dispose()


def _mark(loader: yaml.SafeLoader, node: yaml.Node, path: Loc, marks: dict[Loc, Mark], seen: set[int]) -> None:
    if id(node) in seen:  # an alias of a node it is inside of
        return
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            if isinstance(key, str | int) and not isinstance(key, bool):
                at = (*path, key)
                marks.setdefault(at, _at(key_node, value_node))
                _mark(loader, value_node, at, marks, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            marks.setdefault((*path, index), _at(item, item))
            _mark(loader, item, (*path, index), marks, seen)


def _at(where: yaml.Node, value: yaml.Node) -> Mark:
    def plain(node: yaml.Node) -> str | None:
        return str(node.value) if isinstance(node, yaml.ScalarNode) and node.style is None else None

    return Mark(where.start_mark.line + 1, where.start_mark.column + 1, plain(value), plain(where))


def mark_of(marks: Mapping[Loc, Mark], loc: Loc) -> Mark | None:
    """The mark of ``loc``, or of its closest written parent (a missing key is reported where its section is)."""
    for end in range(len(loc), 0, -1):
        if (found := marks.get(loc[:end])) is not None:
            return found
    return None


# -- key paths ---------------------------------------------------------------------------------------------------------


def key_path(loc: Sequence[int | str]) -> str:
    """``capabilities.scheduler.schedules.office-hours.periods[0].start``: the one way key paths are written.

    A list index is ``[i]``; a mapping key is ``.key`` (``["a key"]`` when it holds a dot, a bracket or a space, so
    the path still reads as one); pydantic's validator names in a location are left out.
    """
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, str) and (part.startswith(_NOT_KEYS) or part == "[key]"):
            continue
        dict_key = i + 1 < len(loc) and loc[i + 1] == "[key]"  # an int key of a mapping, not a list index
        if isinstance(part, int) and not dict_key:
            path += f"[{part}]"
        elif not str(part) or re.search(r"[.\[\]\s]", str(part)):
            path += f"[{json.dumps(str(part), ensure_ascii=False)}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


format_location = key_path  # the name it had before


def _clean(loc: Loc) -> Loc:
    return tuple(p for p in loc if not (isinstance(p, str) and (p.startswith(_NOT_KEYS) or p == "[key]")))


# -- what YAML read ----------------------------------------------------------------------------------------------------


def number_advice(value: object, text: str | None, *, account_id: bool = False) -> str:
    """What YAML made of an unquoted scalar, and how to quote it, e.g. for ``management_account_id: 12345678901``:
    "YAML read this as the number 12345678901 (unquoted, so the leading 0 was lost); quote it: '012345678901'".

    ``text`` is what the file says (None when unknown, as in JSON).
    """
    if isinstance(value, bool):
        written = text or str(value).lower()
        return f"YAML read {written} as the boolean {str(value).lower()} (unquoted); quote it: '{written}'"
    written = text if text is not None else str(value)
    digits = written.lstrip("+-").replace("_", "")
    if isinstance(value, int) and len(digits) > 1 and digits.startswith("0") and digits.isdigit():
        octal = f"YAML read {written} as the octal number {value} (unquoted, a leading 0 means octal)"
        return f"{octal}; quote it: '{written}'"
    read = "this" if written == str(value) else written
    if account_id and isinstance(value, int) and value >= 0:
        number = str(value)
        if len(digits if text is not None else number) < 12:
            return (
                f"YAML read {read} as the number {value} (unquoted, so the leading 0 was lost); "
                f"quote it: '{number.zfill(12)}'"
            )
        if len(number) > 12:
            return f"expected {ACCOUNT_ID_WORDS}; YAML read {read} as the number {value}, {len(number)} digits long"
    return f"YAML read {read} as the number {value} (unquoted); quote it: '{written}'"


# -- the model a location is in ----------------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, list[FieldInfo]]:
    """Strip ``Annotated`` and ``X | None``; collect the FieldInfo of each Annotated layer."""
    infos: list[FieldInfo] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *metadata = get_args(annotation)
            infos += [m for m in metadata if isinstance(m, FieldInfo)]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            annotation = (models or members)[0]
        else:
            return annotation, infos


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(model: type[BaseModel], loc: Loc) -> tuple[Any, list[FieldInfo]] | None:
    """The annotation at ``loc`` in ``model`` and what describes it (field infos, innermost last), or None."""
    annotation: Any = model
    infos: list[FieldInfo] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and (part.startswith(_NOT_KEYS) or part == "[key]"):
            continue
        annotation, more = _unwrap(annotation)
        infos += more
        if _is_model(annotation):
            found = annotation.model_fields.get(part) if isinstance(part, str) else None
            if found is None:
                return None
            annotation, infos = found.annotation, [found]
            continue
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (dict, Mapping) and len(args) == 2:
            annotation = args[0] if i + 1 < len(loc) and loc[i + 1] == "[key]" else args[1]
        elif origin in (tuple, list, set, frozenset) and args:
            annotation = args[0]
        else:
            return None
        infos = []
    annotation, more = _unwrap(annotation)
    return annotation, infos + more


def _description(model: type[BaseModel] | None, loc: Loc) -> str | None:
    found = _walk(model, loc) if model is not None else None
    described = [info.description for info in (found[1] if found else []) if info.description]
    return described[-1].split(";")[0] if described else None


def _known_keys(model: type[BaseModel] | None, parent: Loc) -> list[str] | None:
    found = _walk(model, parent) if model is not None else None
    if found is None or not _is_model(found[0]):
        return None
    return [info.alias or name for name, info in found[0].model_fields.items()]


def _value_at(data: object, loc: Loc) -> object:
    for part in _clean(loc):
        in_list = isinstance(data, list | tuple) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or (isinstance(data, Mapping) and part in data)):
            return None
        data = data[part]  # type: ignore[index]
    return data


# -- problems ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing to fix: where (key path, and line and column when known) and what."""

    path: Loc
    message: str
    line: int | None = None
    column: int | None = None

    def text(self, source: str | None = None) -> str:
        where = f"{source}:{self.line}: " if source and self.line is not None else ""
        return f"{where}{key_path(self.path)}: {self.message}"


def problems(
    exc: ValidationError,
    *,
    unknown_key_hint: str,
    model: type[BaseModel] | None = None,
    data: object = None,
    marks: Mapping[Loc, Mark] | None = None,
    source: str | None = None,
) -> list[str]:
    """Each problem of ``exc`` as ``source:line: key.path: what`` (the line when ``marks`` know it).

    With the ``model`` validated, a misspelled key gets the closest known key as a suggestion, and the "missing"
    problem of that key is folded into it; with the ``data`` validated, a suggested key that is already set says so.
    """
    return [
        p.text(source)
        for p in find_problems(exc, unknown_key_hint=unknown_key_hint, model=model, data=data, marks=marks)
    ]


def find_problems(
    exc: ValidationError,
    *,
    unknown_key_hint: str,
    model: type[BaseModel] | None = None,
    data: object = None,
    marks: Mapping[Loc, Mark] | None = None,
) -> list[Problem]:
    """:func:`problems` as :class:`Problem` values, in the file's order where lines are known."""
    marks = marks or {}
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    folded: set[Loc] = set()  # the "missing" keys a misspelling stands for
    suggestions: dict[Loc, str] = {}
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = _clean(error["loc"])
            known = _known_keys(model, loc[:-1])
            if known and isinstance(loc[-1], str):
                by_fold = {k.lower(): k for k in known}
                close = difflib.get_close_matches(loc[-1].lower(), list(by_fold), n=1)
                if close:
                    suggestions[loc] = by_fold[close[0]]
                    folded.add((*loc[:-1], by_fold[close[0]]))
    found: list[Problem] = []
    for error in errors:
        loc = _clean(error["loc"])
        if error["type"] == "missing" and loc in folded:
            continue
        shown = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith(_NOT_KEYS)))  # keeps [key]
        said = _messages(
            error, loc, model=model, data=data, marks=marks, suggestions=suggestions, hint=unknown_key_hint
        )
        for sub, message in said:
            where = (*shown, *sub)
            mark = mark_of(marks, _clean(where))
            found.append(Problem(where, message, mark.line if mark else None, mark.column if mark else None))
    order = {id(p): i for i, p in enumerate(found)}
    return sorted(found, key=lambda p: (p.line is None, p.line or 0, order[id(p)]))


def _messages(
    error: dict[str, Any],
    loc: Loc,
    *,
    model: type[BaseModel] | None,
    data: object,
    marks: Mapping[Loc, Mark],
    suggestions: Mapping[Loc, str],
    hint: str,
) -> list[tuple[Loc, str]]:
    """(path relative to ``loc``, message) for one pydantic error: more than one when a model check lists parts."""
    if error["type"] == "extra_forbidden":
        return [((), _unknown_key(loc, model=model, data=data, suggestion=suggestions.get(loc), hint=hint))]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, PathProblems):
        return list(cause.found)
    if error["type"] == "value_error":
        parts = []
        for part in describe(error, unknown_key_hint="").split("; "):
            head, sep, rest = part.partition(": ")
            if sep and head and " " not in head:
                parts.append((_parse_path(head), rest))
            else:
                parts.append(((), part))
        return parts
    mark = marks.get(loc)
    text = (mark.key if error["loc"][-1] == "[key]" else mark.text) if mark else None
    return [((), describe(error, unknown_key_hint="", text=text, model=model, loc=loc))]


def _parse_path(text: str) -> Loc:
    """``periods[1].start`` -> ("periods", 1, "start"): a sub-path a model check wrote in its message."""
    parts: list[int | str] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _unknown_key(loc: Loc, *, model: type[BaseModel] | None, data: object, suggestion: str | None, hint: str) -> str:
    if suggestion is not None:
        parent = _value_at(data, loc[:-1])
        if isinstance(parent, Mapping) and suggestion in parent:
            return f"unknown key; `{suggestion}` is set as well: remove this one, or merge the two"
        return f"unknown key; did you mean `{suggestion}`?"
    known = _known_keys(model, loc[:-1])
    if known:
        return f"unknown key; the keys here are: {', '.join(known)}"
    return f"unknown key ({hint})" if hint else "unknown key"


def describe(
    error: dict[str, Any],
    *,
    unknown_key_hint: str,
    text: str | None = None,
    model: type[BaseModel] | None = None,
    loc: Loc = (),
) -> str:
    """One pydantic error in words; ``text`` is what the file says at its location (a plain YAML scalar)."""
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key ({unknown_key_hint})" if unknown_key_hint else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "timezone_aware":
        return f"timestamps need a timezone, e.g. 2026-10-01T09:00:00Z (got {given!s})"
    if kind == "account_id":
        hint = ""
        if isinstance(given, str) and len(digits := re.sub(r"[\s-]", "", given)) == 12 and digits.isdigit():
            hint = f"; did you mean '{digits}'?"
        return f"expected {ACCOUNT_ID_WORDS} (got {given!r}){hint}"
    if kind == "account_id_number":
        return number_advice(given, text, account_id=True)
    if kind == "string_type" and isinstance(given, int | float):  # bool is an int
        return number_advice(given, text)
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        words = _PATTERN_WORDS.get(pattern) or _description(model, loc)
        if words:
            return f"expected {words} (got {given!r})"
        return f"{given!r} does not match the expected form {pattern}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("literal_error", "enum") and isinstance(given, str):
        choices = re.findall(r"'([^']*)'", str(error["ctx"].get("expected", "")))
        close = difflib.get_close_matches(given.strip().lower(), choices, n=1)
        if close:
            return f"{message} (got {given!r}); did you mean '{close[0]}'?"
    if given is not None and not isinstance(given, dict | list | tuple):
        return f"{message} (got {given!r})"
    return message
