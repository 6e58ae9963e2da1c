"""Slack delivery: how refusals are classified, where messages go when a channel refuses, what parking sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from finops.notify.blocks import SlackMessage
from finops.notify.slack import (
    SQS_MAX_DELAY_SECONDS,
    DeliveryError,
    Parked,
    RetryPolicy,
    SlackCredentials,
    SlackOutbox,
    SlackSender,
    SlackTransport,
    _retry_after,
    credentials_from_secret,
    failure_scope,
)

MESSAGE = SlackMessage(channel="#payments-oncall", text="[CRITICAL] Cost anomaly", blocks=({"type": "divider"},))
QUICK = RetryPolicy(timeout_seconds=2, max_rate_limit_wait_seconds=1, server_error_retries=0, connection_retries=0)


@pytest.mark.parametrize(
    ("status", "error", "scope"),
    [
        (200, "not_in_channel", "channel"),
        (200, "channel_not_found", "channel"),
        (200, "is_archived", "channel"),
        (404, "", "channel"),  # a webhook whose channel is gone
        (410, "", "channel"),
        (200, "invalid_auth", "credentials"),
        (200, "token_revoked", "credentials"),
        (403, "", "credentials"),
        (200, "invalid_blocks", "message"),
        (200, "msg_too_long", "message"),
        (400, "", "message"),  # a webhook that cannot read the payload
        (429, "ratelimited", "transient"),
        (503, "", "transient"),
        (200, "fatal_error", "transient"),
    ],
)
def test_failure_scope(status, error, scope):
    assert failure_scope(status, error) == scope


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"Retry-After": "30"}, 30), ({"retry-after": ["2"]}, 2), ({"Retry-After": "soon"}, None), ({}, None)],
)
def test_retry_after(headers, seconds):
    assert _retry_after(headers) == seconds


def sender_for(sink, **secret) -> SlackSender:
    credentials = SlackCredentials.model_validate(secret or {"bot_token": sink.token, "api_url": sink.api_url})
    return SlackSender(transport=lambda: SlackTransport(credentials, policy=QUICK), fallback_channel="#finops-alerts")


def test_a_webhook_per_channel_is_used_before_the_bot(sink):
    sender = sender_for(
        sink,
        bot_token=sink.token,
        api_url=sink.api_url,
        webhooks={"#payments-oncall": sink.webhook_url("#payments-oncall")},
    )

    delivery = sender.send(MESSAGE)

    assert (delivery.channel, delivery.via) == ("#payments-oncall", "webhook")
    assert sink.posts[0].style == "webhook"


def test_a_message_slack_cannot_render_is_sent_as_plain_text():
    sent: list[SlackMessage] = []

    class RejectsBlocks:
        def send(self, message):
            sent.append(message)
            if message.blocks:
                raise DeliveryError("Slack refused #payments-oncall: invalid_blocks", scope="message")
            return "api", "1.1"

    delivery = SlackSender(transport=lambda: RejectsBlocks(), fallback_channel="#finops-alerts").send(MESSAGE)

    assert (delivery.channel, delivery.reason) == (
        "#payments-oncall",
        "as plain text: Slack refused #payments-oncall: invalid_blocks",
    )
    assert sent[-1].blocks == ()
    assert sent[-1].text.startswith("[CRITICAL] Cost anomaly (formatting rejected")


def test_a_refusing_default_channel_is_not_retried_in_a_loop(sink):
    sink.refuse_channel("#finops-alerts", "is_archived")

    with pytest.raises(DeliveryError) as refused:
        sender_for(sink).send(SlackMessage("#finops-alerts", "x", ()))

    assert refused.value.scope == "channel"
    assert len(sink.requests) == 1


def test_when_the_fallback_also_refuses_the_error_is_the_fallbacks(sink):
    sink.refuse_channel("#payments-oncall", "not_in_channel")
    sink.refuse_channel("#finops-alerts", "not_in_channel")

    with pytest.raises(DeliveryError, match="#finops-alerts"):
        sender_for(sink).send(MESSAGE)


def test_a_long_retry_after_is_not_waited_for_in_process(sink):
    sink.fail_next(1, status=429, retry_after=30)

    with pytest.raises(DeliveryError) as limited:
        sender_for(sink).send(MESSAGE)

    assert limited.value.retry_after == 30
    assert limited.value.scope == "transient"


def test_unreachable_slack_is_a_transient_failure():
    credentials = SlackCredentials(webhooks={"#payments-oncall": "http://127.0.0.1:9/services/T/B/x"})
    sender = SlackSender(transport=lambda: SlackTransport(credentials, policy=QUICK), fallback_channel="#x")

    with pytest.raises(DeliveryError, match="unreachable") as down:
        sender.send(MESSAGE)

    assert down.value.scope == "transient"


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("not json", "(secret): not JSON"),
        ("{}", "the Slack secret needs 'bot_token' or 'webhooks'"),
        ('{"bot_token": "xoxb-1", "extra": "s3cr3t-value"}', "extra: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_secret_is_named_but_its_values_are_not(secret, complaint):
    with pytest.raises(DeliveryError) as malformed:
        credentials_from_secret(secret, secret_name="finops/slack")

    assert complaint in malformed.value.reason
    assert "s3cr3t-value" not in malformed.value.reason
    assert "xoxb-1" not in malformed.value.reason
    assert malformed.value.scope == "credentials"


def test_parking_delays_by_retry_after_capped_at_the_sqs_maximum():
    sqs = boto3.client("sqs", region_name="us-east-1")
    failing = SlackSender(
        transport=lambda: _Refusing(DeliveryError("rate limited", retry_after=3600)), fallback_channel="#finops-alerts"
    )
    outbox = SlackOutbox(
        sender=failing, sqs=sqs, queue_url="https://sqs/q", clock=lambda: datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    )
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "m-1"},
            {
                "QueueUrl": "https://sqs/q",
                "DelaySeconds": SQS_MAX_DELAY_SECONDS,
                "MessageBody": json.dumps(
                    {
                        "key": "anomaly:a",
                        "message": MESSAGE.to_json(),
                        "parked_at": "2026-11-27T08:00:00+00:00",
                        "reason": "rate limited",
                    }
                ),
            },
        )
        delivery = outbox.deliver(MESSAGE, key="anomaly:a")
        stub.assert_no_pending_responses()

    assert (delivery.status, delivery.channel, delivery.reason) == ("parked", "#payments-oncall", "rate limited")


def test_a_parked_body_reads_back():
    body = json.dumps({"key": "k", "message": MESSAGE.to_json(), "parked_at": "t", "reason": "r"})
    assert Parked.from_body(body) == Parked("k", MESSAGE, "t", "r")


class _Refusing:
    def __init__(self, error: DeliveryError) -> None:
        self.error = error

    def send(self, message):
        raise self.error


PAGING = SlackMessage(
    channel="#payments-oncall",
    text="<!here> [CRITICAL] Cost anomaly",
    blocks=({"type": "section", "text": {"type": "mrkdwn", "text": "<!here> :red_circle: Largest cause"}},),
    mentions="<!here> ",
)


def test_a_message_redirected_to_the_default_channel_pages_nobody_there(sink):
    sink.refuse_channel("#payments-oncall", "not_in_channel")

    delivery = sender_for(sink).send(PAGING)

    [post] = sink.posts
    assert (post.channel, delivery.intended) == ("#finops-alerts", "#payments-oncall")
    assert "<!here>" not in json.dumps(post.payload)
    assert post.payload["text"].startswith("(Meant for #payments-oncall, which refused it")


def test_the_bot_post_returns_its_ts_and_a_reply_goes_to_its_thread(sink):
    sender = sender_for(sink)

    first = sender.send(MESSAGE)
    sender.send(SlackMessage("#payments-oncall", "escalated", (), thread_ts=first.ts))

    assert first.ts
    assert sink.posts[1].payload["thread_ts"] == first.ts


def test_a_parked_message_keeps_its_mentions_and_thread():
    message = SlackMessage("#c", "<!here> x", (), mentions="<!here> ", thread_ts="1.2")

    assert SlackMessage.from_json(json.loads(json.dumps(message.to_json()))) == message
