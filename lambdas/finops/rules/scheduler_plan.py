"""The scheduler's decision for one target: a pure function of the inventory, the schedules, the tags and ``now``.

What makes a resource act in a run (each only toward its schedule's desired state, and only when it is not there):
- its schedule changed state since the last completed run (a tick acts on transitions, so a resource started by
  hand outside a window stays running until the next stop transition);
- its override expired since the last completed run (back to its schedule);
- in a reconcile run: its schedule is ``enforced``; or it is an RDS database or cluster that AWS restarted by itself
  after seven days stopped (our ``finops:scheduler-stopped-at`` tag is at least seven days old).
Never: a prod account, a prod environment tag, the protect tag, opted out, an override still running, stop-only
schedules starting anything, resources AWS will not stop by themselves (group members, replicas, cluster members).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from finops.engine.model import Action, Plan, RunContext, Skip, Target
from finops.models.config import FinOpsConfig, tag_value
from finops.models.inventory import Resource
from finops.models.scheduler_config import Schedule, SchedulerConfig
from finops.rules.schedule import desired_state, next_transition
from finops.rules.scheduler_tags import SIZES_TAG, STOPPED_AT_TAG

RDS_AUTO_RESTART = timedelta(days=7)
RECONCILE = "reconcile"
_SERVICE = {"ec2:instance": "ec2", "autoscaling:group": "ec2", "rds:db": "rds", "rds:cluster": "aurora"}


def _instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def schedule_of(resource: Resource, scheduler: SchedulerConfig, environment_key: str) -> str | None:
    """The schedule a resource asks for: its schedule tag, else ``default_by_environment`` for its environment."""
    named = (resource.tags.get(scheduler.tag_key) or "").strip()
    if named:
        return named
    environment = (tag_value(resource.tags, environment_key) or "").strip().lower()
    defaults = {k.strip().lower(): v for k, v in scheduler.default_by_environment.items()}
    return defaults.get(environment)


def _guard(resource: Resource, target: Target, config: FinOpsConfig, name: str) -> str | None:
    """Why nothing may change on this resource, whatever its schedule says."""
    if target.prod:
        return f"prod account ({target.prod_reason})"
    if guard := config.safety.tag_guard(resource.tags):
        return guard
    if name.lower() == config.capabilities.scheduler.opt_out_value.lower():
        return f"opted out ({config.capabilities.scheduler.tag_key}={name})"
    return None


def _why_act(
    resource: Resource, schedule: Schedule, name: str, ctx: RunContext, scheduler: SchedulerConfig
) -> str | None:
    """Why this run brings the resource to its desired state (None: leave it as it is)."""
    due = set(ctx.params.get("due", ()))
    override = _instant(resource.tags.get(scheduler.override_tag_key, ""))
    if name in due:
        return f"schedule {name} changed state"
    override_since = _instant(str(ctx.params.get("override_since") or "")) or ctx.since
    if override is not None and override_since is not None and override_since < override <= ctx.now:
        return f"override until {override.isoformat()} ended: back to schedule {name}"
    if ctx.kind == RECONCILE and schedule.enforced:
        return f"schedule {name} is enforced"
    stopped_at = _instant(resource.tags.get(STOPPED_AT_TAG, ""))
    if (
        ctx.kind == RECONCILE
        and resource.kind in ("rds:db", "rds:cluster")
        and stopped_at is not None
        and ctx.now - stopped_at >= RDS_AUTO_RESTART
        and _stayed_stopped(schedule, stopped_at, ctx.now)
    ):
        return f"restarted by AWS after 7 days stopped (stopped {stopped_at:%Y-%m-%d}); schedule {name} says stopped"
    return None


def _stayed_stopped(schedule: Schedule, since: datetime, now: datetime) -> bool:
    """No start was scheduled between our stop and now: running now is AWS's doing, not ours or a window's."""
    upcoming = next_transition(schedule, since, "start")
    return upcoming is None or upcoming.at > now


def _details(resource: Resource, schedule: Schedule, now: datetime, name: str, *, saves: bool) -> dict[str, Any]:
    """What the digest shows; for a stop, the off period until the schedule's next start (None: no start comes)."""
    upcoming = next_transition(schedule, now, "start") if saves and not schedule.stop_only else None
    return {
        "schedule": name,
        "service": _SERVICE[resource.kind],
        "size": resource.size,
        "count": resource.count,
        "off_hours": round((upcoming.at - now).total_seconds() / 3600, 2) if upcoming else None,
        "next_start": upcoming.at.isoformat() if upcoming else None,
    }


