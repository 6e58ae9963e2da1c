"""`make run FN=scheduler` as a user runs it, against a moto server on 127.0.0.1 instead of AWS.

The Organization is seeded through the AWS API alone (no moto internals), the way it exists in a real estate: member
accounts made by CreateAccount (moto picks their ids), account tags in Organizations, the member role created in each
account through its OrganizationAccountAccessRole (as the StackSet would), EC2 instances in two regions. Then the real
command runs in a subprocess with nothing but credentials and AWS_ENDPOINT_URL, and we read back through the API what
it changed, as an operator would in the console.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
MANAGEMENT = "123456789012"  # moto's account for the default credentials: it creates the Organization
ROLE = "AcmeFinOpsAccess"  # not the shipped default (moto's AssumeRole accepts any role name, so it cannot tell)
REGIONS = ("eu-west-1", "eu-central-1")
UNCONFIGURED_REGION = "us-east-1"
FRIDAY_EVENING = "2026-11-27T18:00:00Z"  # Friday 19:00 in Berlin: office-hours stops
MONDAY_MORNING = "2026-11-30T06:00:00Z"  # Monday 07:00 in Berlin: office-hours starts
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
OFFICE_HOURS_DEV = {"schedule": "office-hours", "environment": "dev"}

# Which instances the scheduler may stop and start: the dev office-hours ones in non-prod member accounts, in the
# configured regions. Everything else must be left running, whatever its schedule tag says.
SCHEDULED = {"sandbox-dev", "analytics-dev", "analytics-dev-frankfurt"}
LEFT_ALONE = {
    "payments-prod-dev": "prod account (account tag environment=prod)",
    "sandbox-always-on": "opted out (schedule=always-on)",
    "sandbox-protected": "protected (finops:protect=true)",
    "sandbox-prod-tagged": "prod (environment=prod)",
}
UNSEEN = {"sandbox-untagged", "sandbox-us-east-1", "management-dev"}  # no schedule; region not configured; mgmt


@dataclass(frozen=True)
class Instance:
    name: str
    account: str
    region: str
    id: str


class Api:
    """Clients of the moto server as each account's own caller: the default credentials for the management account,
    an assumed role for a member. One boto3 session, so each service model is loaded once."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._session = boto3.Session()
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        self._clients: dict[tuple[str, str, str, str], Any] = {}

    def client(self, service: str, account: str = MANAGEMENT, region: str = "us-east-1", *, role: str = ROLE) -> Any:
        key = (service, account, region, role)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service, endpoint_url=self.endpoint, region_name=region, **self._as(account, role)
            )
        return self._clients[key]

    def answers(self) -> bool:
        probe = self._session.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
            **CREDENTIALS,
        )
        try:
            probe.get_caller_identity()
        except (BotoCoreError, ClientError):
            return False
        return True

    def _as(self, account: str, role: str) -> dict[str, str]:
        if account == MANAGEMENT:
            return CREDENTIALS
        if (account, role) not in self._credentials:
            assumed = self.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="e2e-seed"
            )["Credentials"]
            self._credentials[account, role] = {
                "aws_access_key_id": assumed["AccessKeyId"],
                "aws_secret_access_key": assumed["SecretAccessKey"],
                "aws_session_token": assumed["SessionToken"],
            }
        return self._credentials[account, role]


