"""The auto-tagger on the run engine: one CloudTrail event, one target (the event's account and region), one
``run_target``, so the member role, the kill switch, report/enforce and the audit trail (with each resource's tags
before) are the engine's and nothing here re-implements them.

A run is keyed once per event id (and mode) in the idempotency table: a redelivered event returns the first run's
summary and writes no second audit record; a run that failed is not kept, so Lambda's retries run it again (the
resources tagged the first time then plan nothing). Events the auto-tagger cannot act on are ignored with the reason:
a failed call, a call it does not read, an account or region that is not a target (excluded accounts and OUs, the
exclude tag, the management account unless included, a region outside ``organization.regions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from finops.engine.kill_switch import KillSwitch, NoKillSwitch
from finops.engine.model import Action, Outcome, Plan, RunContext, Skip, Target, TargetResult
from finops.engine.worker import run_target
from finops.models.base import Mode
from finops.models.cloudtrail import ApiCall
from finops.models.config import FinOpsConfig
from finops.rules.auto_tag import Creation, Ignored, allowed_keys, created_at_value, creation_of, decide
from finops.rules.targets import AccountFacts, decide_account
from finops.services.audit import AuditTrail, MemoryAuditTrail
from finops.services.auto_tagger import MEMBER_PERMISSIONS
from finops.services.auto_tagger.apply import TAG, apply, planned_tags
from finops.services.auto_tagger.inventory import Inventory, read_inventory
from finops.services.once import Once, Request, Result

NAME = "auto_tagger"
KIND = "event"
_NO_ORGANIZATION = {"AccessDeniedException", "AWSOrganizationsNotInUseException", "AccessDenied"}

logger = Logger(child=True)
metrics = Metrics()


class AutoTagFailed(RuntimeError):
    """Some resources of the event were not tagged (or the target could not be reached); ``summary`` says which.
    Raised so Lambda retries the event and its failure queue keeps it in the end."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        failed = summary.get("failed") or []
        what = summary.get("error") or "; ".join(f"{f['id']}: {f['error']}" for f in failed)
        super().__init__(f"auto-tagging event {summary.get('event_id')} failed: {what}")
        self.summary = dict(summary)


class AutoTaggerCapability:
    """The engine's capability for one event's creation: read the created resources, plan the tags, apply them."""

    name = NAME
    MEMBER_PERMISSIONS = MEMBER_PERMISSIONS

    def __init__(self, config: FinOpsConfig, creation: Creation) -> None:
        self._config = config
        self._creation = creation

    def read(self, scope: Any, ctx: RunContext, target: Target) -> Inventory:
        return read_inventory(scope, self._creation)

    def plan(self, inventory: Any, target: Target, ctx: RunContext) -> Plan:
        return plan_tags(self._creation, inventory, target, self._config)

    def apply(self, scope: Any, plan: Plan, ctx: RunContext, target: Target) -> Sequence[Outcome]:
        keys = allowed_keys(self._config.capabilities.auto_tagger, self._config.safety)
        return apply(scope, plan.actions, allowed_keys=keys)


def plan_tags(creation: Creation, inventory: Inventory, target: Target, config: FinOpsConfig) -> Plan:
    """Pure: one action per resource that lacks some of the tags, a skip for every other, and the read's notes."""
    decisions = decide(
        creation,
        inventory.found,
        principal_tags=inventory.principal_tags,
        config=config.capabilities.auto_tagger,
        safety=config.safety,
        prod_account=target.prod_reason if target.prod else None,
    )
    created_at = created_at_value(creation.at)
    actions, skipped = [], []
    for decision in decisions:
        resource = decision.resource
        if decision.add and not decision.skip:
            actions.append(
                Action(
                    resource=resource.id,
                    kind=resource.type,
                    action=TAG,
                    reason=f"created by {creation.creator.value} at {created_at} ({creation.event_name})",
                    before={"tags": dict(resource.tags)},
                    team=target.team,
                    name=resource.name,
                    details={"tags": dict(decision.add), **({"arn": resource.arn} if resource.arn else {})},
                )
            )
            continue
        reason = decision.skip or f"already tagged: {', '.join(decision.kept)} kept as they are"
        skipped.append(Skip(resource.id, resource.type, reason, target.team, resource.name, notable=decision.notable))
    skipped += [
        Skip(r.id, r.type, "not found: gone before the event was handled, or not visible yet", target.team)
        for r in inventory.missing
    ]
    report: dict[str, Any] = {"creator": creation.creator.value}
    if inventory.notes:
        report["notes"] = list(inventory.notes)
    return Plan(actions=tuple(actions), skipped=tuple(skipped), report=report)


