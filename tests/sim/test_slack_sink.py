"""The local Slack sink, driven by slack-sdk's own clients the way the runtime drives Slack."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from tools.sim.slack_sink import SlackSink


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    with SlackSink() as running:
        yield running


def test_sink_listens_on_loopback_only(sink: SlackSink) -> None:
    assert sink.base_url.startswith("http://127.0.0.1:")
    assert sink.api_url.endswith("/api/")


def test_webhook_post_lands_in_the_channel_its_url_stands_for(sink: SlackSink) -> None:
    # Given one webhook URL per channel
    payments = sink.webhook_url("#payments-oncall")
    data = sink.webhook_url("#data-oncall")
    assert payments != data

    # When slack-sdk posts to the payments one
    response = WebhookClient(payments).send(text="Anomaly: +$1,234 on EC2", blocks=[{"type": "divider"}])

    # Then Slack's answer is mirrored and the post is recorded against that channel only
    assert (response.status_code, response.body) == (200, "ok")
    [post] = sink.posts_to("#payments-oncall")
    assert post.style == "webhook"
    assert post.payload["text"] == "Anomaly: +$1,234 on EC2"
    assert post.payload["blocks"] == [{"type": "divider"}]
    assert sink.posts_to("#data-oncall") == []


def test_api_post_message_answers_like_slack(sink: SlackSink) -> None:
    client = WebClient(base_url=sink.api_url, token=sink.token)

    response = client.chat_postMessage(channel="#finops-alerts", text="hello", blocks=[{"type": "divider"}])

    assert response["ok"] is True
    assert response["channel"] == "#finops-alerts"
    assert response["ts"]
    [post] = sink.posts
    assert (post.channel, post.style, post.payload["text"]) == ("#finops-alerts", "api", "hello")


def test_api_accepts_form_encoded_posts(sink: SlackSink) -> None:
    client = WebClient(base_url=sink.api_url, token=sink.token)

    response = client.api_call("chat.postMessage", data={"channel": "#data-oncall", "text": "as a form"})

    assert response["ok"] is True
    assert sink.posts_to("#data-oncall")[0].payload["text"] == "as a form"


@pytest.mark.parametrize(
    ("token", "payload", "error"),
    [
        ("xoxb-wrong", {"channel": "#x", "text": "hi"}, "invalid_auth"),
        ("", {"channel": "#x", "text": "hi"}, "invalid_auth"),
        ("xoxb-local-sink", {"text": "hi"}, "channel_not_found"),
        ("xoxb-local-sink", {"channel": "#x"}, "no_text"),
    ],
)
def test_api_rejections_are_recorded_but_not_posted(
    sink: SlackSink, token: str, payload: dict[str, str], error: str
) -> None:
    client = WebClient(base_url=sink.api_url, token=token or None)

    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.postMessage", json=payload)

    assert raised.value.response["error"] == error
    assert sink.posts == ()
    assert [r.path for r in sink.requests] == ["/api/chat.postMessage"]


def test_webhook_to_an_unknown_url_is_refused(sink: SlackSink) -> None:
    response = WebhookClient(f"{sink.base_url}/services/T000/B000/nobody").send(text="hi")

    assert (response.status_code, response.body) == (404, "no_service")
    assert sink.posts == ()


@pytest.mark.parametrize(
    ("status", "retry_after", "webhook_body", "api_error"),
    [
        (429, 7, "rate_limited", "ratelimited"),
        (500, None, "internal server error", "fatal_error"),
        (503, None, "internal server error", "fatal_error"),
    ],
)
def test_fail_next_answers_the_fault_then_recovers(
    sink: SlackSink, status: int, retry_after: int | None, webhook_body: str, api_error: str
) -> None:
    webhook = WebhookClient(sink.webhook_url("#finops-alerts"))
    api = WebClient(base_url=sink.api_url, token=sink.token)
    sink.fail_next(2, status=status, retry_after=7)

    # When both styles post while the faults last
    failed = webhook.send(text="first")
    with pytest.raises(SlackApiError) as raised:
        api.chat_postMessage(channel="#finops-alerts", text="second")

    # Then each got the fault, with Retry-After only on 429, and nothing was posted
    assert (failed.status_code, failed.body) == (status, webhook_body)
    assert raised.value.response.status_code == status
    assert raised.value.response["error"] == api_error
    assert [(r.status, r.retry_after) for r in sink.requests] == [(status, retry_after)] * 2
    assert (failed.headers.get("Retry-After") or [None])[0] == (str(retry_after) if retry_after else None)
    assert sink.posts == ()

    # And the next request goes through
    assert webhook.send(text="third").status_code == 200
    assert [p.payload["text"] for p in sink.posts] == ["third"]


def test_retrying_client_honours_retry_after_and_delivers(sink: SlackSink) -> None:
    client = WebhookClient(
        sink.webhook_url("#finops-alerts"), retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    sink.fail_next(1, status=429, retry_after=1)

    started = time.monotonic()
    response = client.send(text="after the wait")

    assert response.status_code == 200
    assert time.monotonic() - started >= 1
    assert [r.status for r in sink.requests] == [429, 200]
    assert sink.posts[0].payload["text"] == "after the wait"


def test_down_answers_503_to_everything_until_it_comes_back(sink: SlackSink) -> None:
    webhook = WebhookClient(sink.webhook_url("#finops-alerts"))
    api = WebClient(base_url=sink.api_url, token=sink.token)

    sink.go_down()
    down = webhook.send(text="lost?")
    with pytest.raises(SlackApiError) as raised:
        api.chat_postMessage(channel="#finops-alerts", text="lost?")
    sink.come_back()
    up = webhook.send(text="delivered")

    assert (down.status_code, down.body) == (503, "service unavailable")
    assert raised.value.response.status_code == 503
    assert up.status_code == 200
    assert [r.status for r in sink.requests] == [503, 503, 200]
    assert [p.payload["text"] for p in sink.posts] == ["delivered"]


def test_clear_forgets_records_but_keeps_webhooks(sink: SlackSink) -> None:
    url = sink.webhook_url("#finops-alerts")
    WebhookClient(url).send(text="one")

    sink.clear()

    assert (sink.posts, sink.requests) == ((), ())
    assert WebhookClient(url).send(text="two").status_code == 200


def test_sink_needs_to_be_running_to_hand_out_urls() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = SlackSink().api_url