@dataclass(frozen=True)
class Estate:
    api: Api
    accounts: dict[str, str]  # account name -> id (moto's random ids)
    instances: dict[str, Instance]  # by Name tag

    @property
    def endpoint(self) -> str:
        return self.api.endpoint

    def states(self) -> dict[str, str]:
        """Every seeded instance's state, read back through DescribeInstances."""
        states: dict[str, str] = {}
        for account, region in {(i.account, i.region) for i in self.instances.values()}:
            for reservation in self.api.client("ec2", account, region).describe_instances()["Reservations"]:
                for described in reservation["Instances"]:
                    name = {t["Key"]: t["Value"] for t in described.get("Tags", [])}["Name"]
                    states[name] = described["State"]["Name"]
        return states

    def given(self, *, stopped: Collection[str] = ()) -> None:
        """Start every instance, then stop ``stopped``: each test begins from the state it names."""
        for name, instance in self.instances.items():
            ec2 = self.api.client("ec2", instance.account, instance.region)
            if name in stopped:
                ec2.stop_instances(InstanceIds=[instance.id])
            else:
                ec2.start_instances(InstanceIds=[instance.id])
        assert self.states() == {name: "stopped" if name in stopped else "running" for name in self.instances}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={"PATH": os.environ["PATH"], "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = Api(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while not api.answers():
            if server.poll() is not None:
                pytest.fail(f"moto server exited with {server.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                pytest.fail(f"moto server on {api.endpoint} did not answer within 30 s; see {log.name}")
            time.sleep(0.2)
        yield api
    finally:
        server.kill()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def estate(moto_server: Api) -> Estate:
    """An Organization of a management account and three members: a prod one, a plain one, one owned by team data."""
    api = moto_server
    org = api.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {
        name: org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        for name in ("prod", "nonprod")
    }
    accounts: dict[str, str] = {}
    for name, ou, tags in (
        ("payments-prod", "prod", {"environment": "prod"}),
        ("sandbox", "nonprod", {}),
        ("analytics", "nonprod", {"team": "data"}),
    ):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        while status["State"] == "IN_PROGRESS":  # asynchronous in AWS; moto answers SUCCEEDED at once
            time.sleep(0.2)
            status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        assert status["State"] == "SUCCEEDED", status
        accounts[name] = status["AccountId"]
        org.move_account(AccountId=accounts[name], SourceParentId=root, DestinationParentId=ous[ou])
        if tags:
            org.tag_resource(ResourceId=accounts[name], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    listed = {a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]}
    assert listed == {MANAGEMENT, *accounts.values()}  # the management account is listed too, as in AWS

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    for account in accounts.values():  # what the FinOpsMember StackSet does, through the role CreateAccount made
        iam = api.client("iam", account, role="OrganizationAccountAccessRole")
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))

    instances: dict[str, Instance] = {}

    def launch(name: str, account: str, region: str, **tags: str) -> None:
        ec2 = api.client("ec2", account, region)
        tag_list = [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()]
        [launched] = ec2.run_instances(
            ImageId="ami-12345678",  # moto server without its default AMIs accepts any id
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list}],
        )["Instances"]
        instances[name] = Instance(name, account, region, launched["InstanceId"])

    prod, sandbox, analytics = accounts["payments-prod"], accounts["sandbox"], accounts["analytics"]
    launch("payments-prod-dev", prod, "eu-west-1", **OFFICE_HOURS_DEV)
    launch("sandbox-dev", sandbox, "eu-west-1", **OFFICE_HOURS_DEV)
    launch("sandbox-always-on", sandbox, "eu-west-1", schedule="always-on", environment="dev")
    launch("sandbox-protected", sandbox, "eu-west-1", **OFFICE_HOURS_DEV, **{"finops:protect": "true"})
    launch("sandbox-prod-tagged", sandbox, "eu-west-1", schedule="office-hours", environment="prod")
    launch("sandbox-untagged", sandbox, "eu-west-1")
    launch("sandbox-us-east-1", sandbox, UNCONFIGURED_REGION, **OFFICE_HOURS_DEV)
    launch("analytics-dev", analytics, "eu-west-1", **OFFICE_HOURS_DEV)
    launch("analytics-dev-frankfurt", analytics, "eu-central-1", **OFFICE_HOURS_DEV)
    launch("management-dev", MANAGEMENT, "eu-west-1", **OFFICE_HOURS_DEV)
    assert set(instances) == SCHEDULED | set(LEFT_ALONE) | UNSEEN
    return Estate(api, accounts, instances)


