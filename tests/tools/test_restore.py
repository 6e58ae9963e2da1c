"""`make restore RECORD=...`: a volume the clean-up deleted comes back from its final snapshot, once, as it was.

Each test seeds moto through the API the way the clean-up leaves an account: a volume with tags and IOPS, its final
snapshot tagged as ``finops.services.cleanup.apply`` tags it (the same helpers), the volume deleted. The member
account is not the caller's: the restore reaches it through the member role, as ``make run`` does.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from finops.aws.clients import AccountScope, AwsClients
from finops.rules.cleanup_tags import ACTION_TAG, AFTER_TAG, FINAL_OF_TAG, RECORD_TAG, RESTORED_FROM_TAG
from finops.services.audit import record_id
from finops.services.cleanup.apply import _description, _snapshot_tags
from tests.conftest import ROOT
from tools.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from tools.restore import (
    FROM_RECORD,
    FROM_SNAPSHOT,
    DeletedVolume,
    RestoreFailed,
    RestoreInputError,
    plan_volume,
    restore,
)

CALLER = "123456789012"  # moto's account for the default credentials: the workstation's
MEMBER = "444455556666"
REGION = "eu-west-1"
RUN = "ebs_cleanup-20261209T060000Z"
OWN_TAGS = {"Name": "build-cache", "team": "data", "cost-center": "cc-42"}
MARKS = {ACTION_TAG: "snapshot-and-delete", AFTER_TAG: "2026-12-09T06:00:00Z"}


@dataclass(frozen=True)
class Deleted:
    record: str
    volume_id: str
    snapshot_id: str | None
    audit_record: dict[str, Any]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.delenv("AWS_REGION", raising=False)
    # Every boto3 session (the restore makes one per assumed role) shares one model loader, as tools/sim's do:
    # a fresh one re-reads the EC2 model, seconds per test.
    monkeypatch.setattr(boto3, "Session", _sharing_loader(boto3.Session))
    with mock_aws():
        yield


@cache
def _loader() -> Any:
    return botocore.loaders.create_loader()


def _sharing_loader(session_type: type[boto3.Session]) -> Any:
    def make(**kwargs: Any) -> boto3.Session:
        if "botocore_session" not in kwargs:
            core = botocore.session.get_session()
            core.register_component("data_loader", _loader())
            kwargs["botocore_session"] = core
        return session_type(**kwargs)

    return make


def ec2_in(account: str, role: str = "FinOpsMemberRole") -> Any:
    """An EC2 client acting in ``account``: moto's STS lets the default credentials assume any role."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def deleted_by_cleanup(
    ec2: Any,
    account: str = MEMBER,
    *,
    volume_type: str = "gp3",
    size: int = 100,
    iops: int | None = 4000,
    throughput: int | None = 250,
    zone: str = "eu-west-1b",
    multi_attach: bool = False,
    tags: dict[str, str] | None = None,
    final_snapshot: bool = True,
    run: str = RUN,
) -> Deleted:
    """Given a volume the clean-up marked, snapshotted (tags as apply.py writes them) and deleted."""
    extra = {k: v for k, v in (("Iops", iops), ("Throughput", throughput)) if v}
    all_tags = {**OWN_TAGS, **MARKS} if tags is None else tags
    volume_id = ec2.create_volume(
        AvailabilityZone=zone,
        Size=size,
        VolumeType=volume_type,
        MultiAttachEnabled=multi_attach,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}],
        **extra,
    )["VolumeId"]
    described = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    record = record_id(run, account, REGION, volume_id)
    snapshot_id = None
    if final_snapshot:
        snapshot_id = ec2.create_snapshot(
            VolumeId=volume_id,
            Description=_description(described, record),
            TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": _snapshot_tags(described, record, MARKS[AFTER_TAG])}
            ],
        )["SnapshotId"]
    ec2.delete_volume(VolumeId=volume_id)
    before = {
        "state": "available",
        "size_gb": size,
        "volume_type": volume_type,
        "iops": described.get("Iops"),
        "throughput": described.get("Throughput"),
        "zone": zone,
        "encrypted": False,
        "kms_key_id": None,
        "multi_attach": multi_attach,
        "created": described["CreateTime"].isoformat(),
        "snapshot_id": None,
        "tags": all_tags,
    }
    after = {"verified": True, "deleted": True}
    if snapshot_id:
        after |= {"final_snapshot": snapshot_id, "record_id": record}
    audit_record = {"id": record, "action": "ebs_cleanup:delete", "before": before, "after": after}
    return Deleted(record, volume_id, snapshot_id, audit_record)


