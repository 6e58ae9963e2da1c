"""`make smoke` as an operator runs it after a deploy, against a moto server on 127.0.0.1 instead of AWS.

Two accounts, as deployed: the management account (moto's default credentials) holds the anomaly topic; the hub (an
account CreateAccount made, reached through its OrganizationAccountAccessRole) holds the alert function's log group.
The command runs in a subprocess with nothing but a profile per account and AWS_ENDPOINT_URL.

moto cannot run a Lambda without Docker, so the function's hop is played by the real handler in this process: SNS
delivers the published message to a queue (as it would invoke the subscribed function), the relay turns it into the
SNS event Lambda gets, runs the handler as Lambda would (tools.local_hub, the hub's tables in the hub account, real
HTTP to the local Slack sink), and writes the JSON log records the function wrote into the function's log group.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import ROOT
from tools.local_hub import LocalHub, _handler, environment

pytestmark = pytest.mark.slow

MANAGEMENT = "123456789012"  # moto's account for the default credentials
REGION = "us-east-1"
TESTING = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
LOG_GROUP = "/aws/lambda/finops-anomaly-alerts-5e1f0a2b"  # per install, as the function factory names it
RETAINED = "/aws/lambda/finops-anomaly-alerts-0ld1n5ta"  # what an earlier install's uninstall kept


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Moto:
    endpoint: str
    hub_account: str
    hub_credentials: dict[str, str]
    relay_queue_url: str

    def client(self, service: str, *, hub: bool = False) -> Any:
        credentials = self.hub_credentials if hub else TESTING
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **credentials)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={"PATH": os.environ["PATH"]},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
        **TESTING,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe.get_caller_identity()
                break
            except (BotoCoreError, ClientError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server on {endpoint} did not come up; see {log.name}")
                time.sleep(0.2)
        yield seed(endpoint)
    finally:
        server.kill()
        server.wait(timeout=10)
        log.close()


def seed(endpoint: str) -> Moto:
    """What the two stacks leave behind, through the API: the topic (management), the log groups (hub)."""
    management = {"endpoint_url": endpoint, "region_name": REGION, **TESTING}
    org = boto3.client("organizations", **management)
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="automation@example.com", AccountName="automation")["CreateAccountStatus"]
    hub_account = status["AccountId"]
    assumed = boto3.client("sts", **management).assume_role(
        RoleArn=f"arn:aws:iam::{hub_account}:role/OrganizationAccountAccessRole", RoleSessionName="smoke-seed"
    )["Credentials"]
    hub_credentials = {
        "aws_access_key_id": assumed["AccessKeyId"],
        "aws_secret_access_key": assumed["SecretAccessKey"],
        "aws_session_token": assumed["SessionToken"],
    }
    topic = boto3.client("sns", **management).create_topic(Name="finops-cost-anomalies")["TopicArn"]
    sqs = boto3.client("sqs", **management)
    relay = sqs.create_queue(QueueName="stands-in-for-the-lambda-subscription")["QueueUrl"]
    relay_arn = sqs.get_queue_attributes(QueueUrl=relay, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", **management).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=relay_arn)
    logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION, **hub_credentials)
    logs.create_log_group(logGroupName=RETAINED)
    time.sleep(0.05)  # creationTime is in milliseconds: the current install's group is the newer
    logs.create_log_group(logGroupName=LOG_GROUP)
    return Moto(endpoint, hub_account, hub_credentials, relay)


@pytest.fixture(scope="module")
def files(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("smoke")
    config = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(management_account_id=MANAGEMENT, automation_account_id=moto.hub_account)
    config["notifications"]["account_teams"] = {}  # the shipped ids belong to the simulated Organization
    (work / "finops.yaml").write_text(yaml.safe_dump(config))
    hub = moto.hub_credentials
    (work / "credentials").write_text(
        "[management]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n"
        f"[hub]\naws_access_key_id = {hub['aws_access_key_id']}\n"
        f"aws_secret_access_key = {hub['aws_secret_access_key']}\naws_session_token = {hub['aws_session_token']}\n"
    )
    (work / "config").write_text("")
    return {"config": work / "finops.yaml", "credentials": work / "credentials", "aws_config": work / "config"}


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

    def hops(self) -> dict[str, dict[str, Any]]:
        return {hop["hop"]: hop for hop in self.document["hops"]}


def make_smoke(moto: Moto, files: dict[str, Path], *extra: str, timeout: int = 60) -> Run:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(files["config"].parent),
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_SHARED_CREDENTIALS_FILE": str(files["credentials"]),
        "AWS_CONFIG_FILE": str(files["aws_config"]),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    command = [
        "make",
        "--no-print-directory",
        "smoke",
        f"CONFIG={files['config']}",
        "MANAGEMENT_PROFILE=management",
        "HUB_PROFILE=hub",
        f"SMOKE_TIMEOUT={timeout}",
        *extra,
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


class Captured(logging.Handler):
    """The function's log records, formatted by its own Powertools formatter: what Lambda writes to CloudWatch."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("anomaly_alerts", "service_undefined.finops", "anomaly_alerts.finops")):
            self.lines.append(self.format(record))


