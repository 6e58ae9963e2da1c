"""`make smoke`: prove the deployed alert path, hop by hop: topic → function → Slack.

Publishes one clearly marked synthetic anomaly (``finops-smoke-<uuid>``, "SMOKE TEST — not a real anomaly", no
mention) to the management account's anomaly topic, then reads the alert function's log group until the function
logs that it posted it (with the channel and Slack's ts) or parked it on the Slack retry queue, or until the timeout.
It prints one JSON document on stdout: the hops it saw with their times, the verdict, and for a missing hop which one
and its likely cause; progress goes to stderr.

Credentials: the standard chain (``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...), or one profile per account:
``--management-profile`` publishes (sns:Publish on the topic, kms:GenerateDataKey and kms:Decrypt on its key,
sns:ListSubscriptionsByTopic for the diagnosis), ``--hub-profile`` reads the logs (lambda:GetFunctionConfiguration,
logs:DescribeLogGroups, logs:FilterLogEvents). Each side is checked against the config's account id first.

Exit codes: 0 posted; 1 a hop is missing, or Slack refused it (parked) or the function failed; 2 bad input (config,
credentials of the wrong account). See docs/smoke.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from finops.aws.clients import AwsClients
from finops.models.config import ConfigError, FinOpsConfig, load_config
from finops.services.heartbeat import PARKED, POSTED, PREFIXES, RECEIVED, Kind, synthetic_anomaly
from stacks.naming import ALERTS_REGION, COST_ANOMALY_TOPIC_NAME, resource_name

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
FUNCTION_NAME = resource_name("anomaly_alerts")
DEFAULT_TIMEOUT_SECONDS = 120
POLL_SECONDS = 5
CLOCK_SKEW_MS = 60_000  # read log events from a minute before the publish: clocks differ

Status = Literal["ok", "parked", "failed", "missing", "not reached"]
Verdict = Literal["delivered", "parked", "failed"]


class BadInput(ValueError):
    """The run cannot start as asked (credentials of the wrong account, a bad option)."""


@dataclass
class Hop:
    hop: Literal["topic", "function", "slack"]
    status: Status
    at: str | None = None
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {**{k: v for k, v in data.items() if k != "facts"}, **self.facts}


def iso(epoch_ms: int | float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code", "ClientError")), str(error.get("Message", exc))
    return type(exc).__name__, str(exc)


def publish_cause(code: str, message: str, topic_arn: str) -> str:
    """Why a publish with the operator's own credentials failed, and what to check."""
    if code in {"NotFound", "NotFoundException"}:
        return (
            f"no topic {topic_arn}: deploy FinOpsManagement with capabilities.anomaly_alerts.enabled, in "
            f"{ALERTS_REGION}, or check organization.management_account_id"
        )
    if code.startswith("KMS"):
        return (
            f"SNS could not use the topic's key alias/{COST_ANOMALY_TOPIC_NAME} for you ({code}): your credentials "
            "need kms:GenerateDataKey and kms:Decrypt on it, and the key must be enabled; a key policy that refuses "
            "a service the same way drops Cost Anomaly Detection's alerts without an error"
        )
    if code in {"AuthorizationError", "AccessDenied", "AccessDeniedException"}:
        return f"your credentials may not publish to {topic_arn} (sns:Publish; and the topic policy): {message}"
    return f"{code}: {message}"