def volumes(ec2: Any) -> list[dict[str, Any]]:
    return ec2.describe_volumes()["Volumes"]


def tags_of(described: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def quiet(_: str) -> None:
    return None


def run_restore(config: Any, record: str, **kwargs: Any) -> Any:
    kwargs.setdefault("sleep", lambda _: None)
    return restore(record, scopes=AwsClients(region=REGION), config=config, say=quiet, **kwargs)


# -- report mode, enforce, idempotence -----------------------------------------------------------------------------


def test_report_mode_prints_the_create_volume_request_and_changes_nothing(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)

    result = run_restore(config, deleted.record, audit_record=deleted.audit_record)

    assert result.ok
    assert (result.mode, result.status, result.restored_volume_id) == ("report", "planned", None)
    assert result.source == FROM_RECORD
    assert result.snapshot["id"] == deleted.snapshot_id
    assert result.snapshot["found_by"] == f"tag:{RECORD_TAG}"
    assert result.volume == {
        "AvailabilityZone": "eu-west-1b",
        "SnapshotId": deleted.snapshot_id,
        "VolumeType": "gp3",
        "Size": 100,
        "Iops": 4000,
        "Throughput": 250,
        "TagSpecifications": [
            {
                "ResourceType": "volume",
                "Tags": [
                    {"Key": "Name", "Value": "build-cache"},
                    {"Key": "team", "Value": "data"},
                    {"Key": "cost-center", "Value": "cc-42"},
                    {"Key": RESTORED_FROM_TAG, "Value": deleted.record},
                ],
            }
        ],
    }
    assert volumes(ec2) == []  # nothing was created
    assert result.audit == []
    assert any("report mode: nothing created" in note for note in result.notes)


def test_enforce_recreates_the_volume_as_it_was_with_restored_from(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)

    result = run_restore(config, deleted.record, enforce=True, audit_record=deleted.audit_record)

    assert (result.ok, result.mode, result.status) == (True, "enforce", "restored")
    [volume] = volumes(ec2)
    assert volume["VolumeId"] == result.restored_volume_id != deleted.volume_id
    assert volume["State"] == "available"
    assert volume["SnapshotId"] == deleted.snapshot_id
    assert (volume["VolumeType"], volume["Size"], volume["Iops"], volume["Throughput"]) == ("gp3", 100, 4000, 250)
    assert volume["AvailabilityZone"] == "eu-west-1b"
    assert tags_of(volume) == {**OWN_TAGS, RESTORED_FROM_TAG: deleted.record}  # no mark tags
    [entry] = result.audit
    assert entry["action"] == "ebs_cleanup:restore"
    assert entry["target"] == f"{MEMBER}/{REGION}/{deleted.volume_id}"
    assert entry["before"] == deleted.audit_record["before"]
    assert entry["after"]["restored_volume_id"] == volume["VolumeId"]
    assert any("no hub audit table is reachable from a workstation" in note for note in result.notes)


def test_a_second_enforce_finds_the_restored_volume_and_does_nothing(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)
    first = run_restore(config, deleted.record, enforce=True, audit_record=deleted.audit_record)

    again = run_restore(config, deleted.record, enforce=True, audit_record=deleted.audit_record)

    assert (again.ok, again.status) == (True, "already-restored")
    assert again.restored_volume_id == first.restored_volume_id
    assert [v["VolumeId"] for v in volumes(ec2)] == [first.restored_volume_id]
    assert again.audit == []
    assert f"{first.restored_volume_id} (available) already carries {RESTORED_FROM_TAG}" in again.notes[0]


def test_without_an_audit_record_the_snapshot_tags_are_the_source(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(
        ec2, volume_type="io2", size=200, iops=6000, throughput=None, zone="eu-west-1c", multi_attach=True
    )

    result = run_restore(config, deleted.record, enforce=True)

    assert result.source == FROM_SNAPSHOT
    [volume] = volumes(ec2)
    assert (volume["VolumeType"], volume["Size"], volume["Iops"]) == ("io2", 200, 6000)
    assert volume["AvailabilityZone"] == "eu-west-1c"
    assert volume["MultiAttachEnabled"] is True
    assert tags_of(volume) == {**OWN_TAGS, RESTORED_FROM_TAG: deleted.record}
    assert result.before == {
        "volume_type": "io2",
        "size_gb": 200,
        "iops": 6000,
        "throughput": None,
        "zone": "eu-west-1c",
        "multi_attach": True,
        "tags": OWN_TAGS,
    }
    assert any(f"from {deleted.snapshot_id}'s finops:volume tag" in note for note in result.notes)


def test_the_member_account_is_reached_through_the_member_role_not_the_callers(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)
    assumed: list[tuple[str, str, str]] = []
    clients = AwsClients(region=REGION)

    class Spy:
        def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope:
            assumed.append((account, region, role_name))
            return clients.assume_role(account, region, role_name=role_name, session_name=session_name)

    result = restore(deleted.record, scopes=Spy(), config=config, enforce=True, say=quiet, sleep=lambda _: None)

    assert clients.caller_account() == CALLER != MEMBER
    assert assumed == [(MEMBER, REGION, config.organization.member_role_name)]
    assert [v["VolumeId"] for v in volumes(ec2)] == [result.restored_volume_id]
    assert volumes(boto3.client("ec2", region_name=REGION)) == []  # nothing in the caller's own account


def test_role_overrides_the_member_role(aws, config):
    deleted = deleted_by_cleanup(ec2_in(MEMBER))
    assumed: list[str] = []
    clients = AwsClients(region=REGION)

    class Spy:
        def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope:
            assumed.append(role_name)
            return clients.assume_role(account, region, role_name=role_name, session_name=session_name)

    restore(deleted.record, scopes=Spy(), config=config, role_name="OrganizationAccountAccessRole", say=quiet)

    assert assumed == ["OrganizationAccountAccessRole"]


# -- finding the snapshot ------------------------------------------------------------------------------------------


def test_a_snapshot_an_earlier_run_made_is_found_by_the_volume_and_the_note_says_so(aws, config):
    """The snapshot's record tag names another run (it was re-tagged by hand, or the re-tag failed)."""
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2, run="ebs_cleanup-20261208T060000Z")
    later = record_id(RUN, MEMBER, REGION, deleted.volume_id)

    result = run_restore(config, later)

    assert result.snapshot["id"] == deleted.snapshot_id
    assert result.snapshot["found_by"] == f"tag:{FINAL_OF_TAG}"
    assert f"no snapshot carries {RECORD_TAG}={later}" in result.notes[0]
    assert f"its record tag names {deleted.record}" in result.notes[0]


def test_a_missing_snapshot_fails_naming_the_record_and_what_was_searched(aws, config):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)
    ec2.delete_snapshot(SnapshotId=deleted.snapshot_id)

    with pytest.raises(RestoreFailed) as failed:
        run_restore(config, deleted.record, enforce=True, audit_record=deleted.audit_record)

    message = str(failed.value)
    assert f"no final snapshot for {deleted.record}" in message
    assert f"{RECORD_TAG}={deleted.record} or {FINAL_OF_TAG}={deleted.volume_id}" in message
    assert f"nor is {deleted.snapshot_id} (the audit record's final snapshot) there" in message
    assert "Recycle Bin" in message
    assert volumes(ec2) == []


