"""Batched API calls that isolate their bad items by bisection instead of parsing error strings.

A batch call (StopInstances for 50 ids) fails as a whole when one id is bad, and the error names the id only in
free text. ``bisect`` retries each half of a failed batch until every good item has gone through in some call and
each bad item has failed alone, with its own error. Only ``ClientError`` is caught: the client's retries have
already absorbed throttling, so what remains is about the items; anything else is a bug and propagates.
(After instance-scheduler-on-aws ``util/batch.py``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class Bisected(Generic[T, R]):
    succeeded: list[tuple[list[T], R]] = field(default_factory=list)  # each call that went through: items, response
    failed: list[tuple[T, ClientError]] = field(default_factory=list)  # each item that failed alone, with its error


def bisect(items: Sequence[T], call: Callable[[list[T]], R]) -> Bisected[T, R]:
    """``call(items)``; when it raises ``ClientError``, the same for each half, down to single items."""
    result: Bisected[T, R] = Bisected()
    pending = [list(items)] if items else []
    while pending:
        batch = pending.pop(0)
        try:
            result.succeeded.append((batch, call(batch)))
        except ClientError as err:
            if len(batch) == 1:
                result.failed.append((batch[0], err))
            else:
                middle = len(batch) // 2
                pending[:0] = [batch[:middle], batch[middle:]]
    return result


def in_batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