class FunctionRelay:
    """Plays the subscribed alert function: SNS → the real handler → its log records into its log group."""

    def __init__(self, moto: Moto, hub: LocalHub) -> None:
        self.moto, self.hub = moto, hub
        self.sqs = moto.client("sqs")
        self.logs = moto.client("logs", hub=True)
        self.stream = f"2026/11/27/[$LATEST]{uuid.uuid4().hex}"
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=self.stream)
        self.invocations: list[Any] = []
        self.message_ids: list[str] = []  # of the SNS notifications it relayed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        with environment(hub.environment("anomaly_alerts")):
            _handler("anomaly_alerts")  # imported as Lambda imports it: its Logger is the anomaly_alerts service's
        service = logging.getLogger("anomaly_alerts")
        self.capture = Captured(service.handlers[0].formatter if service.handlers else None)

    def __enter__(self) -> FunctionRelay:
        logging.getLogger().addHandler(self.capture)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        logging.getLogger().removeHandler(self.capture)

    def _loop(self) -> None:
        while not self._stop.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.moto.relay_queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in messages:
                notification = json.loads(message["Body"])
                self.message_ids.append(notification["MessageId"])
                self.invocations.append(self.hub.invoke("anomaly_alerts", lambda_event(notification)))
                lines, self.capture.lines = self.capture.lines, []
                now = int(time.time() * 1000)
                self.logs.put_log_events(
                    logGroupName=LOG_GROUP,
                    logStreamName=self.stream,
                    logEvents=[{"timestamp": now, "message": line} for line in lines],
                )
                self.sqs.delete_message(QueueUrl=self.moto.relay_queue_url, ReceiptHandle=message["ReceiptHandle"])


def lambda_event(notification: dict[str, Any]) -> dict[str, Any]:
    """The event Lambda gets for an SNS notification."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{notification['TopicArn']}:{uuid.uuid4()}",
                "Sns": {
                    "Type": notification["Type"],
                    "MessageId": notification["MessageId"],
                    "TopicArn": notification["TopicArn"],
                    "Subject": notification.get("Subject"),
                    "Message": notification["Message"],
                    "Timestamp": notification["Timestamp"],
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


@pytest.fixture(scope="module")
def hub(moto: Moto, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """The hub's tables, queues and secret in the hub account on the moto server, as the handler finds them."""
    from finops.models.config import load_config

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for key, value in moto.hub_credentials.items():
            patch.setenv(key.upper(), value)
        yield LocalHub(load_config(files["config"]), tmp_path_factory.mktemp("hub"))


