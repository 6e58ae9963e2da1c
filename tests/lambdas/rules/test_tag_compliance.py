"""Tag compliance's pure rules: each resource's tags against the shipped taxonomy (team: payments|data|platform, lower
case; environment: prod|staging|dev, lower case; cost-center: ^CC-[0-9]{4}$; owner optional), and tag enforcement's
plan for one target: mark, unmark, stop after the deadline, and never anything on what is prod, protected or
excluded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.engine.model import Outcome, Plan, RunContext, Target, TargetResult
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_plan import run_clocks
from finops.rules.tag_compliance import (
    CLUSTER,
    DB,
    INSTANCE,
    MARK,
    MARK_TAG,
    SNAPSHOT,
    STOP,
    UNMARK,
    VOLUME,
    TaggedResource,
    TagInventory,
    evaluate,
    exemption,
    plan,
    trusted_deadline,
)
from tests.stacks.template_helpers import config_with

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
LAUNCHED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
GOOD = {"team": "data", "environment": "dev", "cost-center": "CC-0107"}
DEV = Target("555555555555", "eu-west-1", name="data-dev", team="data")
PROD = Target("333333333333", "eu-west-1", name="payments-prod", team="payments", prod=True, prod_reason="OU Prod")


def ctx(now: datetime = NOW, mode: Mode = Mode.ENFORCE) -> RunContext:
    return RunContext("run-1", "tag_compliance", "daily", now, mode)


def instance(tags: dict[str, str], *, id: str = "i-1", state: str = "running", **kw: Any) -> TaggedResource:
    return TaggedResource(INSTANCE, id, tags, created=LAUNCHED, name=tags.get("Name"), state=state, **kw)


def deadline(days_from_now: float) -> str:
    return (NOW + timedelta(days=days_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def one(plan_: Plan) -> tuple[str, str] | None:
    assert len(plan_.actions) <= 1, plan_.actions
    return (plan_.actions[0].action, plan_.actions[0].reason) if plan_.actions else None


# -- evaluating tags -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "missing", "invalid", "why"),
    [
        (GOOD, [], {}, {}),
        ({**GOOD, "owner": "alice@acme.example", "Name": "x"}, [], {}, {}),  # optional and unknown keys are fine
        (
            {},
            ["team", "environment", "cost-center"],
            {},
            {
                "team": "missing: one of payments, data, platform",
                "cost-center": "missing: a value matching ^CC-[0-9]{4}$",
            },
        ),
        ({**GOOD, "team": "Data"}, [], {"team": "Data"}, {"team": "wrong case: write data"}),
        (
            {**GOOD, "environment": "development"},
            [],
            {"environment": "development"},
            {"environment": "value not allowed: use one of prod, staging, dev"},
        ),
        (
            {**GOOD, "cost-center": "CC-42"},
            [],
            {"cost-center": "CC-42"},
            {"cost-center": "does not match ^CC-[0-9]{4}$"},
        ),
        ({**GOOD, "team": " data "}, [], {"team": " data "}, {"team": "spaces around the value: write data"}),
        ({**GOOD, "team": ""}, [], {"team": ""}, {"team": "empty: set it to one of payments, data, platform"}),
        # a key in another casing is a wrong-case key, said so, not "missing"
        (
            {"Team": "data", "environment": "dev", "cost-center": "CC-0107"},
            [],
            {"Team": "data"},
            {"Team": "wrong case of the key: the taxonomy spells it team"},
        ),
        (
            {"TEAM": "Data", "environment": "dev", "cost-center": "CC-0107"},
            [],
            {"TEAM": "Data"},
            {"TEAM": "wrong case of the key: the taxonomy spells it team; and its value: wrong case: write data"},
        ),
        # the right key and a second casing of it: the extra one is to go
        (
            {**GOOD, "Team": "payments"},
            [],
            {"Team": "payments"},
            {"Team": "team again, written 'Team': remove Team"},
        ),
        # an optional key is checked when present
        (
            {**GOOD, "Owner": "bob"},
            [],
            {"Owner": "bob"},
            {"Owner": "wrong case of the key: the taxonomy spells it owner"},
        ),
    ],
)
def test_each_resource_is_judged_key_by_key_against_the_taxonomy(
    config: FinOpsConfig, tags: dict[str, str], missing: list[str], invalid: dict[str, str], why: dict[str, str]
) -> None:
    evaluation = evaluate(tags, config.taxonomy)

    assert list(evaluation.missing) == missing
    assert dict(evaluation.invalid) == invalid
    assert evaluation.compliant is (not missing and not invalid)
    for key, words in why.items():
        assert evaluation.problems[key] == words
    assert set(evaluation.problems) == set(missing) | set(invalid)  # every problem says why


def test_an_upper_case_rule_and_a_pattern_are_worded_with_the_fix(config: FinOpsConfig) -> None:
    variant = config_with(
        config,
        taxonomy={"tags": [{"key": "cost-center", "pattern": "^CC-[0-9]{4}$", "case": "upper"}]},
        own_tags={"cost-center": "CC-0001"},
    )

    assert evaluate({"cost-center": "cc-0107"}, variant.taxonomy).problems == {
        "cost-center": "wrong case: values are upper case (CC-0107)"
    }


# -- who is never marked or stopped ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "tags", "reason"),
    [
        (PROD, {}, "prod account (OU Prod)"),
        (DEV, {"environment": "prod"}, "prod (environment=prod)"),
        (DEV, {"Environment": "Production"}, "prod (environment=Production)"),
        (DEV, {"environment": "dev", "ENVIRONMENT": "prod"}, "prod (environment=prod)"),
        (DEV, {"finops:protect": "true"}, "protected (finops:protect=true)"),
        (DEV, {"FinOps:Protect": "1"}, "protected (finops:protect=1)"),
        (DEV, {"finops:exclude": "true"}, "excluded (finops:exclude=true)"),
        (DEV, {"finops:protect": "false"}, None),
        (DEV, {}, None),
    ],
)
def test_prod_protected_and_excluded_resources_are_exempt(
    config: FinOpsConfig, target: Target, tags: dict[str, str], reason: str | None
) -> None:
    assert exemption(instance(tags), target, config) == reason


# -- the marks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "created", "trusted"),
    [
        (deadline(3), LAUNCHED, "date"),
        (deadline(-1), LAUNCHED, "date"),
        (deadline(7), LAUNCHED, "date"),  # written this very run: exactly grace_days ahead
        ("next week", LAUNCHED, "unreadable mark (finops:tag-deadline=next week)"),
        ("2026-12-01T00:00:00", LAUNCHED, "unreadable mark"),  # no zone
        (deadline(3), NOW - timedelta(days=1), "mark older than the resource"),  # copied from a marked resource
        (deadline(30), LAUNCHED, "mark further ahead than grace_days (7) allows"),  # written by hand to put it off
        ("2099-01-01T00:00:00Z", LAUNCHED, "mark further ahead"),
    ],
)
def test_a_mark_is_trusted_only_when_this_capability_could_have_written_it(
    value: str, created: datetime, trusted: str
) -> None:
    found = trusted_deadline({MARK_TAG: value}, created, 7, run_clocks(NOW, None))

    if trusted == "date":
        assert isinstance(found, datetime)
    else:
        assert isinstance(found, str)
        assert found.startswith(trusted)


# -- the plan for one resource: mark, wait, stop, unmark ------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        # compliant: nothing; compliant and marked: unmarked
        (instance(GOOD), None),
        (instance({**GOOD, MARK_TAG: deadline(2)}), (UNMARK, "compliant now: its tagging deadline is lifted")),
        # non-compliant, not marked: marked grace_days (7) from now
        (
            instance({"team": "data"}),
            (MARK, "non-compliant (missing environment, cost-center): fix the tags by 2026-12-07"),
        ),
        # marked, deadline ahead: waits (the owner was told when it was marked)
        (instance({"team": "data", MARK_TAG: deadline(2)}), None),
        # marked, deadline passed: a running non-prod instance is stopped
        (
            instance({"team": "Data", MARK_TAG: deadline(-1)}),
            (STOP, "still non-compliant (missing environment, cost-center; team='Data') after its deadline 2026-11-29"),
        ),
        # passed, but already stopped: nothing to do
        (instance({"team": "data", MARK_TAG: deadline(-1)}, state="stopped"), None),
        # an untrusted mark is marked again from today, never stopped on
        (
            instance({"team": "data", MARK_TAG: "soon"}),
            (
                MARK,
                "unreadable mark (finops:tag-deadline=soon), marked again (missing environment, cost-center): fix the "
                "tags by 2026-12-07",
            ),
        ),
        (
            instance({"team": "data", MARK_TAG: "2099-01-01T00:00:00Z"}),
            (
                MARK,
                "mark further ahead than grace_days (7) allows (finops:tag-deadline=2099-01-01T00:00:00Z), marked "
                "again (missing environment, cost-center): fix the tags by 2026-12-07",
            ),
        ),
        # volumes, snapshots and databases are marked and reported, never stopped
        (TaggedResource(VOLUME, "vol-1", {"team": "data", MARK_TAG: deadline(-30)}, created=LAUNCHED), None),
        (
            TaggedResource(SNAPSHOT, "snap-1", {}, created=LAUNCHED),
            (MARK, "non-compliant (missing team, environment, cost-center): fix the tags by 2026-12-07"),
        ),
        (
            TaggedResource(DB, "db-1", {"team": "data", MARK_TAG: deadline(-30)}, created=LAUNCHED, arn="arn:db"),
            None,
        ),
        # exempt: a mark it carries is removed, nothing else
        (
            instance({"environment": "prod", MARK_TAG: deadline(-1)}),
            (UNMARK, "never enforced here: prod (environment=prod)"),
        ),
        (instance({"finops:protect": "true"}), None),
    ],
)
def test_each_resource_gets_the_step_of_the_cycle_it_is_at(
    config: FinOpsConfig, resource: TaggedResource, expected: tuple[str, str] | None
) -> None:
    assert one(plan(TagInventory((resource,)), DEV, ctx(), config)) == expected


def test_a_mark_carries_its_deadline_and_the_finding_says_so(config: FinOpsConfig) -> None:
    db = TaggedResource(DB, "data-catalog-dev", {**GOOD, "environment": "Dev"}, created=LAUNCHED, arn="arn:aws:rds:x")

    planned = plan(TagInventory((db,)), DEV, ctx(), config)

    [action] = planned.actions
    assert (action.action, action.kind, action.team) == (MARK, DB, "data")
    assert action.details == {"arn": "arn:aws:rds:x", "deadline": "2026-12-07T05:00:00Z"}
    assert planned.report["noncompliant"] == [
        {
            "account": "555555555555",
            "region": "eu-west-1",
            "type": "rds:db",
            "id": "data-catalog-dev",
            "name": None,
            "team": "data",
            "arn": "arn:aws:rds:x",
            "missing": [],
            "invalid": {"environment": "Dev"},
            "problems": {"environment": "wrong case: write dev"},
            "deadline": "2026-12-07T05:00:00Z",
            "marking": True,
        }
    ]
    assert planned.report["evaluated"] == {"rds:db": {"data": [1, 0]}}


def test_an_instance_another_controller_owns_is_a_notable_skip_after_its_deadline(config: FinOpsConfig) -> None:
    member = instance(
        {"team": "data", MARK_TAG: deadline(-1)}, not_stoppable="member of Auto Scaling group web (the group ...)"
    )

    planned = plan(TagInventory((member,)), DEV, ctx(), config)

    assert planned.actions == ()
    [skip] = planned.skipped
    assert skip.reason == "past its tagging deadline, not stopped: member of Auto Scaling group web (the group ...)"
    assert planned.report["noncompliant"][0]["overdue"] is True


def test_a_stop_waits_for_both_clocks(config: FinOpsConfig) -> None:
    """A run whose event is dated a week ahead (a typo) does not stop what is due only by that date."""
    marked = instance({"team": "data", MARK_TAG: deadline(3)})

    ahead = plan(TagInventory((marked,)), DEV, ctx(NOW + timedelta(days=7)), config, wall_now=NOW)
    both = plan(TagInventory((marked,)), DEV, ctx(NOW + timedelta(days=7)), config, wall_now=NOW + timedelta(days=7))

    assert ahead.actions == ()
    assert [a.action for a in both.actions] == [STOP]


def test_new_deadlines_count_from_the_later_clock(config: FinOpsConfig) -> None:
    """An old event run again never gives the owner less than grace_days."""
    planned = plan(TagInventory((instance({}),)), DEV, ctx(NOW - timedelta(days=5)), config, wall_now=NOW)

    assert planned.actions[0].details["deadline"] == "2026-12-07T05:00:00Z"


def test_grace_days_come_from_tag_enforcement(config: FinOpsConfig) -> None:
    variant = config_with(config, capabilities={"tag_enforcement": {"grace_days": 14}})

    planned = plan(TagInventory((instance({}),)), DEV, ctx(), variant)

    assert planned.actions[0].details["deadline"] == "2026-12-14T05:00:00Z"


# -- a target's plan stays small ----------------------------------------------------------------------------------


def test_a_big_target_lists_what_fits_and_counts_the_rest(config: FinOpsConfig) -> None:
    volumes = tuple(TaggedResource(VOLUME, f"vol-{i:05}", {}, created=LAUNCHED) for i in range(3000))
    cluster = TaggedResource(CLUSTER, "c-1", GOOD, created=LAUNCHED, arn="arn:c")

    planned = plan(TagInventory((*volumes, cluster)), DEV, ctx(), config)

    listed = planned.report["noncompliant"]
    assert 0 < len(listed) <= 500
    assert len(listed) + planned.report["noncompliant_not_listed"] == 3000
    assert [f["id"] for f in listed] == [f"vol-{i:05}" for i in range(len(listed))]  # the first ones, in order
    assert planned.report["evaluated"] == {"ec2:volume": {"data": [3000, 0]}, "rds:cluster": {"data": [1, 1]}}
    # the changes are capped per run too, and the plan says what is left for later runs
    cap = max(10, 80 // config.engine.targets_per_invocation)  # at least 10 a target (rules.tag_compliance)
    assert len(planned.actions) == cap
    assert any(f"{3000 - cap} changes left for later runs" in hold for hold in planned.holds)


@pytest.mark.parametrize("per_batch", [1, 5, 8, 10])  # 10: the largest engine.targets_per_invocation
def test_a_full_batch_of_the_largest_targets_stays_far_below_a_map_states_256_kib(
    config: FinOpsConfig, per_batch: int
) -> None:
    """The worst case: every target with thousands of non-compliant resources, overdue instances that cannot be
    stopped (skips), and every planned change applied (each action carried twice: planned and in its outcome)."""
    variant = config_with(config, engine={"targets_per_invocation": per_batch})
    overdue = {"team": "data", MARK_TAG: deadline(-1), "Name": "x" * 60}
    resources = (
        *(
            instance(overdue, id=f"i-{i:017}", not_stoppable="a spot instance: its request owns its life")
            for i in range(200)
        ),
        *(instance(overdue, id=f"i-{i + 500:017}") for i in range(100)),
        *(
            TaggedResource(VOLUME, f"vol-{i:017}", {"Team": "Data", "cost-center": "cc-1"}, LAUNCHED)
            for i in range(3000)
        ),
    )
    results = []
    for n in range(per_batch):
        target = Target(f"55555555555{n}", "eu-west-1", name="data-dev", team="data")
        planned = plan(TagInventory(resources), target, ctx(), variant)
        outcomes = tuple(Outcome(a, True, {MARK_TAG: deadline(7)}) for a in planned.actions)
        results.append(
            TargetResult(
                target,
                "done",
                Mode.ENFORCE,
                planned.actions,
                planned.skipped,
                outcomes,
                holds=planned.holds,
                report=planned.report,
            ).to_json()
        )

    size = len(json.dumps({"results": results}))
    assert size < 180 * 1024, size


def test_stops_go_before_marks_when_the_cap_bites(config: FinOpsConfig) -> None:
    due = [instance({"team": "data", MARK_TAG: deadline(-1)}, id=f"i-{i:03}") for i in range(5)]
    new = [TaggedResource(VOLUME, f"vol-{i:03}", {}, created=LAUNCHED) for i in range(100)]

    planned = plan(TagInventory((*new, *due)), DEV, ctx(), config)

    assert sum(a.action == STOP for a in planned.actions) == 5


def test_report_mode_plans_exactly_what_enforce_mode_does(config: FinOpsConfig) -> None:
    resources = (
        instance({}),
        instance({"team": "data", MARK_TAG: deadline(-1)}, id="i-2"),
        instance({**GOOD, MARK_TAG: deadline(1)}, id="i-3"),
    )

    assert plan(TagInventory(resources), DEV, ctx(mode=Mode.REPORT), config) == plan(
        TagInventory(resources), DEV, ctx(mode=Mode.ENFORCE), config
    )


# -- the safety rule, whatever the tags ------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        *("team", "Team", "environment", "Environment", "ENVIRONMENT", "cost-center", "finops:protect"),
        *("FinOps:Protect", "finops:exclude", "Finops:Exclude", MARK_TAG, "owner", "Name", "aws:autoscaling:groupName"),
    ]
)
_VALUES = st.sampled_from(
    [
        *("", "data", "Data", "dev", "prod", "Prod", " production ", "true", "1", "false", "no", "CC-0107", "x"),
        *(deadline(-30), deadline(-1), deadline(3), "2099-01-01T00:00:00Z", "garbage"),
    ]
)
_RESOURCES = st.builds(
    TaggedResource,
    kind=st.sampled_from([INSTANCE, VOLUME, SNAPSHOT, DB, CLUSTER]),
    id=st.uuids().map(lambda u: f"r-{u.hex[:12]}"),
    tags=st.dictionaries(_KEYS, _VALUES, max_size=8),
    created=st.sampled_from([LAUNCHED, NOW - timedelta(days=2), None]),
    state=st.sampled_from(["running", "stopped", "pending", "available"]),
    arn=st.just("arn:aws:rds:eu-west-1:555555555555:db:x"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resources=st.lists(_RESOURCES, max_size=12), prod_account=st.booleans(), days=st.integers(-10, 40))
def test_nothing_prod_protected_or_excluded_is_ever_marked_or_stopped(
    config: FinOpsConfig, resources: list[TaggedResource], prod_account: bool, days: int
) -> None:
    target = PROD if prod_account else DEV
    planned = plan(TagInventory(tuple(resources)), target, ctx(NOW + timedelta(days=days)), config)

    by_id = {r.id: r for r in resources}
    for action in planned.actions:
        resource = by_id[action.resource]
        guarded = (
            prod_account
            or config.safety.is_prod(resource.tags)
            or config.safety.is_protected(resource.tags)
            or config.organization.exclude_account_tag.matches(resource.tags)
        )
        assert not (guarded and action.action in (MARK, STOP)), (action, resource.tags)
        if action.action == STOP:
            assert resource.kind == INSTANCE
            assert resource.state == "running"
            assert not evaluate(resource.tags, config.taxonomy).compliant
        assert action.action != "delete"