class LogReader:
    """The alert function's log group, read with logs:FilterLogEvents."""

    def __init__(self, hub: AwsClients) -> None:
        self._lambda = hub.client("lambda")
        self._logs = hub.client("logs")

    def locate(self) -> tuple[str | None, str]:
        """The function's log group (its logging config names it: per install, ``.../finops-anomaly-alerts-<id>``),
        else the newest group of that name; and how it was found."""
        try:
            configured = self._lambda.get_function_configuration(FunctionName=FUNCTION_NAME)
        except (ClientError, BotoCoreError) as exc:
            code, _ = _error(exc)
            how = f"GetFunctionConfiguration failed ({code})"
        else:
            group = (configured.get("LoggingConfig") or {}).get("LogGroup")
            if group:
                return str(group), f"the logging config of {FUNCTION_NAME}"
            how = f"{FUNCTION_NAME} names no log group"
        prefix = f"/aws/lambda/{FUNCTION_NAME}"
        groups = [
            group
            for page in self._logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
            for group in page.get("logGroups", [])
        ]
        if not groups:
            return None, f"{how}; no log group {prefix}*"
        newest = max(groups, key=lambda g: g.get("creationTime", 0))
        return str(newest["logGroupName"]), f"{how}; the newest log group {prefix}*"

    def records(self, group: str, term: str, *, since_ms: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(timestamp, record) of every JSON log record in ``group`` that mentions ``term``."""
        pages = self._logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=since_ms, filterPattern=f'"{term}"'
        )
        for page in pages:
            for event in page.get("events", []):
                if term not in event.get("message", ""):
                    continue  # the pattern is a service-side filter; the check is ours
                try:
                    record = json.loads(event["message"])
                except json.JSONDecodeError:
                    record = {"message": event["message"]}
                if isinstance(record, dict):
                    yield int(event["timestamp"]), record


@dataclass
class Smoke:
    config: FinOpsConfig
    management: AwsClients
    hub: AwsClients
    kind: Kind = "smoke"
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    poll: float = POLL_SECONDS
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def _caller(self, clients: AwsClients, expected: str, key: str, flag: str) -> str:
        try:
            identity = clients.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            raise BadInput(f"cannot tell whose credentials these are ({flag}): {_error(exc)[1]}") from None
        if identity["Account"] != expected:
            raise BadInput(
                f"the credentials for {flag} are of account {identity['Account']}, but {key} is {expected}: "
                f"pass {flag} (or AWS_PROFILE) for that account"
            )
        return str(identity["Arn"])

    def run(self) -> tuple[dict[str, Any], int]:
        organization = self.config.organization
        caller = self._caller(
            self.management,
            organization.management_account_id,
            "organization.management_account_id",
            "--management-profile",
        )
        self._caller(
            self.hub, organization.automation_account_id, "organization.automation_account_id", "--hub-profile"
        )
        partition = caller.split(":")[1]
        topic_arn = (
            f"arn:{partition}:sns:{ALERTS_REGION}:{organization.management_account_id}:{COST_ANOMALY_TOPIC_NAME}"
        )
        suffix = ("smoke-" if self.kind == "heartbeat" else "") + str(uuid.uuid4())
        anomaly_id = PREFIXES[self.kind] + suffix
        reader = LogReader(self.hub)
        group, found_by = reader.locate()
        document: dict[str, Any] = {
            "kind": self.kind,
            "anomaly_id": anomaly_id,
            "topic_arn": topic_arn,
            "function": FUNCTION_NAME,
            "log_group": group,
            "timeout_seconds": self.timeout,
        }

        topic = self._publish(topic_arn, anomaly_id, suffix, caller)
        hops = [topic]
        if topic.status != "ok":
            hops += [Hop("function", "not reached"), Hop("slack", "not reached")]
            return self._verdict(document, hops, "failed", "topic", topic.detail), EXIT_FAILED
        if group is None:
            cause = f"no log group for {FUNCTION_NAME} in the hub account ({found_by}): is FinOpsHub deployed there?"
            hops += [Hop("function", "missing", detail=cause), Hop("slack", "not reached")]
            return self._verdict(document, hops, "failed", "function", cause), EXIT_FAILED

        self.say(f"waiting up to {self.timeout:g} s for {FUNCTION_NAME} (log group {group}, {found_by})")
        since = int(topic.facts["published_ms"]) - CLOCK_SKEW_MS
        function, slack = self._watch(reader, group, anomaly_id, since)
        if function is None:
            cause = self._why_not_invoked(topic_arn)
            hops += [Hop("function", "missing", detail=cause), Hop("slack", "not reached")]
            return self._verdict(document, hops, "failed", "function", cause), EXIT_FAILED
        hops.append(function)
        if slack is None:
            cause = self._why_not_posted(reader, group, function, since)
            hops.append(Hop("slack", "missing", detail=cause))
            return self._verdict(document, hops, "failed", "slack", cause), EXIT_FAILED
        hops.append(slack)
        if slack.status == "parked":
            cause = (
                f"Slack did not take it ({slack.facts.get('reason')}); it is parked on finops-slack-retry and "
                "finops-slack-redrive re-sends it every 15 minutes (docs/runbook.md)"
            )
            return self._verdict(document, hops, "parked", "slack", cause), EXIT_FAILED
        return self._verdict(document, hops, "delivered", None, None), EXIT_OK

    def _publish(self, topic_arn: str, anomaly_id: str, suffix: str, caller: str) -> Hop:
        sent_at = datetime.now(UTC)
        message = synthetic_anomaly(
            self.kind, suffix, sent_at=sent_at.isoformat(timespec="seconds").replace("+00:00", "Z"), sent_by=caller
        )
        try:
            published = self.management.client("sns").publish(TopicArn=topic_arn, Message=message)
        except (ClientError, BotoCoreError) as exc:
            code, text = _error(exc)
            self.say(f"publish to {topic_arn} failed: {code}: {text}")
            return Hop("topic", "failed", detail=publish_cause(code, text, topic_arn), facts={"error": code})
        published_ms = int(sent_at.timestamp() * 1000)
        self.say(f"published {anomaly_id} to {topic_arn} (MessageId {published['MessageId']})")
        return Hop(
            "topic",
            "ok",
            at=iso(published_ms),
            detail=f"published to {topic_arn}",
            facts={"message_id": published["MessageId"], "published_ms": published_ms},
        )

    def _watch(self, reader: LogReader, group: str, anomaly_id: str, since: int) -> tuple[Hop | None, Hop | None]:
        deadline = self.monotonic() + self.timeout
        function: Hop | None = None
        while True:
            for at, record in reader.records(group, anomaly_id, since_ms=since):
                message = record.get("message")
                if message == RECEIVED and function is None:
                    request = record.get("function_request_id")
                    self.say(f"{FUNCTION_NAME} received it at {iso(at)} (request {request})")
                    function = Hop(
                        "function",
                        "ok",
                        at=iso(at),
                        detail=f"{FUNCTION_NAME} received it",
                        facts={"request_id": request},
                    )
                if message in (POSTED, PARKED):
                    function = function or Hop("function", "ok", at=iso(at), detail=f"{FUNCTION_NAME} handled it")
                    return function, self._slack(message, at, record)
            if self.monotonic() >= deadline:
                return function, None
            self.sleep(min(self.poll, max(deadline - self.monotonic(), 0)))

    def _slack(self, message: str, at: int, record: dict[str, Any]) -> Hop:
        channel = record.get("channel")
        if message == POSTED:
            self.say(f"posted to {channel} at {iso(at)} (ts {record.get('ts')})")
            facts = {"channel": channel, "ts": record.get("ts"), "via": record.get("via")}
            if record.get("intended"):
                facts["intended"] = record["intended"]
            return Hop("slack", "ok", at=iso(at), detail=f"posted to {channel}", facts=facts)
        self.say(f"parked for {channel} at {iso(at)}: {record.get('reason')}")
        return Hop(
            "slack",
            "parked",
            at=iso(at),
            detail=f"parked for {channel}",
            facts={"channel": channel, "reason": record.get("reason")},
        )

    def _why_not_invoked(self, topic_arn: str) -> str:
        """No record of the function receiving it: is the function subscribed at all?"""
        try:
            subscriptions = [
                s
                for page in self.management.client("sns")
                .get_paginator("list_subscriptions_by_topic")
                .paginate(TopicArn=topic_arn)
                for s in page.get("Subscriptions", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            return (
                f"{FUNCTION_NAME} logged nothing about it within {self.timeout:g} s, and the topic's subscriptions "
                f"could not be read ({_error(exc)[0]})"
            )
        ours = [s for s in subscriptions if str(s.get("Endpoint", "")).endswith(f":function:{FUNCTION_NAME}")]
        if not ours:
            return (
                f"{topic_arn} has no subscription of {FUNCTION_NAME}: deploy FinOpsHub (after FinOpsManagement), "
                "with capabilities.anomaly_alerts.enabled"
            )
        pending = [s for s in ours if not str(s.get("SubscriptionArn", "")).startswith("arn:")]
        if pending:
            return f"the subscription of {FUNCTION_NAME} is {pending[0].get('SubscriptionArn')}: redeploy FinOpsHub"
        return (
            f"the topic published it and {FUNCTION_NAME} is subscribed, but the function logged nothing about it "
            f"within {self.timeout:g} s: SNS could not invoke it (its resource policy, the function throttled or "
            "failing at start: see its Errors and Throttles), or this is not the log group it writes to"
        )

    def _why_not_posted(self, reader: LogReader, group: str, function: Hop, since: int) -> str:
        request = function.facts.get("request_id")
        errors = []
        if request:
            for _, record in reader.records(group, str(request), since_ms=since):
                level = str(record.get("level", "")).upper()
                text = record.get("errorMessage") or (record.get("message") if level == "ERROR" else None)
                if text:
                    errors.append(str(text))
        if errors:
            return (
                f"{FUNCTION_NAME} failed: {errors[-1]}; Lambda retries it twice, then keeps the event on "
                f"{FUNCTION_NAME}-failures (docs/runbook.md)"
            )
        return (
            f"{FUNCTION_NAME} received it but logged neither '{POSTED}' nor '{PARKED}' within {self.timeout:g} s: "
            "a function of an older release (redeploy FinOpsHub), or still retrying Slack"
        )

    def _verdict(
        self, document: dict[str, Any], hops: list[Hop], verdict: Verdict, failed: str | None, cause: str | None
    ) -> dict[str, Any]:
        for hop in hops:
            hop.facts.pop("published_ms", None)
        if failed and verdict != "parked":
            self.say(f"FAILED at the {failed} hop: {cause}")
        elif verdict == "parked":
            self.say(f"PARKED: {cause}")
        else:
            self.say("OK: topic → function → Slack")
        return {
            **document,
            "hops": [h.to_json() for h in hops],
            "verdict": verdict,
            "failed_hop": failed,
            "cause": cause,
        }


def clients_for(profile: str | None) -> AwsClients:
    """The alert path lives in ALERTS_REGION; AWS_ENDPOINT_URL and the rest of the chain apply as boto3 reads them."""
    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound as exc:
        raise BadInput(str(exc)) from None
    return AwsClients(session, region=ALERTS_REGION)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.splitlines()[0])
    cli.add_argument("--config", default="finops.yaml")
    cli.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait for the function")
    cli.add_argument(
        "--kind",
        choices=("smoke", "heartbeat"),
        default="smoke",
        help="heartbeat: a heartbeat-form message (counts HeartbeatDelivered, clears the silence alarm)",
    )
    cli.add_argument("--management-profile", default=None, help="profile for the management account (publishes)")
    cli.add_argument("--hub-profile", default=None, help="profile for the automation account (reads the logs)")
    return cli


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.timeout <= 0:
            raise BadInput(f"--timeout {args.timeout:g}: wait a positive number of seconds")
        smoke = Smoke(
            config,
            management=clients_for(args.management_profile),
            hub=clients_for(args.hub_profile),
            kind=args.kind,
            timeout=args.timeout,
        )
        document, code = smoke.run()
    except (ConfigError, BadInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ClientError, BotoCoreError) as exc:
        print(f"error: smoke test failed: {_error(exc)[0]}: {_error(exc)[1]}", file=sys.stderr)
        return EXIT_FAILED
    json.dump(document, out, indent=2)
    out.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
