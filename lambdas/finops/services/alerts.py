"""Cost anomaly and budget alerts: enrich with the Organization, pick severity and channel, deliver once, audit.

Everything AWS-facing is injected (the account directory, the outbox, the audit trail, the once-only wrapper), so
the same function runs in the Lambda, in ``make invoke`` against moto and in ``make run`` against a real account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.aws.organizations import AccountDirectory
from finops.models.alerts import Alert, CostAnomaly
from finops.models.config import FinOpsConfig
from finops.models.summary import Item, RunSummary
from finops.notify.blocks import SlackMessage, anomaly_message, budget_message
from finops.notify.slack import Delivery, PreviewOutbox, SlackOutbox
from finops.rules.ownership import Owner, owning_team
from finops.rules.severity import classify
from finops.services.audit import AuditRecord, AuditTrail, MemoryAuditTrail, record_after_the_fact
from finops.services.once import Once

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True, slots=True)
class Rendered:
    message: SlackMessage
    owner: Owner
    severity: str
    account: str | None


def render(alert: Alert, *, config: FinOpsConfig, directory: AccountDirectory) -> Rendered:
    """The message a person reads and where it goes: the owning team's channel, else the default channel."""
    tiers = config.notifications.severity
    if isinstance(alert, CostAnomaly):
        accounts = {c.linked_account: directory.lookup(c.linked_account) for c in alert.root_causes if c.linked_account}
        main = directory.lookup(alert.main_account)
        accounts[main.id or ""] = main
        owner = owning_team(main.id, main.tags, config, lookup_error=main.lookup_error)
        route = config.team_route(owner.team)
        tier = classify(alert.impact.impact_usd, alert.impact.impact_percent, tiers)
        message = anomaly_message(
            alert, channel=route.channel, tier=tier, tiers=tiers, owner=owner, route=route, accounts=accounts
        )
        return Rendered(message, owner, tier.name, main.id)
    account = directory.lookup(alert.account_id)
    owner = owning_team(
        account.id, account.tags, config, lookup_error=account.lookup_error, budget_name=alert.budget_name
    )
    route = config.team_route(owner.team)
    message = budget_message(alert, channel=route.channel, owner=owner, route=route, account=account)
    return Rendered(message, owner, f"budget-{alert.alert_type.lower()}", account.id)


@dataclass(frozen=True, slots=True)
class AlertRun:
    config: FinOpsConfig
    directory: AccountDirectory
    outbox: SlackOutbox | PreviewOutbox
    audit: AuditTrail | MemoryAuditTrail
    once: Once
    run_id: str
    actor: str
    now: datetime
    mode: str = "enforce"  # "report" when previewing: rendered and routed, never posted


_ACTIONS = {"delivered": "post", "parked": "park", "previewed": "preview"}


def _deliver(alert: Alert, run: AlertRun) -> dict[str, Any]:
    rendered = render(alert, config=run.config, directory=run.directory)
    delivery: Delivery = run.outbox.deliver(rendered.message, key=alert.idempotency_key)
    if rendered.owner.source == "lookup failed":
        metrics.add_metric(name="OwnerLookupFailed", unit=MetricUnit.Count, value=1)
    if delivery.scope == "credentials":
        logger.error(
            "the Slack secret is unusable (unreadable, malformed or its token rejected); alerts are parked until it "
            "is fixed",
            reason=delivery.reason,
        )
        metrics.add_metric(name="SlackSecretUnusable", unit=MetricUnit.Count, value=1)
    record_after_the_fact(
        run.audit,
        AuditRecord(
            run_id=run.run_id,
            actor=run.actor,
            action=f"slack.{_ACTIONS[delivery.status]}",
            target=f"slack:{delivery.channel}",
            reason=f"{alert.kind} alert {alert.idempotency_key} ({rendered.severity})"
            + (
                f"; {'parked for retry' if delivery.status == 'parked' else 'note'}: {delivery.reason}"
                if delivery.reason
                else ""
            ),
            at=run.now,
            mode=run.mode,
            before=None,
            after={
                "status": delivery.status,
                "via": delivery.via,
                "team": rendered.owner.team,
                "intended": delivery.intended,
            },
            account=rendered.account,
        ),
    )
    metrics.add_metric(name=f"Alerts{delivery.status.title()}", unit=MetricUnit.Count, value=1)
    return {
        "run_id": run.run_id,
        "channel": delivery.channel,
        "status": delivery.status,
        "severity": rendered.severity,
        "team": rendered.owner.team,
        "reason": delivery.reason,
        "account": rendered.account,
    }


def process_alerts(alerts: list[Alert], run: AlertRun) -> RunSummary:
    summary = RunSummary(run_id=run.run_id, capability="alerts", mode=run.mode)
    for alert in alerts:

        def deliver(request: dict[str, Any], alert: Alert = alert) -> dict[str, Any]:
            return _deliver(alert, run)

        result = run.once(deliver, {"key": alert.idempotency_key})
        resource = alert.idempotency_key
        if result["run_id"] != run.run_id:
            metrics.add_metric(name="AlertsDuplicate", unit=MetricUnit.Count, value=1)
            summary.add(
                "skipped",
                Item(
                    resource,
                    "notify",
                    f"already {'sent to' if result['status'] == 'delivered' else 'handled for'} {result['channel']} "
                    f"by run {result['run_id']} (redelivered event)",
                    account=result.get("account"),
                ),
            )
            continue
        where = f"{result['channel']} ({result['severity']}, team {result['team'] or 'unknown'})"
        reason = {
            "delivered": f"posted to {where}" + (f"; {result['reason']}" if result["reason"] else ""),
            "parked": f"parked for {where}: {result['reason']}",
            "previewed": f"would post to {where}",
        }[result["status"]]
        summary.add("acted", Item(resource, "notify", reason, account=result.get("account")))
        logger.info("alert handled", key=resource, **{k: v for k, v in result.items() if k != "run_id"})
    return summary
