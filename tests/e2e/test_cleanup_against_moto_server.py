"""`make run FN=ebs_cleanup` and `make restore` as a user runs them, against a moto server on 127.0.0.1.

The same Organization as the scheduler's moto-server test (its own account ids, the member role `AcmeFinOpsAccess`
created through each account's OrganizationAccountAccessRole), plus volumes and snapshots made through the API. moto
cannot backdate a volume, so the runs' clock (the event's time) is a month ahead instead. moto has no Recycle Bin:
with `require_recycle_bin` the clean-up must refuse to delete, and does.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_run_against_moto_server import MANAGEMENT, ROLE, Api, Estate, Run, estate, moto_server

pytestmark = pytest.mark.slow
__all__ = ["estate", "moto_server"]  # the fixtures, shared with the scheduler's test

ROOT = Path(__file__).parents[2]
MARK_TIME = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
SWEEP_TIME = MARK_TIME + timedelta(days=8)


def _volume(api: Api, account: str, region: str, name: str, size: int = 10, **tags: str) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()]
    return str(
        api.client("ec2", account, region).create_volume(
            AvailabilityZone=f"{region}a",
            Size=size,
            VolumeType="gp3",
            Iops=4000,
            Throughput=200,
            TagSpecifications=[{"ResourceType": "volume", "Tags": tag_list}],
        )["VolumeId"]
    )


@pytest.fixture(scope="module")
def storage(estate: Estate) -> dict[str, tuple[str, str, str]]:
    """name -> (account, region, id) of every volume and snapshot seeded for the clean-up."""
    api, accounts = estate.api, estate.accounts
    sandbox, analytics, prod = accounts["sandbox"], accounts["analytics"], accounts["payments-prod"]
    made: dict[str, tuple[str, str, str]] = {}
    for name, account, region, tags in (
        ("sandbox-scratch", sandbox, "eu-west-1", {"team": "data"}),
        ("sandbox-keep", sandbox, "eu-west-1", {"finops:protect": "true"}),
        ("sandbox-prod-tagged-volume", sandbox, "eu-west-1", {"environment": "prod"}),
        ("analytics-old", analytics, "eu-central-1", {}),
        ("payments-prod-volume", prod, "eu-west-1", {}),
        ("sandbox-attached", sandbox, "eu-west-1", {}),
    ):
        made[name] = (account, region, _volume(api, account, region, name, **tags))
    ec2 = api.client("ec2", sandbox, "eu-west-1")
    dev = estate.instances["sandbox-dev"]
    ec2.attach_volume(VolumeId=made["sandbox-attached"][2], InstanceId=dev.id, Device="/dev/sdf")
    orphan = ec2.create_snapshot(VolumeId=made["sandbox-attached"][2], Description="from an AMI since deregistered")
    made["sandbox-orphan-snapshot"] = (sandbox, "eu-west-1", orphan["SnapshotId"])
    return made


@pytest.fixture(scope="module")
def cleanup_files(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("cleanup")
    config = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(
        management_account_id=MANAGEMENT,
        automation_account_id=estate.accounts["sandbox"],
        member_role_name=ROLE,
        regions=["eu-west-1", "eu-central-1"],
    )
    known = set(estate.accounts.values())
    notifications = config["notifications"]
    notifications["account_teams"] = {k: v for k, v in notifications.get("account_teams", {}).items() if k in known}
    cleanup = config["capabilities"]["ebs_cleanup"]
    cleanup.update(mode="enforce", max_deletion_percent=100, snapshots={"retention_days": 20})
    paths = {"recycle-bin": work / "recycle-bin.yaml", "enforce": work / "enforce.yaml"}
    paths["recycle-bin"].write_text(
        yaml.safe_dump(
            {**config, "capabilities": {**config["capabilities"], "ebs_cleanup": {**cleanup, "grace_days": 0}}}
        )
    )
    cleanup["require_recycle_bin"] = False  # moto has no Recycle Bin
    paths["enforce"].write_text(yaml.safe_dump(config))
    for name, when in (("mark", MARK_TIME), ("sweep", SWEEP_TIME)):
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps({"capability": "ebs_cleanup", "time": when.isoformat()}))
    return paths


def _env(estate: Estate, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "AWS_ENDPOINT_URL": estate.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        # moto has no Recycle Bin: its 500s for rbin are final, so one attempt (the clients' default of 8 retries
        # with back-off only waits here)
        "AWS_MAX_ATTEMPTS": "1",
    }


def make(estate: Estate, tmp_path: Path, *args: str) -> Run:
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=_env(estate, tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _tags(estate: Estate, where: tuple[str, str, str]) -> dict[str, str] | None:
    account, region, resource = where
    ec2 = estate.api.client("ec2", account, region)
    if resource.startswith("vol-"):
        found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [resource]}])["Volumes"]
    else:
        found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [resource]}])["Snapshots"]
    return {t["Key"]: t["Value"] for t in found[0].get("Tags", [])} if found else None


MARKED = {"sandbox-scratch", "analytics-old", "sandbox-orphan-snapshot"}
NEVER = {"sandbox-keep", "sandbox-prod-tagged-volume", "payments-prod-volume", "sandbox-attached"}


def test_the_cycle_marks_then_deletes_after_the_grace_period_and_a_restore_undoes_it(
    estate: Estate, storage: dict[str, tuple[str, str, str]], cleanup_files: dict[str, Path], tmp_path: Path
) -> None:
    files = cleanup_files
    mark = make(
        estate, tmp_path, "run", "FN=ebs_cleanup", f"EVENT={files['mark']}", f"CONFIG={files['enforce']}", "ENFORCE=yes"
    )
    assert mark.returncode == 0, mark.stderr
    assert mark.result["status"] == "completed", mark.result
    marked = {name for name, where in storage.items() if "finops:cleanup-after" in (_tags(estate, where) or {})}
    assert marked == MARKED
    skipped = {s["resource"]: s["reason"] for s in mark.result["skipped"]}
    assert skipped[storage["sandbox-keep"][2]] == "protected (finops:protect=true)"
    assert skipped[storage["payments-prod-volume"][2]] == "prod account (account tag environment=prod)"
    digest = {m["channel"]: json.dumps(m) for m in mark.document["slack"]}
    assert "sandbox-scratch" in digest["#data-oncall"]  # its owner tag, not its account's team
    assert "finops:protect" in digest["#data-oncall"]

    sweep = make(
        estate,
        tmp_path,
        "run",
        "FN=ebs_cleanup",
        f"EVENT={files['sweep']}",
        f"CONFIG={files['enforce']}",
        "ENFORCE=yes",
    )
    assert sweep.returncode == 0, sweep.stderr
    assert {name for name, where in storage.items() if _tags(estate, where) is None} == MARKED
    assert all(_tags(estate, storage[name]) is not None for name in NEVER)
    records = {r["target"].rsplit("/", 1)[1]: r for r in sweep.document["audit"]}
    scratch = records[storage["sandbox-scratch"][2]]
    assert scratch["action"] == "ebs_cleanup:delete"
    assert scratch["after"]["verified"] is True
    final = scratch["after"]["final_snapshot"]
    assert _tags(estate, (*storage["sandbox-scratch"][:2], final))["finops:restore-record"] == scratch["id"]

    document = tmp_path / "sweep.json"
    document.write_text(sweep.stdout)
    preview = make(estate, tmp_path, "restore", f"RECORD={scratch['id']}", f"CONFIG={files['enforce']}")
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["restored_volume_id"] is None
    restored = make(
        estate,
        tmp_path,
        "restore",
        f"RECORD={scratch['id']}",
        f"CONFIG={files['enforce']}",
        f"AUDIT={document}",
        "ENFORCE=yes",
    )
    assert restored.returncode == 0, restored.stderr
    volume_id = json.loads(restored.stdout)["restored_volume_id"]
    account, region, _ = storage["sandbox-scratch"]
    [volume] = estate.api.client("ec2", account, region).describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert (volume["Size"], volume["VolumeType"], volume["Iops"], volume["AvailabilityZone"]) == (
        10,
        "gp3",
        4000,
        f"{region}a",
    )
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["Name"] == "sandbox-scratch"
    assert tags["team"] == "data"
    assert tags["finops:restored-from"] == scratch["id"]


def test_without_a_recycle_bin_nothing_is_deleted_and_the_run_says_why(
    estate: Estate, storage: dict[str, tuple[str, str, str]], cleanup_files: dict[str, Path], tmp_path: Path
) -> None:
    account, region = estate.accounts["sandbox"], "eu-west-1"
    volume = _volume(estate.api, account, region, "sandbox-no-bin")
    run = make(
        estate,
        tmp_path,
        "run",
        "FN=ebs_cleanup",
        f"EVENT={cleanup_files['sweep']}",
        f"CONFIG={cleanup_files['recycle-bin']}",
        "ENFORCE=yes",
    )
    assert run.returncode == 0, run.stderr
    held: dict[str, Any] = {(h["account"], h["region"]): h["holds"] for h in run.result["held_targets"]}
    assert any("Recycle Bin" in text for text in held[account, region])
    tags = _tags(estate, (account, region, volume))
    assert tags is not None  # not deleted: with grace_days 0 it would have gone in this run
    assert "finops:cleanup-after" in tags  # but marked, so its owner hears of it
    assert not [r for r in run.document["audit"] if r["action"] == "ebs_cleanup:delete"]
