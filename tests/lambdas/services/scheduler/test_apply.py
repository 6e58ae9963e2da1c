"""One plan across services: one outcome per action in the plan's order, and exactly the declared IAM actions."""

from __future__ import annotations

import pytest

from finops.services import scheduler
from finops.services.scheduler import MEMBER_PERMISSIONS, apply, read_inventory
from tests.lambdas.services.scheduler.conftest import (
    NOW,
    action,
    action_for,
    create_cluster,
    create_db,
    create_group,
    launch,
    no_sleep,
)


def build_estate(ec2_client, autoscaling_client, rds_client) -> None:
    launch(ec2_client, 2, name="web")
    create_group(ec2_client, autoscaling_client, "web-asg", min_size=1, desired=2, max_size=4)
    create_db(rds_client, "orders-db")
    create_cluster(rds_client, "ledger", members=1)


def schedulable(scope):
    return [r for r in read_inventory(scope) if r.not_schedulable is None]


def test_a_plan_across_services_gives_one_outcome_per_action_in_its_order(scope, ec2, autoscaling, rds):
    build_estate(ec2, autoscaling, rds)
    plan = [action_for(r, "stop") for r in reversed(schedulable(scope))]  # kinds interleaved, not grouped

    outcomes = apply(scope, plan, now=NOW, sleep=no_sleep)

    assert [o.action for o in outcomes] == plan
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert {r.state for r in schedulable(scope)} == {"stopped"}


def test_a_read_and_a_stop_and_start_of_every_kind_call_exactly_the_declared_actions(
    scope, ec2, autoscaling, rds, hooks
):
    build_estate(ec2, autoscaling, rds)
    hooks.clear()

    resources = schedulable(scope)
    apply(scope, [action_for(r, "stop") for r in resources], now=NOW, sleep=no_sleep)
    apply(scope, [action_for(r, "start") for r in schedulable(scope)], now=NOW, sleep=no_sleep)

    called = set(hooks.by_operation())
    # kms:CreateGrant is EC2's call on our behalf (starting an instance with a customer-key volume), not ours
    assert called == set(MEMBER_PERMISSIONS) - {"kms:CreateGrant"}


def test_member_permissions_are_the_modules_declarations():
    modules = (scheduler.inventory, scheduler.ec2, scheduler.autoscaling, scheduler.rds)
    declared = {permission for module in modules for permission in module.PERMISSIONS}

    assert tuple(sorted(declared)) == MEMBER_PERMISSIONS
    assert "kms:CreateGrant" in scheduler.ec2.PERMISSIONS


def test_two_actions_for_one_resource_raise_before_any_call(scope, hooks):
    with pytest.raises(ValueError, match="two actions for rds:db orders-db"):
        apply(
            scope,
            [action("orders-db", "stop", kind="rds:db"), action("orders-db", "start", kind="rds:db")],
            now=NOW,
            sleep=no_sleep,
        )

    assert hooks.calls == []
