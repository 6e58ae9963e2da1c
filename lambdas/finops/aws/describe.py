"""The two things every inventory read does with a describe call: page through it, and turn its tag list into a dict."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["pages", "tag_dict"]


def pages(client: Any, operation: str, key: str, page_size: int, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """Every item under ``key`` of every page of ``operation``; the paginator maps ``PageSize`` to MaxResults (EC2)
    or MaxRecords (RDS, Auto Scaling)."""
    for page in client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": page_size}):
        yield from page.get(key, ())


def tag_dict(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` (EC2's Tags, RDS's TagList) as ``{k: v}``."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}
