"""`make run FN=auto_tagger` as a user runs it, against a moto server on 127.0.0.1 instead of AWS.

An Organization seeded through the API alone (its own ids, its own member role name), an instance launched in a member
account by a role carrying team and owner tags, and the CloudTrail event EventBridge would deliver for that launch.
The real command runs in a subprocess with nothing but credentials and AWS_ENDPOINT_URL, in report mode and then in
enforce mode, and we read the instance's tags back through the API, as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import load_event
from tests.e2e.test_run_against_moto_server import MANAGEMENT, ROLE, Api, Run, moto_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
REGION = "eu-west-1"
SAMPLE_ACCOUNT = "444444444444"  # the account the sample event names; replaced by this Organization's member
__all__ = ["moto_server"]  # the server fixture, shared with the scheduler's e2e test


def tags(api: Api, account: str, instance_id: str) -> dict[str, str]:
    [reservation] = api.client("ec2", account, REGION).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


@pytest.fixture(scope="module")
def launch(moto_server: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    api = moto_server
    org = api.client("organizations")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="builders@example.com", AccountName="builders")["CreateAccountStatus"]
    while status["State"] == "IN_PROGRESS":
        time.sleep(0.2)
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    member = status["AccountId"]
    admin = api.client("iam", member, role="OrganizationAccountAccessRole")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    admin.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))  # what the member StackSet does
    # the role that launches the instance: its team and owner are what the auto-tagger copies where they are missing
    admin.create_role(
        RoleName="PaymentsDeployer",
        Path="/deploy/",
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "team", "Value": "data"}, {"Key": "owner", "Value": "jane@example.com"}],
    )
    [instance] = api.client("ec2", member, REGION).run_instances(
        ImageId="ami-0c1c30571d2dae5c9",
        InstanceType="t3.medium",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "checkout-api-1"}, {"Key": "team", "Value": "payments"}],
            }
        ],
    )["Instances"]

    # the event EventBridge delivers for that launch: the sample, in this Organization's account, for this instance
    event = json.loads(json.dumps(load_event("cloudtrail_run_instances")).replace(SAMPLE_ACCOUNT, member))
    event["detail"]["responseElements"]["instancesSet"]["items"][0]["instanceId"] = instance["InstanceId"]
    work = tmp_path_factory.mktemp("auto-tagger")
    (work / "event.json").write_text(json.dumps(event))
    config = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(
        management_account_id=MANAGEMENT, automation_account_id=member, member_role_name=ROLE, regions=[REGION]
    )
    config["notifications"]["account_teams"] = {}  # the shipped ids belong to the simulated Organization
    assert config["capabilities"]["auto_tagger"]["mode"] == "report"  # as shipped
    (work / "report.yaml").write_text(yaml.safe_dump(config))
    config["capabilities"]["auto_tagger"]["mode"] = "enforce"
    (work / "enforce.yaml").write_text(yaml.safe_dump(config))
    return {"api": api, "account": member, "instance": instance["InstanceId"], "work": work}


def make_run(launch: dict[str, Any], tmp_path: Path, config: str, *, enforce: bool = False) -> Run:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "AWS_ENDPOINT_URL": launch["api"].endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    work = launch["work"]
    command = ["make", "--no-print-directory", "run", "FN=auto_tagger", f"EVENT={work / 'event.json'}"]
    command += [f"CONFIG={work / config}", *(["ENFORCE=yes"] if enforce else [])]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def test_report_then_enforce_tags_the_new_instance_with_its_creator_keeping_the_creators_own_tags(launch, tmp_path):
    api, account, instance = launch["api"], launch["account"], launch["instance"]
    as_launched = {"Name": "checkout-api-1", "team": "payments"}
    creator = f"arn:aws:iam::{account}:role/deploy/PaymentsDeployer session jane@example.com"
    assert tags(api, account, instance) == as_launched

    report = make_run(launch, tmp_path, "report.yaml")

    assert report.returncode == 0, report.stderr
    assert (report.result["mode"], report.result["status"], report.result["account"]) == ("report", "done", account)
    would = {t["type"]: t for t in report.result["would_tag"]}
    assert would["ec2:instance"]["id"] == instance
    assert would["ec2:instance"]["tags"] == {
        "finops:created-by": creator,
        "finops:created-at": "2026-11-27T09:15:02Z",
        "owner": "jane@example.com",
    }
    assert report.document["audit"] == []
    assert tags(api, account, instance) == as_launched  # report: untouched

    enforce = make_run(launch, tmp_path, "enforce.yaml", enforce=True)

    assert enforce.returncode == 0, enforce.stderr
    assert (enforce.result["mode"], enforce.result["status"]) == ("enforce", "done")
    assert tags(api, account, instance) == {
        **as_launched,  # the creator's team=payments kept, not replaced by the role's team=data
        "finops:created-by": creator,
        "finops:created-at": "2026-11-27T09:15:02Z",
        "owner": "jane@example.com",
    }
    audited = {r["target"]: r for r in enforce.document["audit"]}
    record = audited[f"{account}/{REGION}/{instance}"]
    assert (record["action"], record["before"]["tags"]) == ("auto_tagger:tag", as_launched)
    assert {t["type"] for t in enforce.result["tagged"]} == {"ec2:instance", "ec2:volume"}
