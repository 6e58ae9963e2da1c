"""Stopping, hibernating and starting EC2 instances in batches, and believing a start only once it runs."""

from __future__ import annotations

from typing import Any

import pytest
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason

from finops.services.scheduler import apply, read_inventory
from tests.lambdas.services.scheduler.conftest import (
    ACCOUNT,
    NOW,
    REGION,
    action,
    action_for,
    api_error,
    launch,
    no_sleep,
    state_of,
)

GONE = "i-0123456789abcdef0"  # an instance EC2 no longer knows (terminated long enough ago)


def test_120_instances_stop_in_three_calls_and_each_is_verified_stopped(scope, ec2, hooks):
    ids = launch(ec2, 120)
    actions = [action_for(r, "stop") for r in read_inventory(scope)]
    hooks.clear()

    outcomes = apply(scope, actions, now=NOW, sleep=no_sleep)

    assert set(state_of(ec2, *ids).values()) == {"stopped"}
    assert [o.action for o in outcomes] == actions
    assert all(
        o.ok and o.after == {"state": "stopped", "state_reason": "Client.UserInitiatedShutdown"} for o in outcomes
    )
    assert [len(p["InstanceIds"]) for p in hooks.params("StopInstances")] == [50, 50, 20]
    assert hooks.by_operation() == {"ec2:StopInstances": 3, "ec2:DescribeInstances": 3}


def test_120_instances_start_in_three_calls_and_each_is_verified_running(scope, ec2, hooks):
    ids = launch(ec2, 120)
    ec2.stop_instances(InstanceIds=ids)
    hooks.clear()

    outcomes = apply(scope, [action(i, "start") for i in ids], now=NOW, sleep=no_sleep)

    assert set(state_of(ec2, *ids).values()) == {"running"}
    assert all(o.ok and o.after == {"state": "running"} for o in outcomes)
    assert [len(p["InstanceIds"]) for p in hooks.params("StartInstances")] == [50, 50, 20]


def test_hibernations_are_their_own_batch(scope, ec2, hooks):
    plain = launch(ec2, 3)
    hibernating = launch(ec2, 2, hibernation=True)

    outcomes = apply(
        scope,
        [action(i, "stop") for i in plain] + [action(i, "hibernate") for i in hibernating],
        now=NOW,
        sleep=no_sleep,
    )

    assert all(o.ok for o in outcomes)
    assert set(state_of(ec2, *plain, *hibernating).values()) == {"stopped"}
    calls = {(p["Hibernate"], tuple(p["InstanceIds"])) for p in hooks.params("StopInstances")}
    assert calls == {(False, tuple(plain)), (True, tuple(hibernating))}


def test_an_instance_gone_since_the_read_fails_alone_and_the_rest_stop(scope, ec2, hooks):
    # Given 49 instances and, among them in the plan, one EC2 no longer knows: StopInstances refuses all 50 at once
    ids = launch(ec2, 49)
    plan = [*ids[:20], GONE, *ids[20:]]

    # When the plan is applied
    outcomes = apply(scope, [action(i, "stop") for i in plan], now=NOW, sleep=no_sleep)

    # Then exactly that one failed, with the API's own error, and every other instance is stopped
    failed = [o for o in outcomes if not o.ok]
    assert [o.action.resource for o in failed] == [GONE]
    assert failed[0].error is not None
    assert failed[0].error.startswith("InvalidInstanceID.NotFound: ")
    assert set(state_of(ec2, *ids).values()) == {"stopped"}
    assert 1 < hooks.count("StopInstances") <= 13  # bisected: about 2 x log2(50) calls, not one per instance


def test_a_start_refused_for_capacity_fails_that_instance_and_starts_the_others(scope, ec2, hooks):
    ids = launch(ec2, 5)
    ec2.stop_instances(InstanceIds=ids)
    unlucky = ids[3]

    def no_capacity_for_unlucky(params: dict[str, Any], **_: Any) -> Any:
        if unlucky in params["body"].values():
            return api_error(
                "InsufficientInstanceCapacity", "We currently do not have sufficient m6i.large capacity", 500
            )
        return None

    hooks.register("before-call.ec2.StartInstances", no_capacity_for_unlucky)

    outcomes = apply(scope, [action(i, "start") for i in ids], now=NOW, sleep=no_sleep)

    by_id = {o.action.resource: o for o in outcomes}
    assert not by_id[unlucky].ok
    assert (
        by_id[unlucky].error == "InsufficientInstanceCapacity: We currently do not have sufficient m6i.large capacity"
    )
    assert state_of(ec2, unlucky) == {unlucky: "stopped"}
    others = [i for i in ids if i != unlucky]
    assert all(by_id[i].ok for i in others)
    assert set(state_of(ec2, *others).values()) == {"running"}


