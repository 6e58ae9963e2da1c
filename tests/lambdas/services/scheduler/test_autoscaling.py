"""Stopping an Auto Scaling group to zero and bringing it back to exactly the sizes it had."""

from __future__ import annotations

from typing import Any

import pytest

from finops.services.scheduler import apply, read_inventory
from tests.lambdas.services.scheduler.conftest import (
    NOW,
    action,
    action_for,
    api_error,
    create_group,
    group_of,
    no_sleep,
)


def group_action(scope, name: str, verb: str):
    """The action the planner makes from a fresh read of the group."""
    (group,) = [r for r in read_inventory(scope) if r.id == name]
    return action_for(group, verb)


@pytest.mark.parametrize("sizes", [(1, 2, 4), (0, 3, 5)])
def test_stop_then_start_restores_exactly_the_sizes_and_removes_the_tag(scope, ec2, autoscaling, sizes):
    # Given a running group
    low, desired, high = sizes
    create_group(ec2, autoscaling, "web-asg", min_size=low, desired=desired, max_size=high, team="payments")
    remembered = {"min": low, "desired": desired, "max": high}

    # When it is stopped
    (stopped,) = apply(scope, [group_action(scope, "web-asg", "stop")], now=NOW, sleep=no_sleep)

    # Then it runs nothing and carries its sizes
    assert stopped.ok, stopped.error
    assert stopped.after == {"min": 0, "desired": 0, "max": 0, "remembered": remembered}
    assert group_of(autoscaling, "web-asg") == {
        "sizes": (0, 0, 0),
        "tags": {"team": "payments", "finops:scheduler-sizes": f"min={low},desired={desired},max={high}"},
        "instances": 0,
    }

    # When it is started again
    (started,) = apply(scope, [group_action(scope, "web-asg", "start")], now=NOW, sleep=no_sleep)

    # Then it is back to exactly its sizes, with its instances, and the tag is gone
    assert started.ok, started.error
    assert started.after == remembered
    assert group_of(autoscaling, "web-asg") == {"sizes": sizes, "tags": {"team": "payments"}, "instances": desired}


def test_the_sizes_are_recorded_before_the_group_is_scaled_to_zero(scope, ec2, autoscaling, hooks):
    create_group(ec2, autoscaling, "web-asg", min_size=1, desired=2, max_size=4)

    apply(scope, [action("web-asg", "stop", kind="autoscaling:group")], now=NOW, sleep=no_sleep)

    writes = [name for _, name, _ in hooks.calls if name in ("CreateOrUpdateTags", "UpdateAutoScalingGroup")]
    assert writes == ["CreateOrUpdateTags", "UpdateAutoScalingGroup"]
    (update,) = hooks.params("UpdateAutoScalingGroup")
    assert (update["MinSize"], update["DesiredCapacity"], update["MaxSize"]) == (0, 0, 0)


def test_a_second_stop_of_a_stopped_group_keeps_its_real_sizes(scope, ec2, autoscaling, hooks):
    create_group(ec2, autoscaling, "web-asg", min_size=1, desired=2, max_size=4)
    apply(scope, [group_action(scope, "web-asg", "stop")], now=NOW, sleep=no_sleep)
    hooks.clear()

    (again,) = apply(scope, [group_action(scope, "web-asg", "stop")], now=NOW, sleep=no_sleep)

    assert again.ok
    assert hooks.count("CreateOrUpdateTags") == 0
    assert group_of(autoscaling, "web-asg")["tags"]["finops:scheduler-sizes"] == "min=1,desired=2,max=4"
    (started,) = apply(scope, [group_action(scope, "web-asg", "start")], now=NOW, sleep=no_sleep)
    assert started.after == {"min": 1, "desired": 2, "max": 4}
    assert group_of(autoscaling, "web-asg")["sizes"] == (1, 2, 4)


def test_a_start_without_the_sizes_tag_fails_and_leaves_the_group_alone(scope, ec2, autoscaling, hooks):
    create_group(ec2, autoscaling, "web-asg", min_size=0, desired=0, max_size=0)

    (outcome,) = apply(scope, [group_action(scope, "web-asg", "start")], now=NOW, sleep=no_sleep)

    assert (outcome.ok, outcome.error) == (False, "sizes to restore unknown: tag finops:scheduler-sizes missing")
    assert hooks.count("UpdateAutoScalingGroup") == 0
    assert group_of(autoscaling, "web-asg")["sizes"] == (0, 0, 0)


def test_when_the_sizes_cannot_be_recorded_the_group_keeps_running(scope, ec2, autoscaling, hooks):
    create_group(ec2, autoscaling, "web-asg", min_size=1, desired=2, max_size=4)
    create_group(ec2, autoscaling, "api-asg", min_size=1, desired=1, max_size=2)

    def refuse_web_tags(params: dict[str, Any], **_: Any) -> Any:
        if "web-asg" in params["body"].values():
            return api_error("AccessDenied", "not authorized to perform: autoscaling:CreateOrUpdateTags")
        return None

    hooks.register("before-call.autoscaling.CreateOrUpdateTags", refuse_web_tags)

    web, api = apply(
        scope,
        [action("web-asg", "stop", kind="autoscaling:group"), action("api-asg", "stop", kind="autoscaling:group")],
        now=NOW,
        sleep=no_sleep,
    )

    assert (web.ok, web.error) == (
        False,
        "sizes not recorded, group left running: AccessDenied: not authorized to perform: autoscaling:CreateOrUpdateTags",
    )
    assert group_of(autoscaling, "web-asg")["sizes"] == (1, 2, 4)
    assert api.ok
    assert group_of(autoscaling, "api-asg")["sizes"] == (0, 0, 0)


def test_a_group_that_is_gone_is_a_failed_outcome(scope):
    (outcome,) = apply(scope, [action("old-asg", "stop", kind="autoscaling:group")], now=NOW, sleep=no_sleep)

    assert (outcome.ok, outcome.error) == (False, "Auto Scaling group old-asg not found")