@pytest.fixture
def function(moto: Moto, hub: LocalHub, sink: Any) -> Iterator[FunctionRelay]:
    """The relay running, the hub's Slack secret pointing at this test's sink."""
    sqs = moto.client("sqs")  # nothing an earlier test published reaches this test's function
    while leftover := sqs.receive_message(QueueUrl=moto.relay_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in leftover:
            sqs.delete_message(QueueUrl=moto.relay_queue_url, ReceiptHandle=message["ReceiptHandle"])
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
    with FunctionRelay(moto, hub) as relay:
        yield relay


def test_smoke_sees_every_hop_and_the_post_it_made(moto, files, function, sink):
    run = make_smoke(moto, files)

    assert run.returncode == 0, run.stderr
    document = run.document
    assert document["verdict"] == "delivered"
    assert (document["failed_hop"], document["cause"]) == (None, None)
    assert document["anomaly_id"].startswith("finops-smoke-")
    assert document["log_group"] == LOG_GROUP  # this install's, not the retained one
    hops = run.hops()
    assert [h["hop"] for h in document["hops"]] == ["topic", "function", "slack"]
    assert {name: hop["status"] for name, hop in hops.items()} == dict.fromkeys(("topic", "function", "slack"), "ok")
    [invocation] = function.invocations
    assert invocation.error is None
    assert function.message_ids == [hops["topic"]["message_id"]]  # the SNS MessageId the function got
    assert hops["function"]["request_id"]
    assert hops["slack"]["channel"] == "#finops-alerts"
    assert hops["slack"]["ts"]
    assert all(hop["at"].endswith("Z") for hop in document["hops"])
    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    assert "SMOKE TEST — not a real anomaly" in post.payload["text"]
    assert document["anomaly_id"] in json.dumps(post.payload, ensure_ascii=False)
    assert "<!" not in json.dumps(post.payload)  # nobody paged
    assert "published finops-smoke-" in run.stderr
    assert "OK: topic → function → Slack" in run.stderr


def test_slack_down_is_parked_and_says_where_it_waits(moto, files, function, sink):
    sink.go_down()

    run = make_smoke(moto, files)

    assert run.returncode == 2  # make's code for any failure of its recipe
    assert "smoke] Error 1" in run.stderr  # the tool's: a hop did not complete
    document = run.document
    assert (document["verdict"], document["failed_hop"]) == ("parked", "slack")
    assert run.hops()["slack"]["status"] == "parked"
    assert "503" in run.hops()["slack"]["reason"]
    assert "finops-slack-retry" in document["cause"]
    assert function.hub.queue_depth(function.hub.retry_queue_url) == 1
    assert not sink.posts


def test_without_a_function_on_the_topic_the_function_hop_is_missing_and_why(moto, files):
    run = make_smoke(moto, files, timeout=3)

    assert run.returncode == 2
    assert "smoke] Error 1" in run.stderr
    document = run.document
    assert (document["verdict"], document["failed_hop"]) == ("failed", "function")
    hops = run.hops()
    assert hops["topic"]["status"] == "ok"
    assert (hops["function"]["status"], hops["slack"]["status"]) == ("missing", "not reached")
    assert "has no subscription of finops-anomaly-alerts" in document["cause"]
    assert "FAILED at the function hop" in run.stderr


def test_credentials_of_the_wrong_account_are_bad_input_naming_the_key(moto, files):
    run = make_smoke(moto, files, "HUB_PROFILE=management")

    assert run.returncode == 2
    assert "smoke] Error 2" in run.stderr
    [error] = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert "organization.automation_account_id" in error
    assert MANAGEMENT in error
    assert run.stdout == ""


def test_a_function_that_raises_is_reported_with_its_error_and_where_the_event_went(config, monkeypatch):
    """In-process, one account: the records a failing invocation writes appear while make smoke waits."""
    from moto import mock_aws

    from finops.aws.clients import AwsClients
    from finops.services.heartbeat import RECEIVED
    from tests.stacks.template_helpers import config_with
    from tools.smoke import Smoke

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setattr("tools.smoke.uuid.uuid4", lambda: "0f3c")
    one_account = config_with(
        config,
        organization={"management_account_id": MANAGEMENT, "automation_account_id": MANAGEMENT},
        notifications={"account_teams": {}},
    )
    written: list[str] = []
    with mock_aws():
        clients = AwsClients(boto3.Session(region_name=REGION), region=REGION)
        clients.client("sns").create_topic(Name="finops-cost-anomalies")
        logs = clients.client("logs")
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="s")

        def the_function_runs_and_raises(_: float) -> None:
            if written:
                return
            records = [
                {"level": "INFO", "message": RECEIVED, "anomaly_id": "finops-smoke-0f3c", "function_request_id": "r1"},
                {"level": "ERROR", "message": "audit table gone", "function_request_id": "r1"},
            ]
            written.extend(json.dumps(r) for r in records)
            now = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=LOG_GROUP, logStreamName="s", logEvents=[{"timestamp": now, "message": m} for m in written]
            )

        smoke = Smoke(
            one_account, clients, clients, timeout=0.5, poll=0.1, say=lambda _: None, sleep=the_function_runs_and_raises
        )
        document, code = smoke.run()

    assert code == 1
    assert {hop["hop"]: hop["status"] for hop in document["hops"]} == {
        "topic": "ok",
        "function": "ok",
        "slack": "missing",
    }
    assert (document["verdict"], document["failed_hop"]) == ("failed", "slack")
    assert document["cause"].startswith("finops-anomaly-alerts failed: audit table gone")
    assert "finops-anomaly-alerts-failures" in document["cause"]