def test_a_deletion_without_a_final_snapshot_says_final_snapshot_was_off(aws, config):
    deleted = deleted_by_cleanup(ec2_in(MEMBER), final_snapshot=False)

    with pytest.raises(RestoreFailed, match=r"the deletion made none \(.*final_snapshot was off\)"):
        run_restore(config, deleted.record, audit_record=deleted.audit_record)


def test_a_volume_that_still_exists_is_not_restored_a_second_time(aws, config):
    ec2 = ec2_in(MEMBER)
    volume_id = ec2.create_volume(AvailabilityZone="eu-west-1b", Size=10, VolumeType="gp3")["VolumeId"]

    with pytest.raises(RestoreFailed, match=f"{volume_id} still exists .* nothing to restore"):
        run_restore(config, record_id(RUN, MEMBER, REGION, volume_id), enforce=True)

    assert len(volumes(ec2)) == 1


# -- waiting -------------------------------------------------------------------------------------------------------


def creating_for(monkeypatch: pytest.MonkeyPatch, reads: int) -> None:
    """The restored volume reads as ``creating`` for the next ``reads`` DescribeVolumes calls (moto makes it
    ``available`` at once)."""
    left = [reads]
    make = AccountScope.client

    def client(self: AccountScope, service: str) -> Any:
        made = make(self, service)

        def creating(parsed: dict[str, Any], **_: Any) -> None:
            restored = [v for v in parsed.get("Volumes", []) if v.get("SnapshotId")]
            if restored and left[0] > 0:
                left[0] -= 1
                for volume in restored:
                    volume["State"] = "creating"

        made.meta.events.register("after-call.ec2.DescribeVolumes", creating)
        return made

    monkeypatch.setattr(AccountScope, "client", client)


