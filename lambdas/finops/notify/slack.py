"""Slack delivery: slack-sdk for transport, an SQS outbox so an outage delays alerts and never drops them.

- ``SlackTransport`` posts one message through an incoming webhook (one per channel) or ``chat.postMessage`` with a
  bot token, with short timeouts and bounded retries on 429 (honouring ``Retry-After``), 5xx and connection errors.
  On final failure it raises :class:`DeliveryError`.
- ``SlackSender`` posts through the transport; when Slack refuses the *channel* for good (not found, bot not in it,
  archived, no webhook for it) it posts to the default channel instead, saying where the message was meant to go.
- ``SlackOutbox`` sends once per alert and, when that fails, parks the message on the retry queue (delayed by
  ``Retry-After`` where Slack gave one). ``slack_redrive`` drains that queue; after many failed receives SQS moves
  the message to the DLQ, where an alarm fires and nothing expires for 14 days.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from finops.notify.blocks import SlackMessage

SQS_MAX_DELAY_SECONDS = 900

# slack_sdk logs request URLs (at DEBUG, and at INFO when it retries), and an incoming webhook's URL is its secret:
# keep it at WARNING whatever level the function runs at. Our own log lines say what happened, without the URL.
logging.getLogger("slack_sdk").setLevel(logging.WARNING)


# What a refusal means. "channel": this channel will not take it (try the default channel); "message": Slack rejects
# this message's content (send it as plain text); "credentials": the bot token is rejected (nothing will post until
# the secret is fixed); "transient": Slack is down or busy (try again later).
FailureScope = Literal["transient", "channel", "message", "credentials"]
CHANNEL_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "no_service", "restricted_action"}
)
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "invalid_token",
        "no_permission",
        "action_prohibited",
        "team_disabled",
    }
)


# What the person fixing it should do, for the refusals that need a person.
HINTS = {
    "not_in_channel": "invite the bot to the channel",
    "channel_not_found": "no such channel, or a private one the bot is not in; check notifications.teams",
    "is_archived": "the channel is archived; route the team elsewhere in notifications.teams",
    "channel_is_archived": "the channel is archived; route the team elsewhere in notifications.teams",
    "invalid_auth": "the bot token in the Slack secret is not valid",
    "token_revoked": "the bot token in the Slack secret was revoked",
    "invalid_token": "the webhook URL in the Slack secret was revoked",
    "missing_scope": "the Slack app needs the chat:write scope",
}


def _refusal(channel: str, status: int | None, error: str) -> str:
    if status is not None and (status >= 500 or status == 429):
        code = f" {error}" if error and " " not in error else ""
        return f"Slack did not take the message for {channel}: HTTP {status}{code}"
    hint = HINTS.get(error)
    return f"Slack refused {channel}: {error or f'HTTP {status}'}" + (f" ({hint})" if hint else "")


MESSAGE_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_payload", "no_text", "too_many_attachments"}
)


def failure_scope(status: int | None, error: str) -> FailureScope:
    """Classify Slack's answer: by its error code first, then by the HTTP status webhooks use."""
    if error in CHANNEL_ERRORS or (not error and status in (404, 410)):
        return "channel"
    if error in MESSAGE_ERRORS or (not error and status == 400):
        return "message"
    if error in CREDENTIAL_ERRORS or (not error and status in (401, 403)):
        return "credentials"
    return "transient"


class DeliveryError(RuntimeError):
    """Slack did not take the message. ``retry_after`` is Slack's own wait, when it said one."""

    def __init__(self, reason: str, *, retry_after: int | None = None, scope: FailureScope = "transient") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.scope = scope


