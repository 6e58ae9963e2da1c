"""The one place AWS clients are made: one botocore Config, one user agent, sessions per account.

Handlers build an :class:`AwsClients` once per invocation and pass it (or the clients it makes) down. Member
accounts are reached through :meth:`AwsClients.assume_role`, whose :class:`AccountScope` carries the account and
region into every log line and result.

Threads: a worker runs several targets at once (``engine.target_concurrency``). botocore clients are thread-safe; a
boto3 Session is not. So every client is made under one lock (:data:`_SESSION_LOCK`), and a member account's clients
come from the hub's own session with the assumed role's credentials passed in, not from a Session of their own: the
session's service models are then loaded once per process, not once per account (about 300 ms of CPU a target for
the scheduler's three clients, which threads cannot overlap), and there is only one session to guard.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from finops._version import __version__

# Every request says which release made it ("finops-operate/0.5.0"), in CloudTrail's userAgent too, so an operator can
# tell our calls from anyone else's and which version is deployed where.
USER_AGENT = f"finops-operate/{__version__}"


def _max_attempts(default: int = 8) -> int:
    """8 attempts (standard retry mode), or what the standard ``AWS_MAX_ATTEMPTS`` says when it is a number >= 1:
    an explicit Config would otherwise hide that variable from botocore."""
    value = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return int(value) if value.isdigit() and int(value) >= 1 else default


BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": _max_attempts()},
    user_agent_appid="finops-operate",
    user_agent_extra=USER_AGENT,
    connect_timeout=5,
    read_timeout=20,
)


# At DEBUG, botocore logs whole request and response bodies, Secrets Manager's SecretString (the Slack token)
# included. Whatever level the function runs at (Lambda's application log level sets the root logger), these stay
# at INFO, so turning on debug logging never writes a secret to CloudWatch. (notify/slack.py does the same for
# slack_sdk.)
for _body_logger in ("botocore.parsers", "botocore.endpoint"):
    logging.getLogger(_body_logger).setLevel(logging.INFO)


# boto3 Sessions are not thread-safe (their clients are): every client is made while holding this.
_SESSION_LOCK = threading.Lock()


def _client(session: boto3.Session, service: str, region: str, credentials: Mapping[str, str] | None = None) -> Any:
    with _SESSION_LOCK:
        return session.client(service, region_name=region, config=BOTO_CONFIG, **(credentials or {}))


@dataclass(frozen=True, slots=True)
class AccountScope:
    """Credentials for one account, used in one region: ``session`` (the hub's, shared) with ``credentials`` (the
    assumed role's ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``; None: the session's own)."""

    account: str
    region: str
    session: boto3.Session = field(repr=False, compare=False)
    credentials: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def client(self, service: str) -> Any:
        return _client(self.session, service, self.region, self.credentials)

    def log_keys(self) -> dict[str, str]:
        return {"account": self.account, "region": self.region}


class AwsClients:
    """Clients for the account the code runs in, and assumed-role scopes for member accounts. Safe to share between
    threads."""

    def __init__(self, session: boto3.Session | None = None, *, region: str | None = None) -> None:
        self._session = session or boto3.Session()
        self.region = region or self._session.region_name or "us-east-1"
        self._assumed: dict[tuple[str, str], dict[str, str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._sts: Any = None  # one STS client for every AssumeRole of the invocation (clients are thread-safe)

    def client(self, service: str, region: str | None = None) -> Any:
        return _client(self._session, service, region or self.region)

    def caller_account(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope:
        """A scope in ``account``/``region`` through ``role_name``; credentials are reused per account and role (two
        regions of one account, in two threads, assume the role once: the second waits for the first)."""
        key = (account, role_name)
        with self._locks_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._assumed:
                credentials = self._sts_client().assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{role_name}",
                    RoleSessionName=session_name[:64],
                )["Credentials"]
                self._assumed[key] = {
                    "aws_access_key_id": credentials["AccessKeyId"],
                    "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials["SessionToken"],
                }
        return AccountScope(account=account, region=region, session=self._session, credentials=self._assumed[key])

    def _sts_client(self) -> Any:
        with self._locks_lock:
            if self._sts is None:
                self._sts = self.client("sts")
            return self._sts
