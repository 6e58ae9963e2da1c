"""Cost anomaly and budget alerts: enrich with the Organization, pick severity and channel, deliver once, audit.

Everything AWS-facing is injected (the account directory, the outbox, the audit trail, the once-only wrapper), so
the same function runs in the Lambda, in ``make invoke`` against moto and in ``make run`` against a real account.

An anomaly whose root causes lie in several teams' accounts becomes one message per team, each with that team's
part. Each message is keyed once per (anomaly, team): a redelivery posts nothing, and a later notice of the same
anomaly (Cost Anomaly Detection notifies again as an anomaly grows) posts an update only when it reaches a more
severe tier than the one already posted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from finops.aws.organizations import AccountDirectory
from finops.models.accounts import AccountRef
from finops.models.alerts import Alert, CostAnomaly, RootCause
from finops.models.config import FinOpsConfig, SeverityTier, TeamRoute
from finops.models.summary import Item, RunSummary
from finops.notify.blocks import SlackMessage, anomaly_message, budget_message, escalation_reply
from finops.notify.slack import Delivery, PreviewOutbox, SlackOutbox
from finops.rules.ownership import Owner, owning_team
from finops.rules.severity import classify, classify_budget, escalated, tiers_between
from finops.services.audit import AuditRecord, AuditTrail, MemoryAuditTrail, record_after_the_fact
from finops.services.once import Once, Result

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message of an alert: for one owning team (an anomaly may have several), keyed once by ``key``."""

    message: SlackMessage
    owner: Owner
    severity: str  # the tier's name ("budget-actual" and the like for budgets)
    account: str | None
    key: str
    tiers: tuple[SeverityTier, ...] = ()
    tier: SeverityTier | None = None  # None: below the least severe tier, not posted
    unrouted: str | None = None  # the team that has no route (the message went to the default channel instead)
    shared_with: tuple[str, ...] = ()
    causes: tuple[RootCause, ...] = ()  # this team's part of an anomaly
    accounts: Mapping[str, AccountRef] = field(default_factory=dict)
    part_usd: Decimal | None = None


def _route(config: FinOpsConfig, owner: Owner) -> tuple[TeamRoute, bool]:
    """The team's route, and whether it is the team's own (False: the default channel stands in for it)."""
    own = config.notifications.teams.get((owner.team or "").lower())
    return (own, True) if own is not None else (config.team_route(owner.team), False)


def _unrouted_banner(team: str) -> str:
    return (
        f"Team {team} has no channel in notifications.teams, so this came to the default channel without paging "
        f"anyone; add notifications.teams.{team} to send it to them."
    )


def _anomaly_parts(anomaly: CostAnomaly, config: FinOpsConfig, directory: AccountDirectory) -> list[Rendered]:
    accounts: dict[str, AccountRef] = {}
    for cause in anomaly.root_causes:
        if cause.linked_account:
            accounts[cause.linked_account] = directory.lookup(cause.linked_account)
    main = directory.lookup(anomaly.main_account)
    accounts[main.id or ""] = main
    main_owner = owning_team(main.id, main.tags, config, lookup_error=main.lookup_error)

    # The causes grouped by owning team, the team of the largest cause first; causes without an account are the
    # main account's.
    groups: dict[str | None, tuple[Owner, str | None, list[RootCause]]] = {}
    for cause in anomaly.ranked_causes():
        if cause.linked_account:
            ref = accounts[cause.linked_account]
            owner = owning_team(ref.id, ref.tags, config, lookup_error=ref.lookup_error)
        else:
            ref, owner = main, main_owner
        groups.setdefault(owner.team, (owner, ref.id, []))[2].append(cause)
    if not groups:
        groups[main_owner.team] = (main_owner, main.id, [])

    parts: list[Rendered] = []
    for team, (owner, account, causes) in groups.items():
        others = tuple(t or "unowned" for t in groups if t != team)
        tiers = config.notifications.tiers_for(team)
        part_usd = _share(causes) if len(groups) > 1 else None
        if part_usd is not None:  # a team is paged for its own part of a shared anomaly, not for the whole
            tier = classify(part_usd, None, tiers)
        else:
            tier = classify(anomaly.impact.impact_usd, anomaly.impact.impact_percent, tiers)
        route, own = _route(config, owner)
        unrouted = owner.team if owner.team and not own else None
        message = anomaly_message(
            anomaly,
            channel=route.channel,
            tier=tier or tiers[-1],
            tiers=tiers,
            owner=owner,
            route=route,
            accounts=accounts,
            causes=causes,
            shared_with=others,
            page=unrouted is None,
            part_usd=part_usd,
        )
        if unrouted:
            message = message.with_banner(_unrouted_banner(unrouted))
        parts.append(
            Rendered(
                message,
                owner,
                (tier or tiers[-1]).name,
                account,
                key=f"{anomaly.idempotency_key}/team:{team or '-'}",
                tiers=tiers,
                tier=tier,
                unrouted=unrouted,
                shared_with=others,
                causes=tuple(causes),
                accounts=accounts,
                part_usd=part_usd,
            )
        )
    return parts