def _before(resource: Resource) -> dict[str, Any]:
    before: dict[str, Any] = {"state": resource.raw_state or resource.state, "tags": dict(resource.tags)}
    if resource.size:
        before["size"] = resource.size
    before.update(resource.details)
    return before


def plan_resource(resource: Resource, target: Target, ctx: RunContext, config: FinOpsConfig) -> Action | Skip | None:
    scheduler = config.capabilities.scheduler
    name = schedule_of(resource, scheduler, config.safety.environment_tag_key)
    if name is None:
        return None  # not scheduled: nothing to say
    team = (resource.tags.get(config.notifications.owner_tag_key) or "").strip().lower() or target.team
    label = resource.name

    def skip(reason: str, *, notable: bool = True) -> Skip:
        return Skip(resource.id, resource.kind, reason, team=team, name=label, notable=notable)

    guarded = _guard(resource, target, config, name)
    if guarded:
        return skip(guarded)
    schedule = scheduler.schedules.get(name)
    if schedule is None:
        return skip(f"unknown schedule {name!r} (known: {', '.join(sorted(scheduler.schedules)) or 'none'})")
    if resource.not_schedulable:
        # Group and cluster members follow their group or cluster; say so only for what a reader would not expect.
        return skip(resource.not_schedulable, notable="member of" not in resource.not_schedulable)
    desired = desired_state(schedule, ctx.now)
    override = _instant(resource.tags.get(scheduler.override_tag_key, ""))
    if resource.tags.get(scheduler.override_tag_key) and override is None:
        return skip(
            f"{scheduler.override_tag_key}={resource.tags[scheduler.override_tag_key]!r} is not an ISO 8601 "
            "instant with a timezone: left running as asked, fix the tag"
        )
    if override is not None and ctx.now < override:
        return skip(f"override until {override.isoformat()}", notable=desired == "stopped")
    reason = _why_act(resource, schedule, name, ctx, scheduler)
    if reason is None:
        return None
    if resource.state not in ("running", "stopped"):
        return skip(
            f"{resource.raw_state or resource.state} when its schedule changed: left as it is (an enforced schedule's "
            "reconcile, or the next transition, acts on it)"
        )
    if resource.state == desired or (desired == "running" and schedule.stop_only):
        return None
    verb = "start" if desired == "running" else "stop"
    if verb == "start" and resource.kind == "autoscaling:group" and SIZES_TAG not in resource.tags:
        # At zero without sizes we remembered: someone keeps it there on purpose; there is nothing to restore.
        return skip("at zero and not stopped by the scheduler: nothing to restore", notable=False)
    if verb == "stop" and resource.kind == "ec2:instance" and schedule.hibernate and resource.hibernation:
        verb = "hibernate"
    return Action(
        resource=resource.id,
        kind=resource.kind,
        action=verb,
        reason=reason,
        before=_before(resource),
        team=team,
        name=label,
        details=_details(resource, schedule, ctx.now, name, saves=verb != "start"),
    )


def plan(inventory: Sequence[Resource], target: Target, ctx: RunContext, config: FinOpsConfig) -> Plan:
    actions: list[Action] = []
    skipped: list[Skip] = []
    for resource in inventory:
        decided = plan_resource(resource, target, ctx, config)
        if isinstance(decided, Action):
            actions.append(decided)
        elif isinstance(decided, Skip):
            skipped.append(decided)
    return Plan(tuple(actions), tuple(skipped))
