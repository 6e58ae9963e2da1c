"""Tag compliance on the run engine: the hub's decision (always due, once a day), the per-target capability, and the
run-level conclusion (the non-compliant resources of every target and the KPIs) with its digest.

Every run reads each target fresh, evaluates every resource against the taxonomy and plans tag enforcement's whole
cycle at once: new marks, unmarks, and the stops whose grace period has ended. Its mode comes from
``capabilities.tag_enforcement``: report (the default) evaluates, reports and plans, and changes nothing; enforce
also carries the plan out. ``tag_enforcement.paused: true`` pauses the remediation only: the run still evaluates and
reports, in report mode, and says so. ``capabilities.tag_compliance.enabled: false`` disables the capability: the hub
creates no state machine for it and a local run says it is disabled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from finops.aws.clients import AwsClients
from finops.engine.model import Outcome, Plan, RunContext, Target, TargetResult
from finops.engine.request import RunRequest
from finops.engine.start import Prepared
from finops.engine.worker import wall_now
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import SlackMessage
from finops.rules.tag_compliance import TagInventory, plan
from finops.services.tag_compliance import MEMBER_PERMISSIONS
from finops.services.tag_compliance.apply import apply
from finops.services.tag_compliance.inventory import read_inventory
from finops.services.tag_compliance.kpis import compliance_kpis, run_findings
from finops.services.tag_metrics import emit_kpi_metrics
from finops.services.tag_spend import spend_kpi

NAME = "tag_compliance"
DAILY, WEEKLY = "daily", "weekly"
WEEKLY_DIGEST = "weekly_digest"  # ctx.params: this run posts the weekly per-team digest
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PAUSED_NOTE = (
    "capabilities.tag_enforcement.paused: true: evaluated and reported in report mode; nothing is marked, unmarked "
    "or stopped until it is set back"
)

logger = Logger(child=True)


class TagComplianceSpec:
    """The hub side (``engine_start``, ``engine_aggregate`` and the local runner)."""

    name = NAME
    # The keys :meth:`conclude` adds to the run document; `make invoke`/`make run` also print them at its top level.
    document_keys: tuple[str, ...] = ("noncompliant", "kpis")

    def mode(self, config: FinOpsConfig) -> Mode:
        enforcement = config.capabilities.tag_enforcement
        return Mode.REPORT if enforcement.paused else enforcement.mode

    def paused(self, config: FinOpsConfig) -> bool:
        return False  # tag_enforcement.paused pauses the remediation, not the evaluation (see mode)

    def disabled(self, config: FinOpsConfig) -> str | None:
        if config.capabilities.tag_compliance.enabled:
            return None
        return "disabled in the config (capabilities.tag_compliance.enabled: false)"

    def prepare(self, config: FinOpsConfig, request: RunRequest, last_completed: datetime | None) -> Prepared:
        """Every run is due: compliance depends on the resources, not on the config. The run of
        ``tag_compliance.digest_weekday`` (or one whose event says ``"digest": true``) posts the weekly digest."""
        weekly = request.digest or WEEKDAYS[request.now.weekday()] == config.capabilities.tag_compliance.digest_weekday
        notes = (PAUSED_NOTE,) if config.capabilities.tag_enforcement.paused else ()
        return Prepared(
            kind=request.kind or (WEEKLY if weekly else DAILY),
            since=request.since or last_completed,
            due=True,
            params={WEEKLY_DIGEST: weekly},
            notes=notes,
        )

    def title(self, ctx: RunContext) -> str:
        return "Tag compliance"

    def conclude(
        self, results: Sequence[TargetResult], ctx: RunContext, *, config: FinOpsConfig, clients: AwsClients
    ) -> dict[str, Any]:
        """The run document's ``noncompliant`` and ``kpis`` (the share of spend attributable to a team in
        ``kpis["spend"]``, from Cost Explorer); the KPIs also go out as CloudWatch metrics per team and type."""
        findings, unlisted = run_findings(results)
        kpis = compliance_kpis(results)
        kpis["spend"] = spend_kpi(clients, config, ctx.now)
        emitted = emit_kpi_metrics(kpis)
        logger.info("tag compliance concluded", run_id=ctx.run_id, resources=kpis["resources"], metrics=emitted)
        return {
            "noncompliant": findings,
            **({"noncompliant_not_listed": unlisted} if unlisted else {}),
            "kpis": kpis,
        }

    def digests(
        self,
        results: Sequence[TargetResult],
        ctx: RunContext,
        conclusion: Mapping[str, Any],
        config: FinOpsConfig,
    ) -> list[SlackMessage]:
        """Weekly: every team's non-compliant resources with the fix; other days only the teams with marks, stops or
        failures in this run (:func:`finops.notify.compliance_digest.compliance_digests`)."""
        from finops.notify.compliance_digest import compliance_digests

        weekly = bool(ctx.params.get(WEEKLY_DIGEST))
        return compliance_digests(results, conclusion.get("kpis") or {}, ctx, config, weekly=weekly)


class TagComplianceCapability:
    """The worker side: read one target, evaluate and plan, apply (through the member role)."""

    name = NAME
    MEMBER_PERMISSIONS = MEMBER_PERMISSIONS

    def __init__(
        self, config: FinOpsConfig, *, sleep: Callable[[float], None] = time.sleep, max_wait_seconds: float = 60.0
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._max_wait = max_wait_seconds

    def read(self, scope: Any, ctx: RunContext, target: Target) -> TagInventory:
        return read_inventory(scope)

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        return plan(inventory, target, ctx, self._config, wall_now=wall_now(ctx))

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> Sequence[Outcome]:
        return apply(
            scope,
            plan.actions,
            target=target,
            ctx=ctx,
            config=self._config,
            wall_now=wall_now(ctx),
            sleep=self._sleep,
            max_wait_seconds=self._max_wait,
        )
