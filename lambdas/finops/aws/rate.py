"""Per-resource calls of one target on a few threads, never faster than the API's documented rate for the account.

EC2 throttles each account per region with a token bucket per API action (bucket capacity = the burst, refill rate =
the sustained rate), shared by every caller in that account and region: us, the console, Terraform, other tools.
Threads make per-resource calls (one snapshot's sharing, one deletion) overlap their waits on the API; a client-side
bucket of our own (:class:`RateLimits`, on the client's ``before-call`` event, so every call of that action counts
whichever code makes it) keeps them within the documented rate, taking at most half of the burst so that the other
callers of the account still have the rest. The client's standard retries handle the throttling that remains (other
callers spending the account's tokens), as they did before.

Source: "Request throttling for the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
(request token bucket sizes and refill rates; read 2026-12-03): CreateSnapshot, DeleteSnapshot and DeleteVolume each
have their own bucket of 100 tokens refilled at 5 a second, CreateTags 100 at 10 a second; DescribeSnapshotAttribute is
a non-mutating action (100, 20 a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Rate:
    """An API action's documented token bucket: ``capacity`` tokens (the burst), refilled at ``per_second``."""

    capacity: float
    per_second: float


# The EC2 actions the clean-up calls once per resource (the ec2-api-throttling page above).
EC2_RATES: Mapping[str, Rate] = {
    "CreateSnapshot": Rate(100, 5),
    "CreateTags": Rate(100, 10),
    "DeleteSnapshot": Rate(100, 5),
    "DeleteVolume": Rate(100, 5),
    "DescribeSnapshotAttribute": Rate(100, 20),
}
BURST_SHARE = 0.5  # of an action's documented burst, ours to spend at once; the rest stays for the account's others
PER_RESOURCE_WORKERS = 4  # threads per target: at 50-200 ms a call, enough to reach 20 calls a second
_EPSILON = 1e-9
_MIN_WAIT = 0.001  # seconds: a wait the clock can see


class TokenBucket:
    """A thread-safe token bucket: :meth:`take` returns at once while tokens are left, else waits for the next."""

    def __init__(
        self,
        rate: Rate,
        *,
        share: float = BURST_SHARE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.capacity = max(1.0, rate.capacity * share)
        self.per_second = rate.per_second
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token, waiting as long as the refill needs; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.per_second)
                self._at = now
                if self._tokens >= 1 - _EPSILON:  # a refill computed in floats may fall short of 1 by a rounding
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                wait = max((1 - self._tokens) / self.per_second, _MIN_WAIT)
            self._sleep(wait)  # outside the lock: another thread may take the token first, then this one waits again
            waited += wait


class RateLimits:
    """One bucket per API action of :data:`EC2_RATES` (or ``rates``), for one account and region."""

    def __init__(
        self,
        rates: Mapping[str, Rate] = EC2_RATES,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._buckets = {action: TokenBucket(rate, clock=clock, sleep=sleep) for action, rate in rates.items()}

    def take(self, action: str) -> float:
        bucket = self._buckets.get(action)
        return bucket.take() if bucket is not None else 0.0

    def limit(self, client: Any) -> Any:
        """``client``, each call of a limited action first taking a token (``before-call``: once per call, not per
        retry). Returns the client, for ``ec2 = limits.limit(scope.client("ec2"))``."""

        def take(model: Any, **_: Any) -> None:
            self.take(model.name)

        client.meta.events.register("before-call", take)
        return client


def each(fn: Callable[[Item], Result], items: Iterable[Item], *, workers: int = PER_RESOURCE_WORKERS) -> list[Result]:
    """``fn`` of every item, on at most ``workers`` threads, results in the order of ``items``. ``fn`` returns its
    failures as results; an exception it raises (a bug) propagates once the calls already under way have finished,
    and the items not yet begun are never called (as a loop would stop at the bug)."""
    listed: Sequence[Item] = list(items)
    if workers <= 1 or len(listed) <= 1:
        return [fn(item) for item in listed]
    with ThreadPoolExecutor(max_workers=min(workers, len(listed)), thread_name_prefix="resource") as pool:
        futures = [pool.submit(fn, item) for item in listed]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()  # only those not begun; the pool's exit waits for the others
            raise
