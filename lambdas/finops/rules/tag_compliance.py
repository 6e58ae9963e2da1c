"""Tag compliance for one target: each resource's tags against the taxonomy, and the remediation of
``capabilities.tag_enforcement``. Pure: the inventory, the config and the clocks in, findings and actions out.

What a resource can get wrong, per key of ``taxonomy.tags`` (:func:`evaluate`):
- a required key is missing (in every casing);
- the key is there only in another casing (``Team`` for ``team``): a wrong-case key, said so, never "missing";
- the key is there twice, in two casings: the extra one is to be removed;
- its value is not allowed, is in the wrong case (``Payments`` for ``payments``, or a ``case: lower`` key written in
  capitals), does not match the key's pattern, or is empty where a value is required
  (:func:`finops.models.config.tag_rule_problem` decides; this module words it and names the fix).

The remediation of a non-compliant resource, in this order (:func:`plan`):
1. Never (reported, with why, and never marked or stopped): a prod account, a prod environment tag, the protect tag,
   the exclude tag (``organization.exclude_account_tag`` on the resource). A mark it carries is removed.
2. Not marked, or its mark is not trusted: marked ``finops:tag-deadline=<deadline>``, the deadline ``grace_days``
   after today. The owner is told in the digest. A mark is not trusted when its date does not parse, when it lies
   before the resource existed (``deadline - grace_days`` earlier than the resource's creation: tags copied from a
   marked resource) or further ahead than ``grace_days`` (a hand-written date that would put the stop off for ever).
3. Marked, and the deadline has passed by both clocks (the run's and the worker's wall clock): a running EC2
   instance is stopped, unless AWS or another controller owns its life (an Auto Scaling group member, Spot, an
   instance-store root, EKS/EMR/Beanstalk...), which is a notable skip. Every other type (volumes, snapshots, RDS
   databases and clusters) is marked and reported, never stopped: RDS restarts a stopped database by itself after
   seven days, and nothing here is ever deleted.
A compliant resource that carries a mark is unmarked. Report mode plans exactly this and changes nothing.

At most :func:`max_actions` changes per target and run (stops first, then unmarks, then marks): a backlog of
thousands is worked off over several days, and one run never stops hundreds of instances at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from finops.engine.model import Action, Plan, RunContext, Skip, Target
from finops.models.config import FinOpsConfig, TagCase, TagRule, TaxonomyConfig, tag_items, tag_rule_problem, tag_value
from finops.rules.cleanup_plan import RunClocks, run_clocks
from finops.rules.cleanup_tags import instant_value

__all__ = [
    "CLUSTER",
    "DB",
    "INSTANCE",
    "MARK",
    "MARK_TAG",
    "SNAPSHOT",
    "STOP",
    "TYPES",
    "UNMARK",
    "VOLUME",
    "Evaluation",
    "TagInventory",
    "TaggedResource",
    "deadline_of",
    "evaluate",
    "exemption",
    "plan",
    "stop_blocked",
    "trusted_deadline",
]

MARK_TAG = "finops:tag-deadline"  # the instant (UTC) after which a still non-compliant non-prod instance is stopped
INSTANCE, VOLUME, SNAPSHOT, DB, CLUSTER = "ec2:instance", "ec2:volume", "ec2:snapshot", "rds:db", "rds:cluster"
TYPES = (INSTANCE, VOLUME, SNAPSHOT, DB, CLUSTER)
EC2_TYPES = (INSTANCE, VOLUME, SNAPSHOT)
RDS_TYPES = (DB, CLUSTER)
MARK, UNMARK, STOP = "mark", "unmark", "stop"
# A batch's output is a Map state's output (at most 256 KiB): each target of a batch (engine.targets_per_invocation)
# gets its share of these, so a full batch of the largest targets stays near 150 KB. A target lists the findings that
# fit (at most MAX_LISTED) and counts the rest; its changes beyond its share wait for the next runs.
FINDINGS_BYTES_PER_BATCH = 64_000
MAX_LISTED = 500
ACTIONS_PER_BATCH = 80  # each about 0.9 KB in enforce mode: planned, and again in its outcome
SKIPS_PER_BATCH = 40


@dataclass(frozen=True, slots=True)
class TaggedResource:
    """One resource as its service's describe call showed it a moment ago."""

    kind: str  # one of TYPES
    id: str  # instance, volume, snapshot id; DB instance or cluster identifier
    tags: Mapping[str, str]
    created: datetime | None = None  # when it came to exist (None: not known yet, e.g. a DB still creating)
    name: str | None = None  # its Name tag; RDS: its identifier
    arn: str | None = None  # RDS: what AddTagsToResource takes
    state: str = ""  # EC2 instance state, volume/snapshot state, DB status
    not_stoppable: str | None = None  # instances: why we must never stop it, worded for a digest reader


