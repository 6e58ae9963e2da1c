"""At most once per key: the contract the services use; the handler plugs in Powertools idempotency on DynamoDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Request = dict[str, Any]
Result = dict[str, Any]

# ``once(fn, request)`` runs ``fn(request)`` unless a run with the same ``request["key"]`` already completed, in which
# case it returns that run's result without calling ``fn``.
Once = Callable[[Callable[[Request], Result], Request], Result]


def memory_once() -> Once:
    """At most once per key within this process: for previews, where there is no idempotency table."""
    seen: dict[str, Result] = {}

    def once(fn: Callable[[Request], Result], request: Request) -> Result:
        if request["key"] not in seen:
            seen[request["key"]] = fn(request)
        return seen[request["key"]]

    return once
