"""The scheduler's part of `make demo`: a Friday-evening stop and a Monday-morning start across the Organization.

Runs the engine as the state machine does (start, fan-out over the worker, aggregate) against the simulated
Organization, first as the shipped config says (report mode: a preview), then in enforce mode.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from finops.models.base import Mode
from finops.models.config import FinOpsConfig

EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # Friday 19:00 in Berlin
MORNING = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin
# The tick before the evening stop, so the preview and the enforced run both see the 19:00 transition.
BEFORE_EVENING = "2026-11-27T17:45:00Z"


def at(when: datetime, **more: Any) -> dict[str, Any]:
    return {"time": when.isoformat().replace("+00:00", "Z"), **more}


def enforcing(config: FinOpsConfig) -> FinOpsConfig:
    scheduler = config.capabilities.scheduler.model_copy(update={"mode": Mode.ENFORCE})
    return config.model_copy(update={"capabilities": config.capabilities.model_copy(update={"scheduler": scheduler})})


def _line(item: dict[str, Any]) -> str:
    what = item.get("name") or item["resource"]
    verb = item["action"] if item["action"] not in ("skip", "target") else ""
    return f"{item['account']} {item['region']:<9} {verb:<15} {what:<28} {item['reason']}"


def summarize(demo: Any, document: dict[str, Any], *, skipped: bool = True) -> None:
    counts, targets = document["counts"], document["targets"]
    demo.say(
        f"   {document['status']} ({document['kind']}, {document['mode']} mode): {counts['acted']} acted, "
        f"{counts['failed']} failed, {counts['skipped']} skipped worth knowing; targets {targets['done']} done, "
        f"{targets['failed']} failed of {targets['total']}"
    )
    for item in document.get("acted", []):
        demo.say(f"   acted   {_line(item)}")
    for item in document.get("failed", []):
        demo.say(f"   failed  {_line(item)}")
    if skipped:
        for item in document.get("skipped", []):
            demo.say(f"   skipped {_line(item)}")


def run_scheduler_steps(demo: Any, hub: Any, sink: Any, sim: Any) -> None:
    config = demo.config
    enforce = enforcing(config)
    sink.accept_channel("#payments-oncall")  # the bot was invited back after the alert steps
    staging = "444444444444"

    def group_sizes(name: str) -> str:
        autoscaling = sim.session(staging).client("autoscaling", region_name="eu-west-1")
        found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return f"min {found['MinSize']} / desired {found['DesiredCapacity']} / max {found['MaxSize']}"

    demo.title("Scheduler, Friday 19:00 Berlin, as shipped (report mode): the plan, and nothing changes")
    preview = hub.run("scheduler", at(EVENING, since=BEFORE_EVENING))
    summarize(demo, preview, skipped=False)
    demo.say(f"   payments-checkout-staging still {group_sizes('payments-checkout-staging')}")

    demo.title("The same evening in enforce mode: stop the non-prod fleet; prod, opted out and protected untouched")
    posted = len(sink.posts)
    evening = hub.run("scheduler", at(EVENING, since=BEFORE_EVENING), config=enforce)
    summarize(demo, evening)
    demo.say(f"   payments-checkout-staging now {group_sizes('payments-checkout-staging')} (sizes kept in a tag)")
    for post in sink.posts[posted:]:
        demo.show(post)

    demo.title("Saturday: the platform team engages the kill switch; the reconcile run is paused, nothing read")
    hub.set_kill_switch("on")
    paused = hub.run("scheduler", at(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)), config=enforce)
    demo.say(f"   {paused['status']}: {paused['reason']}")
    hub.set_kill_switch(None)
    demo.say("   switch removed (a parameter that does not exist means no switch)")

    demo.title("Monday 07:00 Berlin: the morning start; the group back to its exact sizes; a start that fails")
    posted = len(sink.posts)
    morning = hub.run("scheduler", at(MORNING), config=enforce)
    summarize(demo, morning, skipped=False)
    demo.say(f"   payments-checkout-staging restored to {group_sizes('payments-checkout-staging')}")
    for post in sink.posts[posted:]:
        if post.channel == "#payments-oncall":
            demo.show(post)