def _share(causes: list[RootCause]) -> Decimal | None:
    """A team's part of the impact: its causes' contributions, when AWS gave every one of them."""
    amounts = [c.impact_contribution for c in causes]
    if not amounts or any(a is None for a in amounts):
        return None
    return sum((a for a in amounts if a is not None), Decimal(0))


def render(alert: Alert, *, config: FinOpsConfig, directory: AccountDirectory) -> list[Rendered]:
    """The messages a person reads and where each goes: the owning team's channel, else the default channel."""
    if isinstance(alert, CostAnomaly):
        return _anomaly_parts(alert, config, directory)
    account = directory.lookup(alert.account_id)
    owner = owning_team(
        account.id, account.tags, config, lookup_error=account.lookup_error, budget_name=alert.budget_name
    )
    route, own = _route(config, owner)
    unrouted = owner.team if owner.team and not own else None
    tiers = config.notifications.tiers_for(owner.team)
    tier = classify_budget(alert.amount_usd, tiers)
    message = budget_message(
        alert, channel=route.channel, owner=owner, route=route, account=account, tier=tier, page=unrouted is None
    )
    if unrouted:
        message = message.with_banner(_unrouted_banner(unrouted))
    return [
        Rendered(
            message,
            owner,
            f"budget-{alert.alert_type.lower()}",
            account.id,
            key=alert.idempotency_key,
            tiers=tiers,
            tier=tier,
            unrouted=unrouted,
        )
    ]


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


def _deliver(alert: Alert, part: Rendered, message: SlackMessage, key: str, run: AlertRun, note: str = "") -> Result:
    delivery: Delivery = run.outbox.deliver(message, key=key)
    if part.owner.source == "lookup failed":
        metrics.add_metric(name="OwnerLookupFailed", unit=MetricUnit.Count, value=1)
    if delivery.scope == "credentials":
        logger.error(
            "the Slack secret is unusable (unreadable, malformed or its token rejected); alerts are parked until it "
            "is fixed",
            reason=delivery.reason,
        )
        metrics.add_metric(name="SlackSecretUnusable", unit=MetricUnit.Count, value=1)
    redirected = delivery.intended or (part.unrouted and f"team {part.unrouted} has no route")
    if redirected:
        # Sent to the default channel on another team's behalf (no route, or their channel refused it): alarmed.
        metrics.add_metric(name="AlertsRedirected", unit=MetricUnit.Count, value=1)
    reason = note or f"{alert.kind} alert {key} ({part.severity})"
    record_after_the_fact(
        run.audit,
        AuditRecord(
            run_id=run.run_id,
            actor=run.actor,
            action=delivery.audit_action,
            target=f"slack:{delivery.channel}",
            reason=reason
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
                "team": part.owner.team,
                "intended": delivery.intended or (part.message.channel if part.unrouted else None),
            },
            account=part.account,
        ),
    )
    metrics.add_metric(name=f"Alerts{delivery.status.title()}", unit=MetricUnit.Count, value=1)
    return {
        "run_id": run.run_id,
        "channel": delivery.channel,
        "status": delivery.status,
        "severity": part.severity,
        "team": part.owner.team,
        "reason": delivery.reason or (f"redirected: team {part.unrouted} has no route" if part.unrouted else ""),
        "account": part.account,
        "ts": delivery.ts,
        "posted": True,
    }


def _escalate(alert: CostAnomaly, part: Rendered, first: Result, run: AlertRun) -> tuple[Result, str] | None:
    """Post the update for an anomaly that reached a more severe tier than the one already posted, once per tier.

    The tiers passed over are marked done first (a late notice of one of them then posts nothing), which also finds
    the most severe tier an earlier update already announced."""
    now = part.severity
    before = str(first["severity"])
    for name in tiers_between(before, now, part.tiers):

        def passed_over(_: dict[str, Any], name: str = name) -> Result:
            return {"run_id": run.run_id, "posted": False, "severity": name}

        if run.once(passed_over, {"key": f"{part.key}/escalated:{name}"}).get("posted"):
            before = name
    assert part.tier is not None  # only tiers reached escalate
    message = anomaly_message(
        alert,
        channel=part.message.channel,
        tier=part.tier,
        tiers=part.tiers,
        owner=part.owner,
        route=_route(run.config, part.owner)[0],
        accounts=part.accounts,
        causes=part.causes,
        shared_with=part.shared_with,
        page=part.unrouted is None,
        escalated_from=before,
        part_usd=part.part_usd,
    )
    if part.unrouted:
        message = message.with_banner(_unrouted_banner(part.unrouted))
    key = f"{part.key}/escalated:{now}"

    def post(_: dict[str, Any]) -> Result:
        note = f"anomaly alert {key} escalated from {before} to {now}"
        result = _deliver(alert, part, message, key, run, note=note)
        thread = first.get("ts")
        if thread and result["status"] == "delivered" and first.get("channel") == result["channel"]:
            reply = escalation_reply(
                alert, channel=str(result["channel"]), thread_ts=str(thread), before=before, now=now
            )
            _deliver(alert, part, reply, f"{key}/thread", run, note=f"thread reply to {thread}: escalated to {now}")
        return {**result, "escalated_from": before}

    result = run.once(post, {"key": key})
    return (result, before) if result["run_id"] == run.run_id else None


