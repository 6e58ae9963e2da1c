"""The storage clean-up's part of `make demo`: mark and notify, an owner keeps one, the sweep after the grace period
(final snapshots, deletions, a tripped circuit breaker, a region without a Recycle Bin rule), and a restore.

Runs the engine as the state machine does against the simulated Organization, first as the shipped config says
(report mode), then in enforce mode.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from tools.demo_scheduler import at, summarize

MARK_DAY = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # Tuesday's daily run
SWEEP_DAY = datetime(2026, 12, 9, 6, 0, tzinfo=UTC)  # the first run after the 7-day grace period
KEPT_BY_OWNER = "staging-perf-scratch"  # the marked volume whose owner tags it to keep it (any other estate: the first)


def cleanup_enforcing(config: FinOpsConfig) -> FinOpsConfig:
    cleanup = config.capabilities.ebs_cleanup.model_copy(update={"mode": Mode.ENFORCE})
    return config.model_copy(update={"capabilities": config.capabilities.model_copy(update={"ebs_cleanup": cleanup})})


def _holds(demo: Any, document: dict[str, Any]) -> None:
    for held in document.get("held_targets", []):
        for text in held["holds"]:
            demo.say(f"   held    {held['account']} {held['region']:<9} {text}")


def _left_alone(demo: Any, document: dict[str, Any]) -> None:
    """What was not touched, by reason: protected, AMI-backed, Backup/DLM, shared, prod, held."""
    reasons = Counter(item["reason"] for item in document.get("skipped", []))
    for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        demo.say(f"   left alone ×{count:<3} {reason}")


def run_cleanup_steps(demo: Any, hub: Any, sink: Any, sim: Any) -> None:
    from finops.aws.clients import AwsClients
    from finops.services.audit import AuditTrail, read_trail
    from tools.restore import find_record, restore

    config = demo.config
    enforce = cleanup_enforcing(config)

    demo.title("Storage clean-up, Tue 1 Dec, as shipped (report mode): the whole plan, and nothing changes")
    preview = hub.run("ebs_cleanup", at(MARK_DAY))
    summarize(demo, preview, skipped=False)
    _holds(demo, preview)

    demo.title("The same run in enforce mode: eligible volumes and snapshots marked, their owners told")
    posted = len(sink.posts)
    marking = hub.run("ebs_cleanup", at(MARK_DAY), config=enforce)
    summarize(demo, marking, skipped=False)
    _left_alone(demo, marking)
    _holds(demo, marking)
    shown = {p.channel: p for p in sink.posts[posted:]}
    for channel in ("#data-oncall", "#finops-alerts"):
        if channel in shown:
            demo.show(shown[channel])

    candidates = sorted(
        (
            (a.get("name") or a["resource"], r["target"]["account"], r["target"]["region"], a)
            for r in marking.get("results", [])
            for a in r["planned"]
            if a["action"] == "mark" and a["kind"] == "ec2:volume" and not r.get("holds")
        ),
        key=lambda c: c[:3],
    )
    chosen = [c for c in candidates if c[0] == KEPT_BY_OWNER] or candidates
    kept = chosen[0][1:] if chosen else None
    if kept is not None:
        account, region, action = kept
        demo.title(f"An owner keeps one: {action.get('name') or action['resource']} tagged finops:protect=true")
        demo.say(f"   $ {action['details']['keep_command']}")
        ec2 = sim.session(account).client("ec2", region_name=region)
        ec2.create_tags(Resources=[action["resource"]], Tags=[{"Key": "finops:protect", "Value": "true"}])

    demo.title("Wed 9 Dec, the grace period over: re-checked fresh, final snapshots, deleted and verified")
    posted = len(sink.posts)
    sweep = hub.run("ebs_cleanup", at(SWEEP_DAY), config=enforce)
    summarize(demo, sweep, skipped=False)
    _left_alone(demo, sweep)
    _holds(demo, sweep)
    for post in sink.posts[posted:]:
        if post.channel in ("#data-oncall", "#finops-alerts"):
            demo.show(post)

    deleted = next(
        (
            o["after"]["record_id"]
            for r in sweep.get("results", [])
            for o in r["outcomes"]
            if o["ok"] and o["after"].get("record_id")
        ),
        None,
    )
    if deleted is None:
        demo.say("   (no volume was deleted with a final snapshot: nothing to restore)")
        return
    trail = read_trail(hub.dynamodb, hub.audit_table)
    demo.title("Someone needed it after all: make restore RECORD=<id>, report first, then ENFORCE=yes")
    demo.say(f"   $ make restore RECORD={deleted}")
    quiet = lambda _text: None  # noqa: E731 - the demo prints its own lines
    clients = AwsClients(hub.session, region=hub.region)
    plan = restore(deleted, scopes=clients, config=config, audit_record=find_record(trail, deleted), say=quiet)
    volume = plan.to_json()["volume"]
    demo.say(
        f"   plan: CreateVolume from {volume['SnapshotId']} in {volume['AvailabilityZone']}, {volume['VolumeType']}, "
        f"{volume['Size']} GiB; {plan.to_json()['status']}, nothing changed"
    )
    demo.say(f"   $ make restore RECORD={deleted} ENFORCE=yes")
    done = restore(
        deleted,
        scopes=clients,
        config=config,
        enforce=True,
        audit_record=find_record(trail, deleted),
        audit=AuditTrail(hub.dynamodb, hub.audit_table, clock=lambda: SWEEP_DAY),
        sleep=lambda _: None,
        say=quiet,
    )
    demo.say(f"   {done.to_json()['status']}: {done.restored_volume_id} (tagged finops:restored-from)")
