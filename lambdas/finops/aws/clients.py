"""The one place AWS clients are made: one botocore Config, one user agent, sessions per account.

Handlers build an :class:`AwsClients` once per invocation and pass it (or the clients it makes) down. Member
accounts are reached through :meth:`AwsClients.assume_role`, whose :class:`AccountScope` carries the account and
region into every log line and result.
"""

from __future__ import annotations

import logging
import os
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


@dataclass(frozen=True, slots=True)
class AccountScope:
    """Credentials for one account, used in one region."""

    account: str
    region: str
    session: boto3.Session = field(repr=False, compare=False)

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region, config=BOTO_CONFIG)

    def log_keys(self) -> dict[str, str]:
        return {"account": self.account, "region": self.region}


class AwsClients:
    """Clients for the account the code runs in, and assumed-role scopes for member accounts."""

    def __init__(self, session: boto3.Session | None = None, *, region: str | None = None) -> None:
        self._session = session or boto3.Session()
        self.region = region or self._session.region_name or "us-east-1"
        self._assumed: dict[tuple[str, str], boto3.Session] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        return self._session.client(service, region_name=region or self.region, config=BOTO_CONFIG)

    def caller_account(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> AccountScope:
        """A scope in ``account``/``region`` through ``role_name``; credentials are reused per account and role."""
        key = (account, role_name)
        if key not in self._assumed:
            credentials = self.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role_name}",
                RoleSessionName=session_name[:64],
            )["Credentials"]
            self._assumed[key] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return AccountScope(account=account, region=region, session=self._assumed[key])