def test_enforce_waits_until_the_volume_is_available(aws, config, monkeypatch):
    deleted = deleted_by_cleanup(ec2_in(MEMBER))
    creating_for(monkeypatch, reads=2)
    slept: list[float] = []

    result = run_restore(config, deleted.record, enforce=True, sleep=slept.append)

    assert (result.ok, result.status) == (True, "restored")
    assert slept == [5.0, 5.0]


def test_a_volume_still_creating_when_the_wait_ends_fails_and_names_it(aws, config, monkeypatch):
    deleted = deleted_by_cleanup(ec2_in(MEMBER))
    creating_for(monkeypatch, reads=100)
    slept: list[float] = []

    result = run_restore(config, deleted.record, enforce=True, sleep=slept.append, max_wait_seconds=20)

    assert (result.ok, result.status) == (False, "creating")
    assert sum(slept) == 20
    assert f"{result.restored_volume_id} is still creating after 20 s" in " ".join(result.notes)
    assert result.audit[0]["after"]["state"] == "creating"


# -- the plan, pure ------------------------------------------------------------------------------------------------

TARGET = DeletedVolume(f"{RUN}/{MEMBER}/{REGION}/vol-1", RUN, MEMBER, REGION, "vol-1")


def snapshot(spec: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    tags = {"finops:volume": spec, FINAL_OF_TAG: "vol-1", RECORD_TAG: TARGET.record, **(tags or {})}
    return {"SnapshotId": "snap-1", "State": "completed", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("type=gp2 size=50 iops=150 az=eu-west-1a", {"VolumeType": "gp2", "Size": 50}),  # gp2's iops is its baseline
        ("type=gp3 size=8 iops=3000 throughput=125 az=eu-west-1a", {"Iops": 3000, "Throughput": 125}),
        ("type=io1 size=8 iops=500 throughput=9 az=eu-west-1a", {"Iops": 500}),  # throughput is gp3's only
        ("type=io2 size=8 iops=500 az=eu-west-1a multiattach=true", {"Iops": 500, "MultiAttachEnabled": True}),
        ("type=st1 size=500 az=eu-west-1a", {"VolumeType": "st1", "Size": 500}),
    ],
)
def test_the_request_carries_only_what_create_volume_takes_for_the_type(spec, expected):
    request = plan_volume(TARGET, snapshot(spec)).request

    assert expected.items() <= request.items()
    assert not {"Iops", "Throughput", "MultiAttachEnabled"} - expected.keys() & request.keys()


def test_aws_tags_are_not_copied_and_the_restored_from_tag_always_fits():
    own = {f"tag-{i:02}": "x" for i in range(49)}
    before = {"volume_type": "gp3", "size_gb": 8, "zone": "eu-west-1a", "tags": {"aws:backup:plan": "p", **own}}

    plan = plan_volume(TARGET, snapshot("type=gp3 size=8 az=eu-west-1a"), before)

    tags = plan.request["TagSpecifications"][0]["Tags"]
    assert len(tags) == 50
    assert tags[-1] == {"Key": RESTORED_FROM_TAG, "Value": TARGET.record}
    assert "aws:backup:plan" not in {t["Key"] for t in tags}
    assert any("AWS reserves the aws: prefix" in note for note in plan.notes)


def test_the_audit_record_wins_over_the_snapshot_tag_and_the_note_says_so():
    before = {"volume_type": "gp3", "size_gb": 120, "zone": "eu-west-1a", "tags": {}}

    plan = plan_volume(TARGET, snapshot("type=gp3 size=100 az=eu-west-1a"), before)

    assert plan.request["Size"] == 120
    assert "size_gb 100 vs 120" in plan.notes[0]


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        (None, "has no finops:volume tag"),
        ("type=gp3 size=8", "its finops:volume tag is unreadable: missing az"),
        ("type=gp3 size=8 az=us-east-1a", "zone us-east-1a is not in eu-west-1"),
    ],
)
def test_snapshot_tags_that_say_too_little_fail_the_restore(spec, complaint):
    described = snapshot(spec or "")
    if spec is None:
        described["Tags"] = [t for t in described["Tags"] if t["Key"] != "finops:volume"]

    with pytest.raises(RestoreFailed, match=complaint):
        plan_volume(TARGET, described)


# -- bad input -----------------------------------------------------------------------------------------------------