# -- is the event's account a target? ----------------------------------------------------------------------------


def event_target(config: FinOpsConfig, organizations: Any, account: str, region: str) -> Target | str:
    """The target for an event in ``account``/``region``, or why the auto-tagger must not act there. The same rules
    as a run's targets (:func:`finops.rules.targets.decide_account`), for one account: its name, status and tags from
    Organizations, and its OUs when an OU setting needs them."""
    organization = config.organization
    if region not in organization.regions:
        return f"region {region} is not in organization.regions ({', '.join(organization.regions)})"
    by_id = decide_account(AccountFacts(id=account), config).excluded  # excluded by its id alone: no call needed
    if by_id:
        return by_id
    facts = _account_facts(config, organizations, account)
    if isinstance(facts, str):
        return facts
    decision = decide_account(facts, config)
    if decision.excluded:
        return decision.excluded
    wanted = set(organization.target_ous)
    if wanted and not facts.ancestors & wanted and account not in organization.target_accounts:
        return "not under organization.target_ous, nor in organization.target_accounts"
    prod = decision.prod
    return Target(account, region, name=facts.name, team=decision.team, prod=bool(prod), prod_reason=prod)


def _account_facts(config: FinOpsConfig, organizations: Any, account: str) -> AccountFacts | str:
    organization = config.organization
    try:
        described = organizations.describe_account(AccountId=account)["Account"]
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "AccountNotFoundException":
            return f"account {account} is not in the Organization"
        if code not in _NO_ORGANIZATION:
            raise
        if account in organization.target_accounts:
            logger.warning("no Organizations access; acting on an explicit target account", account=account)
            return AccountFacts(id=account, listed_explicitly=True)
        return (
            f"no Organizations access ({code}): without it only organization.target_accounts are acted on, and "
            f"{account} is not one of them"
        )
    tags: dict[str, str] = {}
    unreadable = None
    try:
        pages = organizations.get_paginator("list_tags_for_resource").paginate(ResourceId=account)
        tags = {t["Key"]: t["Value"] for page in pages for t in page["Tags"]}
    except ClientError as exc:  # never guess that an account is neither prod nor excluded
        unreadable = exc.response["Error"]["Code"]
    needs_ous = organization.target_ous or organization.excluded_ous or organization.prod_ous
    return AccountFacts(
        id=account,
        name=described.get("Name"),
        status=described.get("Status", "ACTIVE"),
        tags=tags,
        ancestors=_ancestors(organizations, account) if needs_ous else frozenset(),
        listed_explicitly=account in organization.target_accounts,
        tags_unreadable=unreadable,
    )


def _ancestors(organizations: Any, account: str) -> frozenset[str]:
    """The OU ids above ``account``, up to (not including) the root."""
    found: set[str] = set()
    child = account
    for _ in range(6):  # Organizations nests OUs five deep at most
        [parent] = organizations.list_parents(ChildId=child)["Parents"]
        if parent["Type"] != "ORGANIZATIONAL_UNIT":
            break
        found.add(parent["Id"])
        child = parent["Id"]
    return frozenset(found)


# -- one event -------------------------------------------------------------------------------------------------------