def _where(result: Result) -> str:
    return f"{result['channel']} ({result['severity']}, team {result['team'] or 'unknown'})"


def process_alerts(alerts: list[Alert], run: AlertRun) -> RunSummary:
    summary = RunSummary(run_id=run.run_id, capability="alerts", mode=run.mode)
    for alert in alerts:
        parts = render(alert, config=run.config, directory=run.directory)
        for part in parts:
            resource = alert.idempotency_key + (f" ({part.owner.team or 'unowned'})" if len(parts) > 1 else "")
            if part.tier is None:
                lowest = part.tiers[-1]
                metrics.add_metric(name="AlertsBelowSeverity", unit=MetricUnit.Count, value=1)
                summary.add(
                    "skipped",
                    Item(
                        resource,
                        "notify",
                        f"below the least severe tier ({lowest.name}: at least ${lowest.min_impact_usd:,.0f} and "
                        f"{lowest.min_impact_percent:g}%): not posted",
                        account=part.account,
                    ),
                )
                continue

            def deliver(_: dict[str, Any], alert: Alert = alert, part: Rendered = part) -> Result:
                return _deliver(alert, part, part.message, part.key, run)

            result = run.once(deliver, {"key": part.key})
            if result["run_id"] == run.run_id:
                summary.add("acted", Item(resource, "notify", _acted(result), account=result.get("account")))
                logger.info("alert handled", key=part.key, **{k: v for k, v in result.items() if k != "run_id"})
                continue
            if isinstance(alert, CostAnomaly) and escalated(str(result["severity"]), part.severity, part.tiers):
                update = _escalate(alert, part, result, run)
                if update is not None:
                    done, before = update
                    reason = f"escalated from {before} to {part.severity}: " + _acted(done)
                    summary.add("acted", Item(resource, "notify", reason, account=done.get("account")))
                    logger.info("alert escalated", key=part.key, before=before, now=part.severity)
                    continue
            metrics.add_metric(name="AlertsDuplicate", unit=MetricUnit.Count, value=1)
            summary.add(
                "skipped",
                Item(
                    resource,
                    "notify",
                    f"already {'sent to' if result['status'] == 'delivered' else 'handled for'} {result['channel']} "
                    f"by run {result['run_id']} (redelivered event, or no more severe than what was sent)",
                    account=result.get("account"),
                ),
            )
    return summary


def _acted(result: Result) -> str:
    return {
        "delivered": f"posted to {_where(result)}" + (f"; {result['reason']}" if result["reason"] else ""),
        "parked": f"parked for {_where(result)}: {result['reason']}",
        "previewed": f"would post to {_where(result)}",
    }[str(result["status"])]


def invalid_event_key(event: object) -> str:
    """What identifies a delivery of ``event`` across SNS and Lambda retries: its SNS message ids, the EventBridge
    event id, else a hash of the event itself."""
    if isinstance(event, dict):
        records = event.get("Records")
        if isinstance(records, list) and records:
            ids = [r.get("Sns", {}).get("MessageId") if isinstance(r, dict) else None for r in records]
            if all(isinstance(i, str) and i for i in ids):
                return "invalid:sns:" + ",".join(str(i) for i in ids)
        if isinstance(event.get("id"), str) and event.get("source"):
            return f"invalid:event:{event['id']}"
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()
    return f"invalid:sha256:{digest}"


def count_invalid_event(event: object, *, once: Once, run_id: str, reason: str) -> bool:
    """Count an invalid event in ``InvalidEvents`` once, however often SNS or Lambda retries it. True when this is
    the first time. A once-only store that fails counts it anyway (twice is better than never) and says so."""

    def count(_: dict[str, Any]) -> Result:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        return {"run_id": run_id, "reason": reason}

    key = invalid_event_key(event)
    try:
        return bool(once(count, {"key": key})["run_id"] == run_id)
    except Exception as exc:  # the InvalidEvent the caller re-raises must stay the error
        logger.warning("could not record the invalid event once; counted anyway", key=key, error=repr(exc))
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        return True