def test_an_excluded_account_is_never_assumed_into(config):
    excluded = config.model_copy(
        update={"organization": config.organization.model_copy(update={"excluded_accounts": [MEMBER]})}
    )

    with pytest.raises(RestoreInputError, match=r"organization\.excluded_accounts"):
        restore(TARGET.record, scopes=AwsClients(region=REGION), config=excluded, say=quiet)


def test_an_audit_record_of_another_id_or_action_is_refused(config):
    with pytest.raises(RestoreInputError, match="the audit record given is 'other'"):
        restore(TARGET.record, scopes=AwsClients(), config=config, audit_record={"id": "other"}, say=quiet)
    with pytest.raises(RestoreInputError, match="records 'ebs_cleanup:gp3', not a deletion"):
        restore(
            TARGET.record,
            scopes=AwsClients(),
            config=config,
            audit_record={"id": TARGET.record, "action": "ebs_cleanup:gp3"},
            say=quiet,
        )


# -- the command ---------------------------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, dict[str, Any] | None]:
    out = io.StringIO()
    code = main(["restore", "--config", str(ROOT / "finops.yaml"), *args], stdout=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


@pytest.mark.parametrize(
    ("record", "complaint"),
    [
        ("vol-0abc", "expected <run id>/<account>/<region>/<resource id>"),
        (f"{RUN}/4444/eu-west-1/vol-1", "'4444' is not a 12-digit account id"),
        (f"{RUN}/{MEMBER}/Ireland/vol-1", "'Ireland' is not a region"),
        (
            f"{RUN}/{MEMBER}/{REGION}/snap-1",
            "only deleted volumes are restored (a deleted snapshot comes back from the Recycle Bin)",
        ),
    ],
)
def test_a_malformed_record_id_exits_2_naming_the_expected_shape(record, complaint, capsys):
    code, document = cli("--record", record)

    assert (code, document) == (EXIT_BAD_INPUT, None)
    assert complaint in capsys.readouterr().err


def test_a_missing_snapshot_exits_1_naming_the_record(aws, capsys):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)
    ec2.delete_snapshot(SnapshotId=deleted.snapshot_id)

    code, document = cli("--record", deleted.record, "--enforce")

    assert (code, document) == (EXIT_FAILED, None)
    assert f"no final snapshot for {deleted.record}" in capsys.readouterr().err


def test_the_command_restores_from_a_run_documents_audit_record(aws, tmp_path, capsys):
    ec2 = ec2_in(MEMBER)
    deleted = deleted_by_cleanup(ec2)
    run_document = tmp_path / "run.json"
    run_document.write_text(json.dumps({"result": {}, "audit": [{"id": "other"}, deleted.audit_record]}))

    code, document = cli("--record", deleted.record, "--enforce", "--audit-file", str(run_document))

    assert code == 0, capsys.readouterr().err
    assert set(document) == {
        "record", "account", "region", "deleted_volume", "mode", "status", "snapshot", "volume",
        "restored_volume_id", "source", "before", "audit", "notes",
    }  # fmt: skip
    assert (document["mode"], document["status"], document["source"]) == ("enforce", "restored", FROM_RECORD)
    assert [v["VolumeId"] for v in volumes(ec2)] == [document["restored_volume_id"]]
    assert f"created {document['restored_volume_id']}" in capsys.readouterr().err


def test_an_audit_file_without_the_record_exits_2(tmp_path, capsys):
    run_document = tmp_path / "run.json"
    run_document.write_text(json.dumps({"audit": [{"id": "other"}]}))

    code, _ = cli("--record", TARGET.record, "--audit-file", str(run_document))

    assert code == EXIT_BAD_INPUT
    assert f"no audit record with id {TARGET.record!r} among its 1 record(s)" in capsys.readouterr().err


def test_make_restore_passes_the_record_enforce_and_config():
    completed = subprocess.run(
        ["make", "--no-print-directory", "-n", "restore", "RECORD=x", "ENFORCE=yes", "CONFIG=my.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert completed.returncode == 0, completed.stderr
    command = shlex.split(next(line for line in completed.stdout.splitlines() if "tools.cli restore" in line))
    assert command[command.index("--record") + 1] == "x"
    assert command[command.index("--config") + 1] == "my.yaml"
    assert "--enforce" in command
    assert "--audit-file" not in command


def test_make_restore_without_a_record_says_how_to_call_it():
    completed = subprocess.run(
        ["make", "--no-print-directory", "restore"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert completed.returncode == 2
    assert "usage: make restore RECORD=<run id>/<account>/<region>/<volume id>" in completed.stderr