@dataclass(frozen=True, slots=True)
class TagInventory:
    resources: tuple[TaggedResource, ...] = ()


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What is wrong with one resource's tags. ``invalid`` and ``problems`` use the key as written on the resource
    (``Team``), ``missing`` the taxonomy's key; ``problems`` says why and what to do for every key listed (the digest
    turns them into the commands that fix them: :func:`finops.notify.compliance_digest.fix_commands`)."""

    missing: tuple[str, ...] = ()
    invalid: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def compliant(self) -> bool:
        return not self.missing and not self.invalid


# -- evaluating one resource's tags --------------------------------------------------------------------------------


def evaluate(tags: Mapping[str, str], taxonomy: TaxonomyConfig) -> Evaluation:
    missing: list[str] = []
    invalid: dict[str, str] = {}
    problems: dict[str, str] = {}
    for rule in taxonomy.tags:
        found = tag_items(tags, rule.key)  # the exact key first
        if not found:
            if rule.required:
                missing.append(rule.key)
                problems[rule.key] = f"missing: {_wanted(rule)}"
            continue
        exact = [(key, value) for key, value in found if key == rule.key]
        others = [(key, value) for key, value in found if key != rule.key]
        if exact:
            key, value = exact[0]
            why = value_problem(rule, value)
            if why is not None:
                invalid[key], problems[key] = value, why
            for other, other_value in others:
                invalid[other] = other_value
                problems[other] = f"{rule.key} again, written {other!r}: remove {other}"
            continue
        for other, other_value in others:
            invalid[other] = other_value
            why = value_problem(rule, other_value)
            spelled = "spaces around the key" if other.strip() == rule.key else "wrong case of the key"
            problems[other] = f"{spelled}: the taxonomy spells it {rule.key}" + (
                f"; and its value: {why}" if why else ""
            )
    return Evaluation(tuple(missing), invalid, problems)


def value_problem(rule: TagRule, value: str) -> str | None:
    """Why ``value`` breaks ``rule``, in words that name the fix; None when it passes."""
    if rule.required and not value.strip():
        return f"empty: set it to {_wanted(rule)}"
    if tag_rule_problem(rule, value) is None:
        return None
    if rule.allowed_values and value not in rule.allowed_values:
        same = next((a for a in rule.allowed_values if a.lower() == value.strip().lower()), None)
        if same is not None and same == value.strip():
            return f"spaces around the value: write {same}"
        if same is not None:
            return f"wrong case: write {same}"
        return f"value not allowed: use one of {', '.join(rule.allowed_values)}"
    if rule.case is TagCase.LOWER and value != value.lower():
        return f"wrong case: values are lower case ({value.lower()})"
    if rule.case is TagCase.UPPER and value != value.upper():
        return f"wrong case: values are upper case ({value.upper()})"
    return f"does not match {rule.pattern}"


def _wanted(rule: TagRule) -> str:
    if rule.allowed_values:
        return "one of " + ", ".join(rule.allowed_values)
    if rule.pattern:
        return f"a value matching {rule.pattern}"
    return "a value" + (f" ({rule.description.rstrip('.')})" if rule.description else "")


# -- who may be changed, and when ----------------------------------------------------------------------------------


def exemption(resource: TaggedResource, target: Target, config: FinOpsConfig) -> str | None:
    """Why nothing may ever be marked or stopped on this resource, or None. Every casing of the environment, protect
    and exclude keys counts (:meth:`finops.models.config.SafetyConfig.tag_guard`)."""
    if target.prod:
        return "prod account" + (f" ({target.prod_reason})" if target.prod_reason else "")
    guard = config.safety.tag_guard(resource.tags)
    if guard is not None:
        return guard
    exclude = config.organization.exclude_account_tag
    if exclude.matches(resource.tags):
        return f"excluded ({exclude.key}={exclude.value_in(resource.tags)})"
    return None


def deadline_of(tags: Mapping[str, str]) -> datetime | str | None:
    """The mark's deadline; None when not marked; the raw value (a str) when it does not read as a UTC instant."""
    value = tags.get(MARK_TAG)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else value