class SlackCredentials(BaseModel):
    """The Secrets Manager secret's JSON. Never logged: every value is a SecretStr."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: SecretStr | None = None
    webhooks: dict[str, SecretStr] = {}
    api_url: str | None = None  # Slack's own by default; a GovSlack or test endpoint otherwise

    @model_validator(mode="after")
    def _something_to_post_with(self) -> SlackCredentials:
        if self.bot_token is None and not self.webhooks:
            raise ValueError("the Slack secret needs 'bot_token' or 'webhooks' (channel → incoming webhook URL)")
        return self


def _retry_after(headers: dict[str, Any]) -> int | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return int(raw)
            except (TypeError, ValueError):
                return None
    return None


class _BoundedRateLimitRetry(RateLimitErrorRetryHandler):
    """Retries a 429 in-process only when Slack asks for a short wait; a longer one goes to the queue instead."""

    def __init__(self, *, max_retry_count: int, max_wait_seconds: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(dict(response.headers))
        return wait is None or wait <= self.max_wait_seconds


class _AnyServerErrorRetry(ServerErrorRetryHandler):
    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout_seconds: int = 5
    rate_limit_retries: int = 2
    max_rate_limit_wait_seconds: int = 10
    server_error_retries: int = 2
    connection_retries: int = 2

    def handlers(self) -> list[RetryHandler]:
        return [
            _BoundedRateLimitRetry(
                max_retry_count=self.rate_limit_retries, max_wait_seconds=self.max_rate_limit_wait_seconds
            ),
            _AnyServerErrorRetry(max_retry_count=self.server_error_retries),
            ConnectionErrorRetryHandler(max_retry_count=self.connection_retries),
        ]


class SlackTransport:
    """Posts one message; picks the channel's webhook, else ``chat.postMessage`` with the bot token."""

    def __init__(self, credentials: SlackCredentials, *, policy: RetryPolicy = RetryPolicy()) -> None:
        self._credentials = credentials
        self._policy = policy

    def post(self, message: SlackMessage) -> Literal["webhook", "api"]:
        return self.send(message)[0]

    def send(self, message: SlackMessage) -> tuple[Literal["webhook", "api"], str | None]:
        """How it went and the message's ``ts`` (the Web API returns it; a webhook does not)."""
        webhook = self._credentials.webhooks.get(message.channel)
        if webhook is not None:
            self._post_webhook(webhook.get_secret_value(), message)
            return "webhook", None
        if self._credentials.bot_token is not None:
            return "api", self._post_api(self._credentials.bot_token.get_secret_value(), message)
        raise DeliveryError(
            f"the Slack secret has no incoming webhook for {message.channel} and no bot_token", scope="channel"
        )

    def _post_webhook(self, url: str, message: SlackMessage) -> None:
        client = WebhookClient(url, timeout=self._policy.timeout_seconds, retry_handlers=self._policy.handlers())
        try:
            response = client.send(text=message.text, blocks=list(message.blocks))
        except OSError as exc:  # connection refused, DNS, timeout after the retries
            raise DeliveryError(f"webhook for {message.channel} unreachable: {exc}") from exc
        if response.status_code != 200:
            body = (response.body or "").strip()[:200]
            error = body if body and " " not in body else ""  # Slack's webhook errors are one snake_case word
            scope = failure_scope(response.status_code, error)
            raise DeliveryError(
                f"{_refusal(message.channel, response.status_code, error)} (webhook, HTTP {response.status_code})",
                retry_after=_retry_after(dict(response.headers or {})),
                # A webhook belongs to one channel: a revoked one stops that channel, not every other.
                scope="channel" if scope == "credentials" else scope,
            )

    def _post_api(self, token: str, message: SlackMessage) -> str | None:
        kwargs: dict[str, Any] = {"token": token, "timeout": self._policy.timeout_seconds}
        if self._credentials.api_url:
            kwargs["base_url"] = self._credentials.api_url
        client = WebClient(retry_handlers=self._policy.handlers(), **kwargs)
        try:
            response = client.chat_postMessage(
                channel=message.channel, text=message.text, blocks=list(message.blocks), thread_ts=message.thread_ts
            )
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
            raise DeliveryError(
                _refusal(message.channel, response.status_code, error),
                retry_after=_retry_after(dict(response.headers or {})),
                scope=failure_scope(response.status_code, error),
            ) from exc
        except OSError as exc:
            raise DeliveryError(f"chat.postMessage to {message.channel} unreachable: {exc}") from exc
        ts = response.get("ts") if isinstance(response.data, dict) else None
        return str(ts) if ts else None


