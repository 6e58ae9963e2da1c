"""The scheduler's plan for one target: table-driven over the resource, its tags, the target and the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.engine.model import Action, RunContext, Skip, Target
from finops.models.base import Mode
from finops.models.inventory import Resource
from finops.rules.scheduler_plan import plan, plan_resource

# Friday 27 November 2026: office-hours (Europe/Berlin, mon-fri 07:00-19:00) stops at 18:00Z.
STOP = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
MONDAY_START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
DEV = Target("555555555555", "eu-west-1", name="data-dev", team="data")


def run(now: datetime, *, kind: str = "tick", due: tuple[str, ...] = ("office-hours",), since=None, **params):
    since = since or now - timedelta(minutes=15)
    return RunContext("r1", "scheduler", kind, now, Mode.REPORT, since=since, params={"due": list(due), **params})


def instance(state="running", *, kind="ec2:instance", **tags) -> Resource:
    base = {"schedule": "office-hours", "environment": "dev", "team": "data"}
    merged = {k.replace("_", "-").replace("finops-", "finops:"): v for k, v in (base | tags).items() if v is not None}
    return Resource(kind=kind, id="i-1", state=state, tags=merged, name="web-1", size="m6i.large", raw_state=state)


def decided(resource: Resource, ctx: RunContext, config, target: Target = DEV):
    return plan_resource(resource, target, ctx, config)


@pytest.mark.parametrize(
    ("resource", "ctx", "expected"),
    [
        (instance(), run(STOP), "stop"),
        (instance("stopped"), run(MONDAY_START), "start"),
        (instance("stopped"), run(STOP), None),  # already where the schedule wants it
        (instance(), run(STOP, due=()), None),  # nothing changed: a hand-started instance keeps running
        (instance(), run(STOP + timedelta(hours=3), due=()), None),
        (instance(schedule=None), run(STOP), "stop"),  # environment=dev -> default_by_environment office-hours
        (instance(schedule=None, environment="staging"), run(STOP), None),  # not scheduled at all
        (instance("pending"), run(STOP), "skip"),
    ],
)
def test_a_tick_acts_only_on_transitions_and_only_toward_the_desired_state(config, resource, ctx, expected):
    result = decided(resource, ctx, config)

    if expected is None:
        assert result is None
    elif expected == "skip":
        assert isinstance(result, Skip)
        assert "when its schedule changed: left as it is" in result.reason
    else:
        assert isinstance(result, Action)
        assert result.action == expected


@pytest.mark.parametrize(
    ("resource", "target", "reason"),
    [
        (instance(environment="prod"), DEV, "prod (environment=prod)"),
        (instance(environment=" Production "), DEV, "prod (environment= Production )"),
        (
            instance(),
            Target("333333333333", "eu-west-1", prod=True, prod_reason="account tag environment=prod"),
            "prod account (account tag environment=prod)",
        ),
        (instance(finops_protect="YES"), DEV, "protected (finops:protect=YES)"),
        (instance(finops_protect="1"), DEV, "protected (finops:protect=1)"),  # any value but an explicit no
        (
            Resource("ec2:instance", "i-1", "running", {"schedule": "office-hours", "Environment ": "Production"}),
            DEV,
            "prod (environment=Production)",
        ),  # the key's case and spaces do not hide prod
        (
            Resource("ec2:instance", "i-1", "running", {"schedule": "office-hours", "Finops:Protect": "true"}),
            DEV,
            "protected (finops:protect=true)",
        ),
        (instance(schedule="always-on"), DEV, "opted out (schedule=always-on)"),
        (instance(schedule="office hours"), DEV, "unknown schedule 'office hours'"),
    ],
)
def test_what_is_never_touched_is_skipped_with_the_reason(config, resource, target, reason):
    result = decided(resource, run(STOP), config, target)

    assert isinstance(result, Skip)
    assert result.notable
    assert result.reason.startswith(reason)


@given(
    st.dictionaries(
        st.sampled_from(["schedule", "team", "owner", "schedule-override", "finops:protect"]), st.text(max_size=12)
    ),
    st.sampled_from(["running", "stopped"]),
    st.booleans(),
)
def test_nothing_with_a_prod_tag_or_in_a_prod_account_is_ever_acted_on(config, tags, state, prod_account):
    tags = {**tags, "environment": "prod"} if not prod_account else tags
    target = Target("333333333333", "eu-west-1", prod=True, prod_reason="x") if prod_account else DEV
    resource = Resource("ec2:instance", "i-1", state, tags)
    for ctx in (run(STOP), run(MONDAY_START), run(STOP, kind="reconcile")):
        assert not isinstance(plan_resource(resource, target, ctx, config), Action)


def test_an_override_keeps_it_running_until_it_ends_then_back_to_schedule(config):
    until = STOP + timedelta(hours=2)
    overridden = instance(schedule_override=until.isoformat().replace("+00:00", "Z"))

    during = decided(overridden, run(STOP), config)
    at_end = decided(overridden, run(until, due=()), config)
    reconcile_later = decided(
        overridden,
        run(
            until + timedelta(minutes=45),
            kind="reconcile",
            due=(),
            override_since=(until - timedelta(minutes=15)).isoformat(),
        ),
        config,
    )

    assert isinstance(during, Skip)
    assert during.reason == f"override until {until.isoformat()}"
    assert isinstance(at_end, Action)
    assert at_end.action == "stop"
    assert "override until" in at_end.reason
    assert isinstance(reconcile_later, Action)
    assert reconcile_later.action == "stop"


def test_a_malformed_override_leaves_it_running_and_says_how_to_fix_it(config):
    result = decided(instance(schedule_override="tomorrow"), run(STOP), config)

    assert isinstance(result, Skip)
    assert "is not an ISO 8601 instant" in result.reason


def test_group_members_follow_their_group_quietly_replicas_are_reported(config):
    member = Resource(
        "ec2:instance",
        "i-2",
        "running",
        {"schedule": "office-hours"},
        not_schedulable="member of Auto Scaling group web (the group is scheduled instead)",
    )
    replica = Resource(
        "rds:db",
        "db-r",
        "running",
        {"schedule": "office-hours"},
        not_schedulable="read replica of db-1: AWS cannot stop read replicas",
    )

    quiet, loud = decided(member, run(STOP), config), decided(replica, run(STOP), config)

    assert isinstance(quiet, Skip)
    assert not quiet.notable
    assert isinstance(loud, Skip)
    assert loud.notable


def with_office_hours(config, **changes):
    """The shipped config with office-hours changed (enforced, stop_only, hibernate ...)."""
    scheduler = config.capabilities.scheduler
    schedules = {**scheduler.schedules, "office-hours": scheduler.schedules["office-hours"].model_copy(update=changes)}
    capabilities = config.capabilities.model_copy(
        update={"scheduler": scheduler.model_copy(update={"schedules": schedules})}
    )
    return config.model_copy(update={"capabilities": capabilities})


def test_enforced_schedules_re_stop_in_reconcile_runs_only(config):
    enforced = with_office_hours(config, enforced=True)
    later = STOP + timedelta(hours=3)

    assert decided(instance(), run(later, kind="tick", due=()), enforced) is None
    assert decided(instance(), run(later, kind="reconcile", due=()), enforced).action == "stop"
    assert decided(instance(), run(later, kind="reconcile", due=()), config) is None  # not enforced


def test_rds_restarted_by_aws_after_seven_days_is_stopped_again(config):
    long_stop = with_office_hours(config, stop_only=True)  # stopped for good: no start comes in between
    later = STOP + timedelta(hours=3)

    def database(stopped_days_ago: float) -> Resource:
        stopped_at = (later - timedelta(days=stopped_days_ago)).isoformat()
        return Resource(
            "rds:db", "db-1", "running", {"schedule": "office-hours", "finops:scheduler-stopped-at": stopped_at}
        )

    restarted = decided(database(7), run(later, kind="reconcile", due=()), long_stop)
    assert isinstance(restarted, Action)
    assert "restarted by AWS after 7 days" in restarted.reason
    assert decided(database(2), run(later, kind="reconcile", due=()), long_stop) is None  # started by hand
    assert decided(database(7), run(later, kind="tick", due=()), long_stop) is None  # reconcile runs only
    # With starts in between (office-hours as shipped), a database running a week after our stop was started by
    # its schedule or by a person, not by AWS: left alone.
    assert decided(database(7), run(later, kind="reconcile", due=()), config) is None


def test_stop_only_schedules_never_start_and_hibernate_where_configured(config):
    changed = with_office_hours(config, stop_only=True, hibernate=True)
    hibernating = Resource("ec2:instance", "i-h", "running", {"schedule": "office-hours"}, hibernation=True)

    assert decided(instance("stopped"), run(MONDAY_START), changed) is None
    assert decided(hibernating, run(STOP), changed).action == "hibernate"
    assert decided(instance(), run(STOP), changed).action == "stop"  # no hibernation configured on the instance


def test_a_stop_carries_its_before_state_team_and_the_off_period_for_the_saving(config):
    action = decided(instance(owner="alice"), run(STOP), config)

    assert action.team == "data"
    assert action.before["state"] == "running"
    assert action.before["tags"]["schedule"] == "office-hours"
    assert action.details["off_hours"] == 60.0  # Friday 19:00 to Monday 07:00 Berlin
    assert action.details["size"] == "m6i.large"
    assert action.details["service"] == "ec2"


def test_an_explicit_no_on_the_protect_tag_does_not_protect(config):
    assert isinstance(decided(instance(finops_protect="false"), run(STOP), config), Action)


def test_managed_capacity_and_groups_kept_at_zero_are_left_alone(config):
    at_zero = Resource("autoscaling:group", "batch", "stopped", {"schedule": "office-hours"}, count=0)

    assert isinstance(decided(at_zero, run(MONDAY_START), config), Skip)


def test_report_and_enforce_plans_are_identical(config):
    inventory = [instance(), instance(schedule="always-on"), instance("stopped", environment="prod")]
    report = run(STOP)
    enforce = RunContext(
        report.run_id, report.capability, report.kind, report.now, Mode.ENFORCE, report.since, report.params
    )

    assert plan(inventory, DEV, report, config) == plan(inventory, DEV, enforce, config)