def test_a_start_accepted_that_falls_back_to_stopped_is_a_failure_naming_the_reason(scope, ec2, hooks):
    # Given an instance whose EBS key is disabled: EC2 accepts the start, then the instance goes back to stopped
    ids = launch(ec2, 3)
    ec2.stop_instances(InstanceIds=ids)
    encrypted = ids[1]

    def key_disabled(**_: Any) -> None:
        instance = ec2_backends[ACCOUNT][REGION].get_instance(encrypted)
        instance._state.name, instance._state.code = "stopped", 80
        instance.state_reason = StateReason(
            "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state",
            "Client.InvalidKMSKey.InvalidState",
        )

    hooks.register("after-call.ec2.StartInstances", key_disabled)

    # When the plan starts all three
    outcomes = apply(scope, [action(i, "start") for i in ids], now=NOW, sleep=no_sleep)

    # Then that start is reported failed, never done, and the others run
    by_id = {o.action.resource: o for o in outcomes}
    assert not by_id[encrypted].ok
    assert by_id[encrypted].error == (
        "start accepted, then back to stopped: "
        "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state"
    )
    assert by_id[encrypted].after == {"state": "stopped", "state_reason": "Client.InvalidKMSKey.InvalidState"}
    assert state_of(ec2, encrypted) == {encrypted: "stopped"}
    assert [by_id[i].ok for i in ids if i != encrypted] == [True, True]


def rewrite_state(instance_id: str, state: str, *, times: int | None = None, reason: str = "") -> Any:
    """An ``after-call`` handler that makes DescribeInstances show ``instance_id`` in ``state`` (the first
    ``times`` calls, or always), as a slow or not-yet-consistent EC2 would."""
    seen = {"calls": 0}

    def handler(parsed: dict[str, Any], **_: Any) -> None:
        seen["calls"] += 1
        if times is not None and seen["calls"] > times:
            return
        for reservation in parsed.get("Reservations", ()):
            for instance in reservation["Instances"]:
                if instance["InstanceId"] == instance_id:
                    instance["State"] = {"Code": 0, "Name": state}
                    instance["StateReason"] = {"Code": reason, "Message": f"{reason}: User initiated shutdown"}

    return handler


def test_a_start_still_pending_when_the_wait_ends_is_not_reported_as_started(scope, ec2, hooks):
    ids = launch(ec2, 2)
    ec2.stop_instances(InstanceIds=ids)
    slow = ids[0]
    hooks.register("after-call.ec2.DescribeInstances", rewrite_state(slow, "pending"))
    slept: list[float] = []

    outcomes = apply(scope, [action(i, "start") for i in ids], now=NOW, sleep=slept.append, max_wait_seconds=60)

    assert (outcomes[0].ok, outcomes[0].error) == (False, "not running after 60 s (state pending)")
    assert outcomes[0].after == {"state": "pending"}
    assert outcomes[1].ok
    assert sum(slept) == 60
    assert hooks.count("DescribeInstances") == 1 + len(slept)  # each poll reads only what has not settled


def test_a_start_not_yet_visible_is_polled_until_it_runs(scope, ec2, hooks):
    # DescribeInstances is eventually consistent: right after the start it may still show our own stop
    (instance,) = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance])
    hooks.register(
        "after-call.ec2.DescribeInstances",
        rewrite_state(instance, "stopped", times=2, reason="Client.UserInitiatedShutdown"),
    )
    slept: list[float] = []

    (outcome,) = apply(scope, [action(instance, "start")], now=NOW, sleep=slept.append)

    assert outcome.ok
    assert outcome.after == {"state": "running"}
    assert slept == [5.0, 5.0]


def test_a_plan_the_scheduler_cannot_carry_out_raises_before_any_call(scope, ec2, hooks):
    (instance,) = launch(ec2)

    with pytest.raises(ValueError, match="cannot 'reboot'"):
        apply(scope, [action(instance, "stop"), action(instance, "reboot")], now=NOW, sleep=no_sleep)

    assert hooks.calls == []
    assert state_of(ec2, instance) == {instance: "running"}