@pytest.fixture(scope="module")
def files(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped finops.yaml pointed at this Organization (report, and enforce), and the events."""
    work = tmp_path_factory.mktemp("run")
    config = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(
        management_account_id=MANAGEMENT,
        automation_account_id=estate.accounts["sandbox"],
        member_role_name=ROLE,
        regions=list(REGIONS),
    )
    known = set(estate.accounts.values())  # the shipped ids belong to the simulated Organization, not this one
    notifications = config["notifications"]
    notifications["account_teams"] = {k: v for k, v in notifications.get("account_teams", {}).items() if k in known}
    paths = {"report": work / "report.yaml", "enforce": work / "enforce.yaml"}
    assert config["capabilities"]["scheduler"]["mode"] == "report"  # as shipped
    paths["report"].write_text(yaml.safe_dump(config))
    config["capabilities"]["scheduler"]["mode"] = "enforce"
    paths["enforce"].write_text(yaml.safe_dump(config))
    for name, event in (("friday", {"time": FRIDAY_EVENING}), ("monday", {"time": MONDAY_MORNING}), ("bad", {})):
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps(event))
    return paths


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.stdout))
        except json.JSONDecodeError as exc:
            pytest.fail(f"stdout is not one JSON document ({exc}):\n{self.stdout[:2000]}\nstderr:\n{self.stderr}")

    @property
    def result(self) -> dict[str, Any]:
        return self.document["result"]


def make_run(estate: Estate, tmp_path: Path, event: Path, config: Path, *, enforce: bool = False) -> Run:
    """`make run FN=scheduler ...` from the repository, with only credentials and the endpoint in its environment."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "AWS_ENDPOINT_URL": estate.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        # no profile or endpoint from the developer's ~/.aws may leak in
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    command = ["make", "--no-print-directory", "run", "FN=scheduler", f"EVENT={event}", f"CONFIG={config}"]
    if enforce:
        command.append("ENFORCE=yes")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def by_name(estate: Estate, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = {(i.account, i.region, i.id): i.name for i in estate.instances.values()}
    return {names[e["account"], e["region"], e["resource"]]: e for e in entries}


def all_running(estate: Estate) -> dict[str, str]:
    return dict.fromkeys(estate.instances, "running")


def test_report_mode_lists_the_stops_it_would_make_and_changes_nothing(estate, files, tmp_path):
    estate.given()

    run = make_run(estate, tmp_path, files["friday"], files["report"])

    assert run.returncode == 0, run.stderr
    result = run.result
    assert (result["mode"], result["status"]) == ("report", "completed")
    acted = by_name(estate, result["acted"])
    assert set(acted) == SCHEDULED
    assert {a["action"] for a in acted.values()} == {"would stop"}
    assert {name: s["reason"] for name, s in by_name(estate, result["skipped"]).items()} == LEFT_ALONE
    assert result["failed"] == []
    assert result["failed_targets"] == []
    assert result["targets"]["total"] == len(estate.accounts) * len(REGIONS)  # members only, configured regions
    assert {e["account"] for e in result["excluded"]} == {MANAGEMENT}
    assert "management account" in result["excluded"][0]["reason"]
    digests = {message["channel"]: json.dumps(message) for message in run.document["slack"]}
    assert set(digests) == {"#data-oncall", "#finops-alerts"}  # team data by its account tag; the rest unowned
    assert "analytics-dev-frankfurt" in digests["#data-oncall"]
    assert "sandbox-dev" in digests["#finops-alerts"]
    assert "sandbox-protected" in digests["#finops-alerts"]
    assert run.document["audit"] == []
    assert estate.states() == all_running(estate)


def test_enforce_in_the_config_alone_still_changes_nothing(estate, files, tmp_path):
    estate.given()

    run = make_run(estate, tmp_path, files["friday"], files["enforce"])

    assert run.returncode == 0, run.stderr
    assert "add ENFORCE=yes" in run.stderr
    assert run.result["mode"] == "report"
    assert {a["action"] for a in run.result["acted"]} == {"would stop"}
    assert run.document["audit"] == []
    assert estate.states() == all_running(estate)


def test_enforce_stops_exactly_the_dev_office_hours_instances_and_a_rerun_changes_nothing(estate, files, tmp_path):
    estate.given()

    run = make_run(estate, tmp_path, files["friday"], files["enforce"], enforce=True)

    assert run.returncode == 0, run.stderr
    assert (run.result["mode"], run.result["status"]) == ("enforce", "completed")
    assert {name: a["action"] for name, a in by_name(estate, run.result["acted"]).items()} == dict.fromkeys(
        SCHEDULED, "stop"
    )
    after_friday = {**all_running(estate), **dict.fromkeys(SCHEDULED, "stopped")}
    assert estate.states() == after_friday
    audit = {record["target"]: record for record in run.document["audit"]}
    assert set(audit) == {f"{i.account}/{i.region}/{i.id}" for i in estate.instances.values() if i.name in SCHEDULED}
    for record in audit.values():
        assert record["action"] == "scheduler:stop"
        assert record["before"]["state"] == "running"
        assert record["before"]["tags"]["schedule"] == "office-hours"
        assert record["after"]["state"] in {"stopping", "stopped"}

    again = make_run(estate, tmp_path, files["friday"], files["enforce"], enforce=True)

    assert again.returncode == 0, again.stderr
    assert again.result["acted"] == []
    assert again.document["audit"] == []
    assert estate.states() == after_friday


def test_monday_morning_starts_them_again_and_nothing_else(estate, files, tmp_path):
    estate.given(stopped=SCHEDULED | {"sandbox-protected", "payments-prod-dev"})  # two stopped by their owners

    run = make_run(estate, tmp_path, files["monday"], files["enforce"], enforce=True)

    assert run.returncode == 0, run.stderr
    assert {name: a["action"] for name, a in by_name(estate, run.result["acted"]).items()} == dict.fromkeys(
        SCHEDULED, "start"
    )
    audit = {record["target"]: (record["action"], record["before"]["state"]) for record in run.document["audit"]}
    assert audit == {
        f"{i.account}/{i.region}/{i.id}": ("scheduler:start", "stopped")
        for i in estate.instances.values()
        if i.name in SCHEDULED
    }
    assert estate.states() == {**all_running(estate), "sandbox-protected": "stopped", "payments-prod-dev": "stopped"}


def test_an_event_without_time_is_bad_input_naming_the_field(estate, files, tmp_path):
    estate.given()

    run = make_run(estate, tmp_path, files["bad"], files["enforce"], enforce=True)

    assert run.returncode == 2  # make's own code for any failure of its recipe
    assert "run] Error 2" in run.stderr  # the CLI's code: 2, bad input (1 would be a failed run)
    [error] = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert re.search(r"\btime\b", error), error
    assert run.stdout == ""
    assert estate.states() == all_running(estate)
