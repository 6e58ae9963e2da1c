"""The kill switch: one SSM parameter in the hub. "on" stops every acting capability without a redeploy.

Read at the start of every run and by each worker before it applies anything, cached for at most 60 s. A parameter
that does not exist means no switch is set. Throttling is retried by the client (standard retry mode) and is not a
failure; any other failure to read pauses the run and says why: when we cannot tell, we do not act.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_AGE_SECONDS = 60.0
# "on" engages it; so does any value but an explicit off: an operator who types "true" or "paused" in an incident
# gets a pause, not a surprise.
RELEASED_VALUES = frozenset({"off", "false", "0", "no", ""})


@dataclass(frozen=True, slots=True)
class SwitchState:
    engaged: bool
    reason: str = ""
    unreadable: bool = False  # engaged because the switch could not be read: the run is paused AND has failed


class KillSwitch:
    def __init__(
        self,
        ssm: Any,
        parameter: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        self._ssm = ssm
        self.parameter = parameter
        self._clock = clock
        self._max_age = max_age
        self._cached: tuple[float, SwitchState] | None = None
        # A worker's targets run in threads: the first to find the cache stale reads, the others wait for its answer
        # (one GetParameter a minute per worker, not one per thread against SSM's per-account rate).
        self._lock = threading.Lock()

    def state(self) -> SwitchState:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._max_age:
                return self._cached[1]
            state = self._read()
            self._cached = (now, state)
            return state

    def _read(self) -> SwitchState:
        try:
            value = str(self._ssm.get_parameter(Name=self.parameter)["Parameter"]["Value"])
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ParameterNotFound":
                return SwitchState(engaged=False)
            reason = f"kill switch {self.parameter} unreadable ({code}): paused, not acting while unsure"
            return SwitchState(True, reason, unreadable=True)
        except BotoCoreError as exc:
            reason = f"kill switch {self.parameter} unreadable ({type(exc).__name__}): paused, not acting while unsure"
            return SwitchState(True, reason, unreadable=True)
        if value.strip().lower() not in RELEASED_VALUES:
            return SwitchState(True, f"paused by kill switch ({self.parameter} = {value.strip()!r})")
        return SwitchState(engaged=False)


class NoKillSwitch:
    """For tests that are not about the switch."""

    parameter = "(none)"

    def state(self) -> SwitchState:
        return SwitchState(engaged=False)