def credentials_from_secret(secret: object, *, secret_name: str) -> SlackCredentials:
    try:
        data = json.loads(secret) if isinstance(secret, str | bytes) else secret
        return SlackCredentials.model_validate(data)
    except (ValueError, ValidationError) as exc:
        # The message names the fields, never their values.
        problems = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": "not JSON"}]
        detail = "; ".join(f"{'.'.join(map(str, p['loc'])) or '(secret)'}: {p['msg']}" for p in problems)
        raise DeliveryError(f"Slack secret {secret_name!r} is malformed: {detail}", scope="credentials") from None


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a message went. ``channel`` is where it was posted (or parked for); ``intended`` where it was routed."""

    channel: str
    status: Literal["delivered", "parked", "previewed"]
    via: str
    reason: str = ""
    intended: str | None = None
    scope: FailureScope | None = None
    ts: str | None = None  # the posted message's Slack ts (Web API only): what a later thread reply needs

    @property
    def audit_action(self) -> str:
        """The audit record's action for this delivery: ``slack.post``, ``slack.park`` or ``slack.preview``."""
        return "slack." + {"delivered": "post", "parked": "park", "previewed": "preview"}[self.status]


class SlackSender:
    """Posts a message; a channel that refuses it for good hands it to the default channel, with a note."""

    def __init__(self, *, transport: Callable[[], SlackTransport], fallback_channel: str) -> None:
        self._transport = transport
        self._fallback = fallback_channel

    def send(self, message: SlackMessage) -> Delivery:
        """Raises DeliveryError when Slack took neither the message nor its fallback.

        A channel refusal falls back to the default channel; a rejected message (bad blocks, too long) falls back to
        its plain text, which Slack always renders."""
        transport = self._transport()
        try:
            via, ts = transport.send(message)
            return Delivery(message.channel, "delivered", via=via, ts=ts)
        except DeliveryError as refused:
            if refused.scope == "message" and message.blocks:
                plain = replace(message, text=f"{message.text} (formatting rejected: {refused.reason})", blocks=())
                via, ts = transport.send(plain)
                return Delivery(message.channel, "delivered", via=via, reason=f"as plain text: {refused.reason}", ts=ts)
            if refused.scope != "channel" or message.channel == self._fallback:
                raise
            # On another team's behalf: the default channel is not paged for it (the banner says whose it is).
            redirected = message.without_mentions().with_banner(
                f"Meant for {message.channel}, which refused it: {refused.reason}."
            )
            via, ts = transport.send(replace(redirected.to(self._fallback), thread_ts=None))
            return Delivery(
                self._fallback,
                "delivered",
                via=via,
                reason=f"redirected: {refused.reason}",
                intended=message.channel,
                ts=ts,
            )


class SlackOutbox:
    """Send now, or park on the retry queue; either way the message is not lost."""

    def __init__(self, *, sender: SlackSender, sqs: Any, queue_url: str, clock: Callable[[], datetime]) -> None:
        self._sender = sender
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock

    def deliver(self, message: SlackMessage, *, key: str) -> Delivery:
        try:
            return self._sender.send(message)
        except DeliveryError as exc:
            self.park(message, key=key, reason=exc.reason, retry_after=exc.retry_after)
            return Delivery(message.channel, "parked", via="retry-queue", reason=exc.reason, scope=exc.scope)

    def park(self, message: SlackMessage, *, key: str, reason: str, retry_after: int | None = None) -> None:
        body = {"key": key, "message": message.to_json(), "parked_at": self._clock().isoformat(), "reason": reason}
        delay = min(max(retry_after or 0, 0), SQS_MAX_DELAY_SECONDS)
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=delay)


class PreviewOutbox:
    """Renders and routes exactly as :class:`SlackOutbox`, and posts nothing: ``make run`` previews with it."""

    def __init__(self) -> None:
        self.messages: list[SlackMessage] = []

    def deliver(self, message: SlackMessage, *, key: str) -> Delivery:
        self.messages.append(message)
        return Delivery(message.channel, "previewed", via="preview", reason="not posted: preview run")


@dataclass(frozen=True, slots=True)
class Parked:
    """A message waiting on the retry queue, as ``SlackOutbox.park`` wrote it."""

    key: str
    message: SlackMessage
    parked_at: str
    reason: str

    @classmethod
    def from_body(cls, body: str) -> Parked:
        data = json.loads(body)
        return cls(data["key"], SlackMessage.from_json(data["message"]), data["parked_at"], data["reason"])
