"""The storage clean-up on the run engine: the hub's decision (always due, once a day) and the per-target capability.

Every run reads each target fresh and plans the whole cycle at once: new marks, unmarks, and the deletions whose
grace period has ended. Report mode plans the same and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from finops.aws.rate import EC2_RATES, PER_RESOURCE_WORKERS, Rate
from finops.engine.model import Outcome, Plan, RunContext, Target
from finops.engine.request import RunRequest
from finops.engine.start import Prepared
from finops.engine.worker import wall_now
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.models.storage import StorageInventory
from finops.rules.cleanup_plan import plan
from finops.services.cleanup import MEMBER_PERMISSIONS
from finops.services.cleanup.apply import apply
from finops.services.cleanup.inventory import read_inventory

NAME = "ebs_cleanup"
SWEEP = "sweep"


class CleanupSpec:
    """The hub side (``engine_start`` and the local runner)."""

    name = NAME

    def mode(self, config: FinOpsConfig) -> Mode:
        return config.capabilities.ebs_cleanup.mode

    def paused(self, config: FinOpsConfig) -> bool:
        return config.capabilities.ebs_cleanup.paused

    def prepare(self, config: FinOpsConfig, request: RunRequest, last_completed: datetime | None) -> Prepared:
        # Every run is due: what is eligible depends on the resources and their age, not on the config.
        return Prepared(kind=request.kind or SWEEP, since=request.since or last_completed, due=True)

    def title(self, ctx: RunContext) -> str:
        return "Storage clean-up"


class CleanupCapability:
    """The worker side: read one target, plan, apply (through the member role)."""

    name = NAME
    MEMBER_PERMISSIONS = MEMBER_PERMISSIONS

    def __init__(
        self,
        config: FinOpsConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_seconds: float = 60.0,
        rates: Mapping[str, Rate] | None = EC2_RATES,
        workers: int = PER_RESOURCE_WORKERS,
    ) -> None:
        """``rates`` and ``workers``: the per-resource calls' client-side limits (None: none, for a mock that never
        throttles) and threads (finops.aws.rate)."""
        self._config = config
        self._sleep = sleep
        self._max_wait = max_wait_seconds
        self._rates = rates
        self._workers = workers

    def read(self, scope: Any, ctx: RunContext, target: Target) -> StorageInventory:
        return read_inventory(
            scope, target, ctx, self._config, wall_now=wall_now(ctx), rates=self._rates, workers=self._workers
        )

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        return plan(inventory, target, ctx, self._config, wall_now=wall_now(ctx))

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> Sequence[Outcome]:
        return apply(
            scope,
            plan.actions,
            target=target,
            ctx=ctx,
            config=self._config,
            sleep=self._sleep,
            max_wait_seconds=self._max_wait,
            wall_now=wall_now(ctx),
            rates=self._rates,
            workers=self._workers,
        )
