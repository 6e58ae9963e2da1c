"""The clean-up planner: what is eligible, what is never touched, grace timing, unmarking and the safety nets."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.engine.model import RunContext, Target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.models.storage import RecycleBin, RecycleBinRule, Snapshot, StorageInventory, Volume
from finops.rules.cleanup_plan import plan
from finops.rules.cleanup_tags import ACTION_TAG, AFTER_TAG, FINAL_OF_TAG

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
TARGET = Target("333333333333", "eu-west-1", name="data-dev", team="data")
RETAINED = RecycleBin(
    rules=(RecycleBinRule("rule-v", "EBS_VOLUME", 7), RecycleBinRule("rule-s", "EBS_SNAPSHOT", 30)),
)


def _config(config: FinOpsConfig, **cleanup: Any) -> FinOpsConfig:
    data = config.model_dump(mode="json")
    data["capabilities"]["ebs_cleanup"] = {"mode": "enforce", "max_deletion_percent": 100, **cleanup}
    return FinOpsConfig.model_validate(data)


def _ctx(now: datetime = NOW, mode: Mode = Mode.ENFORCE) -> RunContext:
    return RunContext("run-1", "ebs_cleanup", "sweep", now, mode)


def volume(vid: str = "vol-1", *, age: int = 30, state: str = "available", **tags: str) -> Volume:
    return Volume(vid, state, 100, "gp3", "eu-west-1a", NOW - timedelta(days=age), {"Name": vid, **tags})


def snapshot(sid: str = "snap-1", *, age: int = 120, **tags: str) -> Snapshot:
    return Snapshot(sid, "completed", NOW - timedelta(days=age), 50, dict(tags), shared_with=())


def _inventory(*resources: Volume | Snapshot, **kwargs: Any) -> StorageInventory:
    return StorageInventory(
        volumes=tuple(r for r in resources if isinstance(r, Volume)),
        snapshots=tuple(r for r in resources if isinstance(r, Snapshot)),
        recycle_bin=kwargs.pop("recycle_bin", RETAINED),
        **kwargs,
    )


def _acts(inventory: StorageInventory, config: FinOpsConfig, now: datetime = NOW) -> list[tuple[str, str]]:
    return [(a.resource, a.action) for a in plan(inventory, TARGET, _ctx(now), config).actions]


def marked(after: datetime, action: str = "snapshot-and-delete") -> dict[str, str]:
    return {ACTION_TAG: action, AFTER_TAG: after.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_an_old_unattached_volume_is_marked_with_the_date_it_goes(config: FinOpsConfig) -> None:
    result = plan(_inventory(volume()), TARGET, _ctx(), _config(config))
    (action,) = result.actions
    assert action.action == "mark"
    assert action.details["delete_after"] == "2026-12-04T06:00:00Z"
    assert action.details["keep_command"] == (
        "aws ec2 create-tags --region eu-west-1 --resources vol-1 --tags Key=finops:protect,Value=true"
    )
    assert action.details["monthly_usd"] == "8.80"  # 100 GiB gp3 in eu-west-1 at $0.088
    assert action.team == "data"


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        (volume(age=13), None),  # under min_age_days
        (volume(state="in-use"), None),
        (volume(**{"finops:protect": "true"}), "protected (finops:protect=true)"),
        (volume(**{"Finops:Protect": "1"}), "protected (finops:protect=1)"),
        (volume(environment="prod"), "prod (environment=prod)"),
        (
            volume(**{"aws:cloudformation:stack-name": "app"}),
            "part of CloudFormation stack app: delete it through its stack",
        ),
        (snapshot(age=90), None),
        (
            snapshot(**{"aws:backup:source-resource": "arn"}),
            "managed by AWS Backup (its backup plan's lifecycle deletes it)",
        ),
        (
            snapshot(**{"aws:dlm:lifecycle-policy-id": "policy-1"}),
            "managed by Data Lifecycle Manager (its policy's retention deletes it)",
        ),
        (
            replace(snapshot(), description="This snapshot is created by the AWS Backup service."),
            "managed by AWS Backup (its backup plan's lifecycle deletes it)",
        ),
        (
            replace(snapshot(), description="Created for policy: policy-0abc schedule: Default"),
            "managed by Data Lifecycle Manager (its policy's retention deletes it)",
        ),
        (
            replace(snapshot(), shared_with=("444444444444",)),
            "shared with 1 account(s) (capabilities.ebs_cleanup.snapshots.include_shared: false)",
        ),
        (
            replace(snapshot(), shared_with=("all",)),
            "public (capabilities.ebs_cleanup.snapshots.include_shared: false)",
        ),
        (replace(snapshot(), state="pending"), None),
        (snapshot(**{FINAL_OF_TAG: "vol-9"}, age=80), None),  # our final snapshot keeps 90 days
    ],
)
def test_what_is_never_or_not_yet_eligible(config: FinOpsConfig, resource: Any, why: str | None) -> None:
    result = plan(_inventory(resource), TARGET, _ctx(), _config(config))
    assert result.actions == ()
    assert [s.reason for s in result.skipped] == ([why] if why else [])


def test_an_ami_backed_snapshot_is_skipped_with_its_images(config: FinOpsConfig) -> None:
    inventory = _inventory(snapshot(), image_snapshots={"snap-1": ("ami-1 (disabled)",)})
    (skip,) = plan(inventory, TARGET, _ctx(), _config(config)).skipped
    assert skip.reason == "backs AMI ami-1 (disabled)"


def test_a_prod_account_is_never_touched(config: FinOpsConfig) -> None:
    prod = replace(TARGET, prod=True, prod_reason="account tag environment=prod")
    result = plan(_inventory(volume(), snapshot()), prod, _ctx(), _config(config))
    assert result.actions == ()
    assert {s.reason for s in result.skipped} == {"prod account (account tag environment=prod)"}


def test_grace_timing_waits_then_deletes(config: FinOpsConfig) -> None:
    config = _config(config)
    tagged = volume(**marked(NOW + timedelta(days=2)))
    assert _acts(_inventory(tagged), config) == []
    assert _acts(_inventory(tagged), config, NOW + timedelta(days=2)) == [("vol-1", "delete")]


def test_grace_zero_deletes_in_the_same_run(config: FinOpsConfig) -> None:
    (action,) = plan(_inventory(volume()), TARGET, _ctx(), _config(config, grace_days=0)).actions
    assert (action.action, action.details["marked"]) == ("delete", False)


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"state": "in-use"}, "no longer eligible: in-use"),
        ({"tags": {"finops:protect": "yes"}}, "no longer eligible: protected (finops:protect=yes)"),
    ],
)
def test_a_marked_resource_no_longer_eligible_is_unmarked(
    config: FinOpsConfig, changed: dict[str, Any], reason: str
) -> None:
    tagged = volume(**marked(NOW))
    if "tags" in changed:
        changed = {"tags": {**tagged.tags, **changed["tags"]}}
    (action,) = plan(_inventory(replace(tagged, **changed)), TARGET, _ctx(), _config(config)).actions
    assert (action.action, action.reason) == ("unmark", reason)


def test_a_marked_snapshot_now_backing_an_ami_is_unmarked(config: FinOpsConfig) -> None:
    inventory = _inventory(snapshot(**marked(NOW, "delete")), image_snapshots={"snap-1": ("ami-2",)})
    assert _acts(inventory, _config(config)) == [("snap-1", "unmark")]


def test_a_marked_snapshot_whose_sharing_was_not_looked_up_keeps_its_mark(config: FinOpsConfig) -> None:
    waiting = replace(snapshot(**marked(NOW + timedelta(days=3), "delete")), shared_with=None)
    assert _acts(_inventory(waiting), _config(config)) == []


def test_an_unreadable_mark_is_marked_again(config: FinOpsConfig) -> None:
    result = plan(_inventory(volume(**{AFTER_TAG: "soon", ACTION_TAG: "delete"})), TARGET, _ctx(), _config(config))
    assert [(a.action, a.reason) for a in result.actions] == [
        ("mark", "unreadable mark, marked again: marked for deletion on 2026-12-04")
    ]


def test_without_a_recycle_bin_rule_deletions_are_held_and_marks_go_ahead(config: FinOpsConfig) -> None:
    inventory = _inventory(
        volume("vol-due", **marked(NOW)), volume("vol-new"), recycle_bin=RecycleBin(rules=RETAINED.rules[1:])
    )
    result = plan(inventory, TARGET, _ctx(), _config(config))
    assert [(a.resource, a.action) for a in result.actions] == [("vol-new", "mark")]
    assert [s.reason for s in result.skipped] == ["held: no Recycle Bin rule would retain it"]
    assert result.holds == (
        "Recycle Bin: 1 volume not deleted in eu-west-1: no Recycle Bin rule for EBS_VOLUME retains them "
        "(capabilities.ebs_cleanup.require_recycle_bin: true; deploy the regional member stack here)",
    )


def test_a_rule_that_excludes_the_resource_does_not_count(config: FinOpsConfig) -> None:
    excluding = RecycleBin(rules=(RecycleBinRule("r", "EBS_VOLUME", 7, exclude_tags=(("team", "data"),)),))
    result = plan(
        _inventory(volume(team="data", **marked(NOW)), recycle_bin=excluding), TARGET, _ctx(), _config(config)
    )
    assert result.actions == ()
    assert result.holds


def test_an_unreadable_recycle_bin_holds_with_the_error(config: FinOpsConfig) -> None:
    broken = RecycleBin(error="cannot read the Recycle Bin rules (AccessDeniedException: no)")
    result = plan(_inventory(volume(**marked(NOW)), recycle_bin=broken), TARGET, _ctx(), _config(config))
    assert "cannot read the Recycle Bin rules (AccessDeniedException: no)" in result.holds[0]


def test_require_recycle_bin_false_deletes_without_a_rule(config: FinOpsConfig) -> None:
    inventory = _inventory(volume(**marked(NOW)), recycle_bin=RecycleBin())
    assert _acts(inventory, _config(config, require_recycle_bin=False)) == [("vol-1", "delete")]


def test_a_grace_zero_deletion_that_is_held_is_still_marked(config: FinOpsConfig) -> None:
    result = plan(_inventory(volume(), recycle_bin=RecycleBin()), TARGET, _ctx(), _config(config, grace_days=0))
    assert [a.action for a in result.actions] == ["mark"]


@pytest.mark.parametrize(
    ("cleanup", "due", "others", "tripped"),
    [
        ({"max_deletions_per_target": 3}, 3, 0, None),
        ({"max_deletions_per_target": 2}, 3, 0, "3 deletions planned, more than max_deletions_per_target (2)"),
        ({"max_deletion_percent": 25}, 1, 3, None),  # 1 of 4 volumes = 25%
        ({"max_deletion_percent": 25}, 2, 3, "2 of 5 volumes (40%), more than max_deletion_percent (25%)"),
    ],
)
def test_the_circuit_breaker(
    config: FinOpsConfig, cleanup: dict[str, int], due: int, others: int, tripped: str | None
) -> None:
    resources = [volume(f"vol-due-{i}", **marked(NOW)) for i in range(due)]
    resources += [volume(f"vol-in-use-{i}", state="in-use") for i in range(others)]
    result = plan(_inventory(*resources), TARGET, _ctx(), _config(config, **cleanup))
    deletions = [a for a in result.actions if a.action == "delete"]
    if tripped is None:
        assert len(deletions) == due
        assert result.holds == ()
    else:
        assert deletions == []
        assert tripped in result.holds[0]
        assert "the marks stay" in result.holds[0]
        assert {s.reason for s in result.skipped} == {"held: circuit breaker tripped in this account and region"}


def test_gp2_volumes_in_use_are_migrated_with_the_saving(config: FinOpsConfig) -> None:
    gp2 = replace(volume(state="in-use"), volume_type="gp2", size_gb=500)
    (action,) = plan(_inventory(gp2), TARGET, _ctx(), _config(config, gp2_to_gp3={"enabled": True})).actions
    assert action.action == "gp3"
    assert (action.details["iops"], action.details["throughput"]) == (3000, 250)
    # gp2 500 GiB = $55.00; gp3 500 GiB $44.00 + 125 MiB/s over the baseline x $0.044 = $49.50
    assert action.details["monthly_usd"] == "5.50"


# -- the property: nothing protected is ever marked or deleted --------------------------------------------------

PROTECTIONS = ("protect", "protect-odd-case", "prod-tag", "backup", "dlm", "ami", "ami-disabled", "shared", "cfn")


@st.composite
def estates(draw: st.DrawFn) -> tuple[StorageInventory, set[str]]:
    volumes: list[Volume] = []
    snapshots: list[Snapshot] = []
    images: dict[str, tuple[str, ...]] = {}
    protected: set[str] = set()
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["volume", "snapshot"]))
        protection = draw(st.none() | st.sampled_from(PROTECTIONS))
        age = draw(st.integers(0, 400))
        tags: dict[str, str] = {}
        if draw(st.booleans()):
            tags.update(
                marked(
                    NOW + timedelta(days=draw(st.integers(-30, 30))),
                    draw(st.sampled_from(["delete", "snapshot-and-delete"])),
                )
            )
        if protection == "protect":
            tags["finops:protect"] = draw(st.sampled_from(["true", "yes", "1", "keep"]))
        elif protection == "protect-odd-case":
            tags["FinOps:Protect "] = "TRUE"
        elif protection == "prod-tag":
            tags["Environment"] = draw(st.sampled_from(["prod", "Production", " PROD "]))
        elif protection == "backup":
            tags["aws:backup:source-resource"] = "arn:aws:ec2:eu-west-1::volume/vol-x"
        elif protection == "dlm":
            tags["aws:dlm:lifecycle-policy-id"] = "policy-0123"
        elif protection == "cfn":
            tags["aws:cloudformation:stack-name"] = "app"
        if kind == "volume":
            state = draw(st.sampled_from(["available", "available", "in-use"]))
            if protection in ("ami", "ami-disabled", "shared"):
                protection = None
            volumes.append(Volume(f"vol-{i}", state, 10, "gp2", "eu-west-1a", NOW - timedelta(days=age), tags))
            resource = f"vol-{i}"
        else:
            sid = f"snap-{i}"
            shared: tuple[str, ...] = ("444444444444",) if protection == "shared" else ()
            if protection in ("ami", "ami-disabled"):
                images[sid] = (f"ami-{i}" + (" (disabled)" if protection == "ami-disabled" else ""),)
            if protection == "cfn":
                protection = None  # the stack tag guards volumes; a snapshot of a stack's volume is an ordinary one
                tags.pop("aws:cloudformation:stack-name")
            snapshots.append(Snapshot(sid, "completed", NOW - timedelta(days=age), 10, tags, shared_with=shared))
            resource = sid
        if protection:
            protected.add(resource)
    inventory = StorageInventory(tuple(volumes), tuple(snapshots), images, recycle_bin=RETAINED)
    return inventory, protected


PROPERTY_EXAMPLES = 400
CHECKED: Counter[str] = Counter()  # estates and protected resources the property saw (for the note)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    estate=estates(),
    prod_account=st.booleans(),
    grace=st.sampled_from([0, 7]),
    gp3=st.booleans(),
    mode=st.sampled_from([Mode.REPORT, Mode.ENFORCE]),
)
def test_no_protected_resource_is_ever_marked_or_deleted(
    config: FinOpsConfig,
    estate: tuple[StorageInventory, set[str]],
    prod_account: bool,
    grace: int,
    gp3: bool,
    mode: Mode,
) -> None:
    inventory, protected = estate
    target = replace(TARGET, prod=True, prod_reason="prod OU") if prod_account else TARGET
    everything = {v.id for v in inventory.volumes} | {s.id for s in inventory.snapshots}
    guarded = everything if prod_account else protected
    cfg = _config(config, grace_days=grace, gp2_to_gp3={"enabled": gp3}, max_deletions_per_target=1000)
    result = plan(inventory, target, _ctx(mode=mode), cfg)
    CHECKED.update(estates=1, protected=len(guarded))
    touched = {a.resource for a in result.actions if a.action in ("mark", "delete", "gp3")}
    assert not touched & guarded
    # and what is marked and protected now gets its mark removed, never left to expire into a deletion
    for action in result.actions:
        if action.resource in guarded:
            assert action.action == "unmark"


# -- the review's findings: case-duplicate guard tags, the wall clock, copied marks, what the mark promised -------


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        # EC2 keys are case-sensitive: both can be on one volume, and the harmless exact-case one must not win
        ({"environment": "dev", "Environment": "prod"}, "prod (environment=prod)"),
        ({"finops:protect": "false", "FinOps:Protect": "true"}, "protected (finops:protect=true)"),
    ],
)
def test_a_prod_or_protect_tag_in_another_casing_beside_a_harmless_one_still_guards(
    config: FinOpsConfig, tags: dict[str, str], reason: str
) -> None:
    for resource in (volume(**tags), volume(**tags, **marked(NOW - timedelta(days=1)))):
        result = plan(_inventory(resource), TARGET, _ctx(), _config(config))
        assert [(a.action, a.reason) for a in result.actions if a.action != "unmark"] == []
        assert [s.reason for s in result.skipped] + [a.reason for a in result.actions] in (
            [reason],
            [f"no longer eligible: {reason}"],
        )


def test_a_run_dated_in_the_future_deletes_nothing_still_in_its_grace_period_by_the_wall_clock(
    config: FinOpsConfig,
) -> None:
    waiting = volume(**marked(NOW + timedelta(days=6)))  # marked yesterday: six more days of grace
    future = _ctx(NOW + timedelta(days=365))  # a typo in the event's year
    assert [(a.resource, a.action) for a in plan(_inventory(waiting), TARGET, future, _config(config)).actions] == [
        ("vol-1", "delete")
    ], "without a wall clock the run's time decides (local replays)"
    assert plan(_inventory(waiting), TARGET, future, _config(config), wall_now=NOW).actions == ()


def test_a_run_dated_in_the_future_marks_for_a_date_a_full_grace_period_away(config: FinOpsConfig) -> None:
    future = _ctx(NOW + timedelta(days=365))
    (action,) = plan(_inventory(volume()), TARGET, future, _config(config, grace_days=0), wall_now=NOW).actions
    assert (action.action, action.details["delete_after"]) == ("mark", "2027-11-27T06:00:00Z")


def test_re_running_an_old_event_dates_new_marks_from_the_wall_clock(config: FinOpsConfig) -> None:
    old_event = _ctx(NOW - timedelta(days=10))
    (action,) = plan(_inventory(volume(age=60)), TARGET, old_event, _config(config), wall_now=NOW).actions
    assert (action.action, action.details["delete_after"]) == ("mark", "2026-12-04T06:00:00Z")  # NOW + 7 days


def test_the_workers_few_minutes_behind_the_scheduled_time_do_not_delay_a_deletion(config: FinOpsConfig) -> None:
    late_worker = NOW + timedelta(minutes=4)
    due_now = plan(_inventory(volume(**marked(NOW))), TARGET, _ctx(), _config(config), wall_now=late_worker)
    assert [a.action for a in due_now.actions] == ["delete"]
    (mark,) = plan(_inventory(volume()), TARGET, _ctx(), _config(config), wall_now=late_worker).actions
    assert mark.details["delete_after"] == "2026-12-04T06:00:00Z"  # the run's time: due at next week's 06:00 run


@pytest.mark.parametrize(
    "resource",
    [
        # create-snapshots --copy-tags-from-source of a volume marked 100 days ago: the copy is 95 days old
        Snapshot("snap-rescue", "completed", NOW - timedelta(days=95), 50, marked(NOW - timedelta(days=100))),
        # a volume restored from a Backup of a marked one, 30 days ago, carrying its mark
        volume(age=30, **marked(NOW - timedelta(days=40))),
    ],
)
def test_a_mark_older_than_the_resource_itself_is_not_trusted_but_marked_again(
    config: FinOpsConfig, resource: Volume | Snapshot
) -> None:
    if isinstance(resource, Snapshot):
        resource = replace(resource, shared_with=())
    (action,) = plan(_inventory(resource), TARGET, _ctx(), _config(config)).actions
    assert action.action == "mark"
    assert action.reason.startswith("mark older than the resource (finops:cleanup-after=")
    assert action.reason.endswith("marked again: marked for deletion on 2026-12-04")


def test_a_volume_marked_snapshot_and_delete_gets_its_snapshot_though_the_config_turned_them_off(
    config: FinOpsConfig,
) -> None:
    off = _config(config, volumes={"final_snapshot": False})
    told = plan(_inventory(volume(**marked(NOW - timedelta(days=1)))), TARGET, _ctx(), off).actions
    plain = plan(_inventory(volume(**marked(NOW - timedelta(days=1), "delete"))), TARGET, _ctx(), off).actions
    assert [(a.action, a.details["final_snapshot"]) for a in told] == [("delete", True)]
    assert [(a.action, a.details["final_snapshot"]) for a in plain] == [("delete", False)]