def trusted_deadline(
    tags: Mapping[str, str], created: datetime | None, grace_days: int, clocks: RunClocks
) -> datetime | str | None:
    """The mark's deadline when it can be one this capability wrote; None when there is none; else why not (a str)."""
    deadline = deadline_of(tags)
    if deadline is None:
        return None
    if isinstance(deadline, str):
        return f"unreadable mark ({MARK_TAG}={deadline})"
    grace = timedelta(days=grace_days)
    if created is not None and deadline - grace < created.replace(microsecond=0):
        return f"mark older than the resource ({MARK_TAG}={tags[MARK_TAG]}, copied with its tags?)"
    if deadline > clocks.mark_from + grace:
        return f"mark further ahead than grace_days ({grace_days}) allows ({MARK_TAG}={tags[MARK_TAG]})"
    return deadline


def stop_blocked(resource: TaggedResource, target: Target, config: FinOpsConfig, clocks: RunClocks) -> str | None:
    """Why this instance may not be stopped now, judged on what was just read; None: it may. The apply asks again on a
    fresh read right before StopInstances (the owner may have fixed the tags or protected it meanwhile)."""
    if resource.kind != INSTANCE:
        return f"{resource.kind} is marked and reported, never stopped"
    exempt = exemption(resource, target, config)
    if exempt is not None:
        return exempt
    if evaluate(resource.tags, config.taxonomy).compliant:
        return "compliant now"
    grace = config.capabilities.tag_enforcement.grace_days
    deadline = trusted_deadline(resource.tags, resource.created, grace, clocks)
    if deadline is None:
        return "its mark is gone (removed by hand?)"
    if isinstance(deadline, str):
        return deadline
    if deadline > clocks.judge:
        return f"its deadline {instant_value(deadline)} has not passed"
    if resource.state != "running":
        return f"{resource.state or 'not running'}"
    return resource.not_stoppable


# -- the plan for one target ---------------------------------------------------------------------------------------


def team_of(tags: Mapping[str, str], target: Target, config: FinOpsConfig) -> str | None:
    """The resource's owner tag (``notifications.owner_tag_key``, any casing, lower-cased), else the account's team."""
    return (tag_value(tags, config.notifications.owner_tag_key) or "").strip().lower() or target.team


