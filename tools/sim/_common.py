"""What the resource modules (``ec2``, ``rds``, ``autoscaling``) share: tags in the API's shapes, paging, and the
ids and dates a region's seed collects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from tools.sim._moto_internals import Dated
from tools.sim.model import is_allowed_aws_key

_T = TypeVar("_T")


@dataclass
class Seeded:
    """What seeding one account and region made: ids by (kind, name), and the time each resource should show."""

    ids: dict[tuple[Dated, str], str] = field(default_factory=dict)
    dates: list[tuple[Dated, str, datetime]] = field(default_factory=list)

    def add(self, kind: Dated, name: str, resource_id: str, when: datetime) -> None:
        self.ids[(kind, name)] = resource_id
        self.dates.append((kind, resource_id, when))


def tag_list(name: str | None, tags: Mapping[str, str]) -> list[dict[str, str]]:
    named = {"Name": name} if name is not None else {}
    return [{"Key": k, "Value": v} for k, v in {**named, **tags}.items()]


def tag_spec(resource_type: str, name: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(name, tags)}]


def tags_of(listed: list[dict[str, Any]] | None, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """A describe call's ``[{"Key", "Value"}]`` as a mapping, without AWS's own ``aws:`` tags but those in ``keep``
    (keys, or prefixes ending in ``:``; a kind's ``AWS_TAG_KEYS``)."""
    return {
        t["Key"]: t["Value"]
        for t in listed or []
        if not t["Key"].lower().startswith("aws:") or is_allowed_aws_key(t["Key"], keep)
    }


def name_and_tags(
    listed: list[dict[str, Any]] | None, fallback: str, keep: tuple[str, ...] = ()
) -> tuple[str, dict[str, str]]:
    """The Name tag (``fallback`` without one) and the other tags."""
    tags = tags_of(listed, keep)
    return tags.pop("Name", fallback), tags


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def by_name(items: list[_T], key: Callable[[_T], str]) -> tuple[_T, ...]:
    return tuple(sorted(items, key=key))