def tag_from_event(
    call: ApiCall,
    *,
    config: FinOpsConfig,
    mode: Mode,
    scopes: Any,
    organizations: Any,
    kill_switch: KillSwitch | NoKillSwitch,
    audit: AuditTrail | MemoryAuditTrail,
    once: Once,
    actor: str,
    wall_clock: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Tag what ``call`` created, in its own account, once per event; the summary (see :func:`summarize`). Raises
    :class:`AutoTagFailed` when the target could not be reached or a resource was not tagged."""
    found = creation_of(call)
    if isinstance(found, Ignored):
        return ignored(found, mode)
    creation = found
    target = event_target(config, organizations, creation.account, creation.region)
    if isinstance(target, str):
        return ignored(_ignore(creation, f"account {creation.account} {creation.region}: {target}"), mode)
    ctx = RunContext(run_id=f"event-{creation.event_id}", capability=NAME, kind=KIND, now=creation.at, mode=mode)

    def work(_: Request) -> Result:
        result = run_target(
            AutoTaggerCapability(config, creation),
            target,
            ctx,
            scopes=scopes,
            role_name=config.organization.member_role_name,
            kill_switch=kill_switch,
            audit=audit,
            actor=actor,
            wall_clock=wall_clock,
        )
        summary = summarize(creation, result)
        tagged = len(summary.get("tagged") or ())
        if tagged:
            metrics.add_metric(name="ResourcesAutoTagged", unit=MetricUnit.Count, value=tagged)
        if summary["status"] == "failed":
            metrics.add_metric(name="AutoTagFailures", unit=MetricUnit.Count, value=1)
            raise AutoTagFailed(summary)
        return summary

    return once(work, {"key": f"{NAME}:{creation.event_id}:{mode}"})


def _ignore(creation: Creation, reason: str) -> Ignored:
    return Ignored(
        reason,
        event_id=creation.event_id,
        event_name=creation.event_name,
        account=creation.account,
        region=creation.region,
        creator=creation.creator.value,
    )


def _head(
    event_id: str | None,
    event_name: str | None,
    account: str | None,
    region: str | None,
    creator: str | None,
    mode: Mode,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": event_name,
        "account": account,
        "region": region,
        "creator": creator,
        "mode": str(mode),
    }


def ignored(event: Ignored, mode: Mode) -> dict[str, Any]:
    """The summary of an event that tags nothing."""
    listed = "tagged" if mode is Mode.ENFORCE else "would_tag"
    head = _head(event.event_id, event.event_name, event.account, event.region, event.creator, mode)
    return {**head, "status": "ignored", listed: [], "skipped": [], "ignored": event.reason}


def _entry(action: Action, tags: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": action.resource, "type": action.kind, "tags": dict(tags)}


def summarize(creation: Creation, result: TargetResult) -> dict[str, Any]:
    """``{"event_id", "event_name", "account", "region", "creator", "mode", "status", "tagged" (enforce) or
    "would_tag" (report): [{"id", "type", "tags"}], "skipped": [{"id", "type", "reason"}], "failed": [{"id",
    "type", "tags", "error"}], "error"?, "notes"?}``. ``status``: done, failed (some resource not tagged, or the
    target not reached) or paused (kill switch; then ``would_tag`` lists what it held back)."""
    head = _head(
        creation.event_id, creation.event_name, creation.account, creation.region, creation.creator.value, result.mode
    )
    skipped = [{"id": s.resource, "type": s.kind, "reason": s.reason} for s in result.skipped]
    failed: list[dict[str, Any]] = []
    summary: dict[str, Any] = dict(head)
    if result.mode is Mode.ENFORCE and result.status != "paused":
        tagged = []
        for outcome in result.outcomes:
            added = dict(outcome.after.get("tags") or {})
            if not outcome.ok:
                failed.append({**_entry(outcome.action, planned_tags(outcome.action)), "error": outcome.error})
            elif added:
                tagged.append(_entry(outcome.action, added))
            else:
                note = str(outcome.after.get("note", "every planned tag was set meanwhile: kept"))
                skipped.append({"id": outcome.action.resource, "type": outcome.action.kind, "reason": note})
        summary["tagged"] = tagged
    else:
        summary["would_tag"] = [_entry(a, planned_tags(a)) for a in result.planned]
    status = "failed" if failed or result.status == "failed" else result.status
    summary.update({"status": status, "skipped": skipped, "failed": failed})
    if result.error:
        summary["error"] = result.error
    notes = result.report.get("notes")
    if notes:
        summary["notes"] = list(notes)
    return summary