def max_actions(config: FinOpsConfig) -> int:
    return max(10, ACTIONS_PER_BATCH // config.engine.targets_per_invocation)


def findings_budget(config: FinOpsConfig) -> int:
    return FINDINGS_BYTES_PER_BATCH // config.engine.targets_per_invocation


@dataclass(slots=True)
class _Planned:
    actions: list[Action] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    evaluated: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def plan(
    inventory: TagInventory,
    target: Target,
    ctx: RunContext,
    config: FinOpsConfig,
    *,
    wall_now: datetime | None = None,
) -> Plan:
    """``wall_now``: the worker's wall clock when it read the target (:func:`finops.rules.cleanup_plan.run_clocks`):
    a stop waits until the deadline has passed by both clocks, and new deadlines count from the later one."""
    clocks = run_clocks(ctx.now, wall_now)
    planned = _Planned()
    for resource in sorted(inventory.resources, key=lambda r: (r.kind, r.id)):
        _decide(resource, target, config, clocks, planned)
    actions, holds = _capped(planned.actions, max_actions(config), target)
    listed, unlisted = _listed(planned.findings, findings_budget(config))
    report: dict[str, Any] = {
        "evaluated": {kind: dict(sorted(teams.items())) for kind, teams in sorted(planned.evaluated.items())},
        "noncompliant": listed,
    }
    if unlisted:
        report["noncompliant_not_listed"] = unlisted
    max_skips = max(5, SKIPS_PER_BATCH // config.engine.targets_per_invocation)
    skipped = planned.skipped[:max_skips]
    if len(planned.skipped) > max_skips:
        holds.append(f"{len(planned.skipped) - max_skips} more overdue instances not stopped are not listed here")
    return Plan(tuple(actions), tuple(skipped), tuple(holds), report)


def _decide(
    resource: TaggedResource, target: Target, config: FinOpsConfig, clocks: RunClocks, planned: _Planned
) -> None:
    evaluation = evaluate(resource.tags, config.taxonomy)
    team = team_of(resource.tags, target, config)
    counts = planned.evaluated.setdefault(resource.kind, {}).setdefault(team or "", [0, 0])
    counts[0] += 1
    marked = MARK_TAG in resource.tags
    exempt = exemption(resource, target, config)

    def action(verb: str, reason: str, **details: Any) -> Action:
        before: dict[str, Any] = {"tags": dict(resource.tags), "state": resource.state}
        if marked:
            before[MARK_TAG] = resource.tags[MARK_TAG]
        arn = {"arn": resource.arn} if resource.arn else {}
        return Action(resource.id, resource.kind, verb, reason, before, team, resource.name, {**arn, **details})

    if evaluation.compliant:
        counts[1] += 1
        if marked:
            planned.actions.append(action(UNMARK, "compliant now: its tagging deadline is lifted"))
        return
    finding: dict[str, Any] = {
        "account": target.account,
        "region": target.region,
        "type": resource.kind,
        "id": resource.id,
        "name": resource.name,
        "team": team,
        **({"arn": resource.arn} if resource.arn and resource.kind in RDS_TYPES else {}),
        "missing": list(evaluation.missing),
        "invalid": dict(evaluation.invalid),
        "problems": dict(evaluation.problems),
    }
    planned.findings.append(finding)
    if exempt is not None:
        finding["exempt"] = exempt
        if marked:
            planned.actions.append(action(UNMARK, f"never enforced here: {exempt}"))
        return
    grace = config.capabilities.tag_enforcement.grace_days
    deadline = trusted_deadline(resource.tags, resource.created, grace, clocks)
    what = _summary(evaluation)
    if not isinstance(deadline, datetime):
        due = clocks.mark_from.replace(microsecond=0) + timedelta(days=grace)
        why = f"{deadline}, marked again" if isinstance(deadline, str) else "non-compliant"
        finding.update(deadline=instant_value(due), marking=True)
        planned.actions.append(
            action(MARK, f"{why} ({what}): fix the tags by {due:%Y-%m-%d}", deadline=instant_value(due))
        )
        return
    finding["deadline"] = instant_value(deadline)
    if deadline > clocks.judge:
        return  # marked, waiting out its grace period: the owner was told when it was marked
    finding["overdue"] = True
    if resource.kind != INSTANCE or resource.state != "running":
        return  # other types are marked and reported only; a stopped instance is already stopped
    blocked = stop_blocked(resource, target, config, clocks)
    if blocked is not None:
        planned.skipped.append(
            Skip(resource.id, resource.kind, f"past its tagging deadline, not stopped: {blocked}", team, resource.name)
        )
        return
    planned.actions.append(
        action(
            STOP,
            f"still non-compliant ({what}) after its deadline {deadline:%Y-%m-%d}",
            deadline=instant_value(deadline),
        )
    )


def _summary(evaluation: Evaluation) -> str:
    parts = [f"missing {', '.join(evaluation.missing)}"] if evaluation.missing else []
    parts += [f"{key}={value!r}" for key, value in evaluation.invalid.items()]
    return "; ".join(parts)


_PRIORITY = {STOP: 0, UNMARK: 1, MARK: 2}


def _capped(actions: Sequence[Action], cap: int, target: Target) -> tuple[list[Action], list[str]]:
    ordered = sorted(actions, key=lambda a: (_PRIORITY[a.action], a.kind, a.resource))
    if len(ordered) <= cap:
        return sorted(ordered, key=lambda a: (a.kind, a.resource)), []
    later = ordered[cap:]
    held = ", ".join(
        f"{sum(a.action == verb for a in later)} {verb}"
        for verb in (STOP, UNMARK, MARK)
        if any(a.action == verb for a in later)
    )
    note = (
        f"Tag enforcement: {len(later)} changes left for later runs in {target.label} ({held}): at most {cap} per "
        "account and region per run (ACTIONS_PER_BATCH / engine.targets_per_invocation)"
    )
    return sorted(ordered[:cap], key=lambda a: (a.kind, a.resource)), [note]


def _listed(findings: Sequence[dict[str, Any]], budget: int) -> tuple[list[dict[str, Any]], int]:
    listed: list[dict[str, Any]] = []
    used = 0
    for finding in findings:
        size = len(json.dumps(finding, separators=(",", ":"), default=str))
        if len(listed) >= MAX_LISTED or used + size > budget:
            break
        listed.append(finding)
        used += size
    return listed, len(findings) - len(listed)
