"""The deletion path's safety against moto, through the worker: which final snapshot a deletion relies on, what an
AWS error in the middle of apply leaves in the audit trail, the wall clock, what the mark promised the owner, and the
re-checks just before the delete calls.

moto stamps resources with the real time, so the runs' clock is a month ahead; faults and changes made "meanwhile"
are injected with botocore event hooks on the member-role clients (Stubber would bypass the client's retries)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from finops.aws.clients import AccountScope, AwsClients
from finops.engine.kill_switch import NoKillSwitch
from finops.engine.model import RunContext, Target, TargetResult
from finops.engine.worker import run_target_safely
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_tags import ACTION_TAG, AFTER_TAG, FINAL_OF_TAG, FOR_MARK_TAG, RECORD_TAG
from finops.services.audit import MemoryAuditTrail
from finops.services.cleanup_run import CleanupCapability

REGION, ACCOUNT = "eu-west-1", "123456789012"
Hook = Callable[..., None]


def _config(config: FinOpsConfig, **cleanup: Any) -> FinOpsConfig:
    data = config.model_dump(mode="json")
    data["capabilities"]["ebs_cleanup"] = {
        "mode": "enforce",
        "require_recycle_bin": False,  # moto has no Recycle Bin
        "max_deletion_percent": 100,
        **cleanup,
    }
    return FinOpsConfig.model_validate(data)


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _volume(ec2: Any, name: str = "scratch", **tags: str) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()]
    return str(
        ec2.create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=10,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": tag_list}],
        )["VolumeId"]
    )


def _mark(ec2: Any, resource: str, after: datetime, action: str = "snapshot-and-delete") -> None:
    value = after.strftime("%Y-%m-%dT%H:%M:%SZ")
    ec2.create_tags(
        Resources=[resource], Tags=[{"Key": ACTION_TAG, "Value": action}, {"Key": AFTER_TAG, "Value": value}]
    )


def _exists(ec2: Any, volume: str) -> bool:
    return bool(ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"])


def _hook(monkeypatch: pytest.MonkeyPatch, event: str, handler: Hook) -> None:
    """Register ``handler`` on every member-role client the run makes (``before-call.ec2.DeleteVolume`` ...)."""
    make = AccountScope.client

    def hooked(self: AccountScope, service: str) -> Any:
        client = make(self, service)
        client.meta.events.register(event, handler)
        return client

    monkeypatch.setattr(AccountScope, "client", hooked)


def _nth(operation: str, n: int, then: Callable[[], None]) -> Hook:
    """A before-call hook that runs ``then`` on the ``n``-th call of ``operation`` (1-based)."""
    seen = {"calls": 0}

    def hook(model: Any, **_: Any) -> None:
        if model.name == operation:
            seen["calls"] += 1
            if seen["calls"] == n:
                then()

    return hook


def _throttled(operation: str) -> Callable[[], None]:
    def fail() -> None:
        raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, operation)

    return fail


def _run(
    config: FinOpsConfig, now: datetime, *, wall_clock: Callable[[], datetime] | None = None
) -> tuple[TargetResult, MemoryAuditTrail]:
    audit = MemoryAuditTrail(clock=lambda: now)
    result = run_target_safely(
        CleanupCapability(config, sleep=lambda _: None),
        Target(ACCOUNT, REGION, name="sandbox", team="data"),
        RunContext("run-2", "ebs_cleanup", "sweep", now, Mode.ENFORCE),
        scopes=AwsClients(region=REGION),
        role_name="FinOpsMemberRole",
        kill_switch=NoKillSwitch(),
        audit=audit,
        actor="test",
        wall_clock=wall_clock,
    )
    return result, audit


def _audited(audit: MemoryAuditTrail) -> dict[str, dict[str, Any]]:
    return {r["target"].rsplit("/", 1)[1]: r for r in audit.items}


LATER = datetime.now(UTC) + timedelta(days=30)  # old enough for min_age_days (14) on moto's real-time stamps


# -- F1: the final snapshot a deletion relies on is one made for this mark -------------------------------------------


def test_a_final_snapshot_of_an_earlier_episode_is_not_reused(ec2: Any, config: FinOpsConfig) -> None:
    """Episode 1 made a final snapshot and did not delete (DeleteVolume refused); the volume was attached again and
    written to for weeks. Episode 2: detached, marked again, the grace period over."""
    vid = _volume(ec2)
    spec = [{"ResourceType": "snapshot", "Tags": [{"Key": FINAL_OF_TAG, "Value": vid}]}]
    stale = ec2.create_snapshot(VolumeId=vid, Description="episode 1", TagSpecifications=spec)["SnapshotId"]
    _mark(ec2, vid, LATER - timedelta(days=1))

    result, audit = _run(_config(config), LATER)

    (outcome,) = result.outcomes
    assert outcome.ok, outcome.error
    fresh = outcome.after["final_snapshot"]
    assert fresh != stale
    [made] = ec2.describe_snapshots(SnapshotIds=[fresh])["Snapshots"]
    tags = {t["Key"]: t["Value"] for t in made["Tags"]}
    assert tags[FOR_MARK_TAG] == (LATER - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [old] = ec2.describe_snapshots(SnapshotIds=[stale])["Snapshots"]
    assert RECORD_TAG not in {t["Key"] for t in old.get("Tags", [])}, "the restore record was put on the old data"
    assert _audited(audit)[vid]["after"]["final_snapshot"] == fresh


def test_a_final_snapshot_made_for_the_same_mark_is_reused(ec2: Any, config: FinOpsConfig) -> None:
    vid = _volume(ec2)
    after = LATER - timedelta(days=1)
    _mark(ec2, vid, after)
    mark = after.strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = [{"Key": FINAL_OF_TAG, "Value": vid}, {"Key": FOR_MARK_TAG, "Value": mark}]
    earlier = ec2.create_snapshot(VolumeId=vid, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])

    result, _ = _run(_config(config), LATER)

    (outcome,) = result.outcomes
    assert (outcome.ok, outcome.after["final_snapshot"]) == (True, earlier["SnapshotId"])
    assert not _exists(ec2, vid)


# -- F3: an AWS error in apply leaves every change made in the audit trail ------------------------------------------


def test_a_deletion_whose_read_back_fails_is_audited_as_not_verified(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = _volume(ec2)
    # 1 the inventory, 2 the re-check, 3 the read-back after DeleteVolume
    _hook(monkeypatch, "before-call.ec2.*", _nth("DescribeVolumes", 3, _throttled("DescribeVolumes")))

    result, audit = _run(_config(config, grace_days=0, volumes={"final_snapshot": False}), LATER)

    assert not _exists(ec2, vid)
    record = _audited(audit)[vid]
    assert record["action"] == "ebs_cleanup:delete"
    assert record["before"]["volume_type"] == "gp3"
    assert record["after"]["verified"] is False
    assert record["after"]["error"].startswith("deletion accepted, not verified: the read-back failed: ")
    assert result.status == "done"  # a failed outcome, in the summary and the digest; not a lost target


def test_a_failing_ami_read_before_a_snapshot_deletion_keeps_the_marks_made_before_it(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _volume(ec2, "fresh")
    snap = ec2.create_snapshot(VolumeId=_volume(ec2, "source", environment="prod"))["SnapshotId"]
    _mark(ec2, snap, LATER - timedelta(days=1), "delete")
    _hook(monkeypatch, "before-call.ec2.*", _nth("DescribeImages", 2, _throttled("DescribeImages")))

    result, audit = _run(_config(config, snapshots={"retention_days": 20}), LATER)

    records = _audited(audit)
    assert (records[fresh]["action"], records[fresh]["after"]["verified"]) == ("ebs_cleanup:mark", True)
    assert records[snap]["after"]["error"].startswith("not deleted: the re-check before deleting failed: ")
    assert ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"]
    assert {(o.action.resource, o.ok) for o in result.outcomes} == {(fresh, True), (snap, False)}


def test_a_timeout_on_delete_volume_is_audited_with_its_final_snapshot(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = _volume(ec2)
    _mark(ec2, vid, LATER - timedelta(days=1))

    def timeout() -> None:
        raise ReadTimeoutError(endpoint_url=f"https://ec2.{REGION}.amazonaws.com/")

    _hook(monkeypatch, "before-call.ec2.*", _nth("DeleteVolume", 1, timeout))

    result, audit = _run(_config(config), LATER)

    record = _audited(audit)[vid]
    assert record["after"]["verified"] is False
    assert record["after"]["error"].startswith("outcome unknown: ReadTimeoutError: Read timeout")
    assert record["after"]["final_snapshot"].startswith("snap-")  # what `make restore` needs, should it be gone
    assert result.status == "done"


# -- F4: the wall clock bounds a run dated in the future -------------------------------------------------------------


def test_a_run_dated_a_year_ahead_deletes_nothing_in_its_grace_period(ec2: Any, config: FinOpsConfig) -> None:
    vid = _volume(ec2)
    _mark(ec2, vid, LATER + timedelta(days=6))  # marked yesterday (on the wall clock): six more days of grace

    result, _ = _run(_config(config), LATER + timedelta(days=365), wall_clock=lambda: LATER)

    assert _exists(ec2, vid)
    assert result.planned == ()


# -- F6: the mark promised a snapshot ---------------------------------------------------------------------------------


def test_a_volume_marked_snapshot_and_delete_is_snapshotted_though_the_config_turned_that_off(
    ec2: Any, config: FinOpsConfig
) -> None:
    vid = _volume(ec2)
    _mark(ec2, vid, LATER - timedelta(days=1))  # the owner was told: snapshot-and-delete

    result, _ = _run(_config(config, volumes={"final_snapshot": False}), LATER)

    (outcome,) = result.outcomes
    assert outcome.ok, outcome.error
    assert not _exists(ec2, vid)
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[outcome.after["final_snapshot"]])["Snapshots"]
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}[FINAL_OF_TAG] == vid


# -- L1, L2: the re-checks just before the delete calls ---------------------------------------------------------------


def test_a_volume_protected_while_its_final_snapshot_was_made_is_kept(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = _volume(ec2)
    _mark(ec2, vid, LATER - timedelta(days=1))

    def owner_protects(**_: Any) -> None:
        ec2.create_tags(Resources=[vid], Tags=[{"Key": "finops:protect", "Value": "true"}])

    _hook(monkeypatch, "after-call.ec2.CreateSnapshot", owner_protects)

    result, audit = _run(_config(config), LATER)

    assert _exists(ec2, vid)
    (outcome,) = result.outcomes
    assert outcome.error == "not deleted: changed since the plan (protected (finops:protect=true))"
    assert _audited(audit)[vid]["after"]["final_snapshot"] == outcome.after["final_snapshot"]


def test_a_mark_moved_later_between_the_plan_and_the_delete_is_honoured(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = _volume(ec2)
    _mark(ec2, vid, LATER - timedelta(days=1))
    later = LATER + timedelta(days=7)
    # 1 the inventory; before 2 (the re-check) someone pushes the date a week out
    _hook(monkeypatch, "before-call.ec2.*", _nth("DescribeVolumes", 2, lambda: _mark(ec2, vid, later)))

    result, _ = _run(_config(config), LATER)

    assert _exists(ec2, vid)
    (outcome,) = result.outcomes
    assert outcome.error == f"not deleted: its mark says {later:%Y-%m-%dT%H:%M:%SZ}, not yet passed"


# -- concurrency: the per-resource calls of one step overlap; the steps stay in order -------------------------------


def _recorded(monkeypatch: pytest.MonkeyPatch, *, slow: tuple[str, ...] = (), then: Hook | None = None) -> list[Any]:
    """Every EC2 call of the run's member-role clients, in the order they were made, with the thread that made it;
    the ``slow`` ones wait 50 ms (as on AWS), so that calls made concurrently do overlap."""
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(model: Any, **kwargs: Any) -> None:
        with lock:
            calls.append((model.name, threading.current_thread().name))
        if then is not None:
            then(model=model, **kwargs)
        if model.name in slow:
            time.sleep(0.05)

    _hook(monkeypatch, "before-call.ec2.*", record)
    return calls


def test_final_snapshots_and_deletions_run_concurrently_and_every_delete_follows_its_snapshot_and_re_check(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 8 volumes marked snapshot-and-delete, due
    volumes = [_volume(ec2, f"scratch-{n}") for n in range(8)]
    for vid in volumes:
        _mark(ec2, vid, LATER - timedelta(days=1))
    calls = _recorded(monkeypatch, slow=("CreateSnapshot", "DeleteVolume"))

    # When the sweep runs
    result, audit = _run(_config(config, max_deletions_per_target=50), LATER)

    # Then every volume is gone, each with its own completed final snapshot, audited
    assert [o.ok for o in result.outcomes] == [True] * 8, [o.error for o in result.outcomes]
    assert not any(_exists(ec2, vid) for vid in volumes)
    finals = {o.action.resource: o.after["final_snapshot"] for o in result.outcomes}
    assert len(set(finals.values())) == 8
    assert {vid: _audited(audit)[vid]["after"]["final_snapshot"] for vid in volumes} == finals
    # and the snapshots and the deletions were each made on several threads
    names = [name for name, _ in calls]
    assert len({thread for name, thread in calls if name == "CreateSnapshot"}) > 1
    assert len({thread for name, thread in calls if name == "DeleteVolume"}) > 1
    # and in the order of the safety steps: every final snapshot made, then waited for (DescribeSnapshots), then the
    # volumes read once more, and only then the first DeleteVolume
    first_delete = names.index("DeleteVolume")
    last_snapshot = max(i for i, name in enumerate(names) if name == "CreateSnapshot")
    waited = max(i for i, name in enumerate(names[:first_delete]) if name == "DescribeSnapshots")
    re_read = max(i for i, name in enumerate(names[:first_delete]) if name == "DescribeVolumes")
    assert last_snapshot < waited < re_read < first_delete
    assert names[first_delete:].count("DeleteVolume") == 8


def test_a_volume_protected_while_the_concurrent_final_snapshots_were_made_is_kept(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    volumes = [_volume(ec2, f"scratch-{n}") for n in range(6)]
    for vid in volumes:
        _mark(ec2, vid, LATER - timedelta(days=1))
    kept = volumes[3]

    def protect(model: Any, **_: Any) -> None:  # the owner tags it while the snapshots are being made
        if model.name == "CreateSnapshot":
            ec2.create_tags(Resources=[kept], Tags=[{"Key": "finops:protect", "Value": "true"}])

    _recorded(monkeypatch, slow=("CreateSnapshot",), then=protect)

    result, audit = _run(_config(config), LATER)

    outcomes = {o.action.resource: o for o in result.outcomes}
    assert _exists(ec2, kept)
    assert not outcomes[kept].ok
    assert "protected" in str(outcomes[kept].error)
    assert outcomes[kept].after["final_snapshot"]  # made, kept for the record
    assert [vid for vid in volumes if _exists(ec2, vid)] == [kept]
    assert len(audit.items) == 6


def test_the_circuit_breaker_holds_concurrent_deletions_as_it_held_serial_ones(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    volumes = [_volume(ec2, f"scratch-{n}") for n in range(9)]
    for vid in volumes:
        _mark(ec2, vid, LATER - timedelta(days=1), "delete")
    calls = _recorded(monkeypatch, slow=("DeleteVolume",))
    no_final = {"volumes": {"final_snapshot": False}}

    held, _ = _run(_config(config, max_deletions_per_target=8, **no_final), LATER)
    assert [name for name, _ in calls].count("DeleteVolume") == 0
    assert all(_exists(ec2, vid) for vid in volumes)
    assert held.holds
    assert "Circuit breaker tripped" in held.holds[0]

    done, audit = _run(_config(config, max_deletions_per_target=9, **no_final), LATER)
    assert [name for name, _ in calls].count("DeleteVolume") == 9
    assert not any(_exists(ec2, vid) for vid in volumes)
    assert sum(o.ok for o in done.outcomes) == 9
    assert len(audit.items) == 9


def test_a_failed_sharing_lookup_among_concurrent_ones_keeps_only_that_snapshot_unjudged(
    ec2: Any, config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 6 old snapshots of a deleted source, and DescribeSnapshotAttribute failing for one of them
    source = _volume(ec2, "source")
    snapshots = [ec2.create_snapshot(VolumeId=source)["SnapshotId"] for _ in range(6)]
    ec2.delete_volume(VolumeId=source)
    broken = snapshots[2]

    def fail_for_one(model: Any, params: Any, **_: Any) -> None:
        if model.name == "DescribeSnapshotAttribute" and params["body"].get("SnapshotId") == broken:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try later"}}, model.name)

    calls = _recorded(monkeypatch, slow=("DescribeSnapshotAttribute",), then=fail_for_one)

    # When the first run marks what is due
    result, _ = _run(_config(config, snapshots={"retention_days": 20}), LATER)

    # Then every other snapshot is marked, the one whose sharing is unknown is not, and the lookups overlapped
    marked = {a.resource for a in result.planned if a.action == "mark"}
    assert marked == set(snapshots) - {broken}
    assert [name for name, _ in calls].count("DescribeSnapshotAttribute") == 6
    assert len({thread for name, thread in calls if name == "DescribeSnapshotAttribute"}) > 1
