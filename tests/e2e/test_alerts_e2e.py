"""End to end: an SNS or EventBridge event → the real handler → real HTTP to the local Slack sink.

Organizations, DynamoDB, SQS and Secrets Manager are moto; the Slack side is a real HTTP server on 127.0.0.1.
Assertions are on what an on-call engineer reads and on what must never happen (a lost or doubled alert).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from finops.services.audit import read_trail
from tests.conftest import anomaly_event, load_event
from tools.demo import across_teams, clock_at, grown
from tools.local_hub import LocalHub, sqs_record

pytestmark = pytest.mark.usefixtures("sim")


def readable(post) -> str:
    """The text a person sees in Slack: notification text plus every block's text and fields."""
    payload = post.payload
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        for element in block.get("elements", []):
            text = element.get("text")
            parts.append(text if isinstance(text, str) else (text or {}).get("text", ""))
            parts.append(element.get("url", ""))
    return "\n".join(parts)


def test_anomaly_reaches_the_owning_team_with_what_oncall_needs(hub: LocalHub, sink):
    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert run.error is None
    assert run.result["counts"] == {"acted": 1, "skipped": 0, "failed": 0}
    [post] = sink.posts
    assert post.channel == "#payments-oncall"
    seen = readable(post)
    assert "$1,430.00 (+348.8%)" in seen
    assert "Amazon Elastic Compute Cloud - Compute" in seen
    assert "payments-prod (333333333333)" in seen  # the name comes from Organizations
    assert "payments (from account tag)" in seen
    assert "$410.00 → $1,840.00" in seen
    assert "/anomalies/a1b2c3d4-1111-4e5f-8a9b-0c1d2e3f4a5b" in seen
    assert post.payload["text"].startswith("<!here> <!subteam^S0PAYMENTS> [CRITICAL]")
    [record] = read_trail(hub.dynamodb, hub.audit_table)
    assert record["action"] == "slack.post"
    assert record["target"] == "slack:#payments-oncall"
    assert record["account"] == "333333333333"


def test_a_redelivered_event_posts_once(hub: LocalHub, sink):
    first = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))
    again = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert len(sink.posts) == 1
    assert again.result["counts"] == {"acted": 0, "skipped": 1, "failed": 0}
    assert first.result["run_id"] in again.result["skipped"][0]["reason"]


@pytest.mark.parametrize(
    ("event", "channel", "must_read"),
    [
        (
            "anomaly_eventbridge",
            "#data-oncall",
            [
                "data-dev (555555555555)",
                "Amazon Relational Database Service",
                "$272.00 (+209.2%)",
                "data (from account tag)",
            ],
        ),
        (
            "anomaly_sns_drifted",
            "#finops-alerts",
            [
                "Max daily impact",
                "$164.50 a day at most",
                "2026-11-25 → 2026-11-26 (2 days)",
                "Amazon Simple Storage Service",
            ],
        ),
        (
            "budget_actual_sns",
            "#payments-oncall",
            [
                "payments-staging-monthly has exceeded",
                "$912.40",
                "acme-management (111111111111)",
                "payments (from budget map)",
            ],
        ),
        ("budget_forecast_sns", "#data-oncall", ["data-dev-daily is forecast to exceed", "$188.20"]),
    ],
)
def test_every_form_is_routed_and_readable(hub: LocalHub, sink, event, channel, must_read):
    run = hub.invoke("anomaly_alerts", load_event(event))

    assert run.error is None, run.error
    [post] = sink.posts
    assert post.channel == channel
    seen = readable(post)
    for phrase in must_read:
        assert phrase in seen


def test_an_account_nobody_owns_goes_to_the_default_channel_and_says_so(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", anomaly_event("anomaly-in-666666666666", account="666666666666"))

    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    assert "no owning team found" in readable(post)


def test_config_account_map_is_the_fallback_owner(sim, sink, config, tmp_path):
    mapped = config.model_copy(
        update={
            "notifications": config.notifications.model_copy(update={"account_teams": {"666666666666": "platform"}})
        }
    )
    hub = LocalHub(mapped, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    hub.invoke("anomaly_alerts", anomaly_event("anomaly-in-666666666666", account="666666666666"))

    [post] = sink.posts
    assert post.channel == "#platform-oncall"
    assert "platform (from config)" in readable(post)


def test_rate_limited_then_accepted_is_delivered_once(hub: LocalHub, sink):
    sink.fail_next(1, status=429, retry_after=1)

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert "posted to #payments-oncall" in run.result["acted"][0]["reason"]
    assert [r.status for r in sink.requests] == [429, 200]
    assert len(sink.posts) == 1
    assert hub.queue_depth(hub.retry_queue_url) == 0


def test_server_errors_are_retried(hub: LocalHub, sink):
    sink.fail_next(2, status=500)

    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert [r.status for r in sink.requests] == [500, 500, 200]
    assert len(sink.posts) == 1


def test_slack_down_parks_the_alert_and_delivers_it_after_recovery(hub: LocalHub, sink):
    sink.go_down()

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert run.error is None  # the alert is safe on the queue; the event is done
    assert "parked for #payments-oncall" in run.result["acted"][0]["reason"]
    assert not sink.posts
    assert hub.queue_depth(hub.retry_queue_url) == 1

    [still_down] = hub.drain_retry_queue()
    assert still_down.error is None  # reported item by item: no Errors alarm on every poll of an outage
    assert len(still_down.result["batchItemFailures"]) == 1
    assert hub.queue_depth(hub.retry_queue_url) == 1  # kept for the next poll

    sink.come_back()
    with clock_at(datetime(2026, 11, 27, 9, 1, 3, tzinfo=UTC)):  # 47 minutes after SNS sent it
        hub.drain_retry_queue()

    [post] = sink.posts
    assert post.channel == "#payments-oncall"
    assert "$1,430.00" in readable(post)
    assert post.payload["blocks"][0]["elements"][0]["text"] == (
        ":warning: Delivered 47 minutes late: held since 2026-11-27 08:14 UTC because Slack did not take the "
        "message for #payments-oncall: HTTP 503"
    )
    assert hub.queue_depth(hub.retry_queue_url) == 0
    actions = [r["action"] for r in read_trail(hub.dynamodb, hub.audit_table)]
    assert actions == ["slack.park", "slack.post"]


def test_a_long_retry_after_is_not_slept_in_the_lambda(hub: LocalHub, sink):
    sink.fail_next(1, status=429, retry_after=600)

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert "parked" in run.result["acted"][0]["reason"]
    assert len(sink.requests) == 1
    assert hub.queue_depth(hub.retry_queue_url) == 1


def test_webhook_secret_routes_by_channel_and_falls_back_to_the_default_webhook(hub: LocalHub, sink):
    hub.put_slack_secret({"webhooks": {"#finops-alerts": sink.webhook_url("#finops-alerts")}})

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    assert post.style == "webhook"
    banner = post.payload["blocks"][0]["elements"][0]["text"]
    assert banner == (
        ":warning: Meant for #payments-oncall, which refused it: the Slack secret has no incoming "
        "webhook for #payments-oncall and no bot_token."
    )
    assert "posted to #finops-alerts" in run.result["acted"][0]["reason"]


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_a_channel_that_refuses_for_good_hands_the_alert_to_the_default_channel(hub: LocalHub, sink, error):
    sink.refuse_channel("#payments-oncall", error)

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    [post] = sink.posts  # at once, not after hours on the retry queue
    assert post.channel == "#finops-alerts"
    assert f"Meant for #payments-oncall, which refused it: Slack refused #payments-oncall: {error}" in readable(post)
    assert "$1,430.00" in readable(post)
    assert hub.queue_depth(hub.retry_queue_url) == 0
    assert "posted to #finops-alerts (critical, team payments); redirected: " in run.result["acted"][0]["reason"]
    [record] = read_trail(hub.dynamodb, hub.audit_table)
    assert record["target"] == "slack:#finops-alerts"  # the audit names where it really went
    assert record["after"]["intended"] == "#payments-oncall"


def test_a_rejected_token_parks_the_alert_and_says_why(hub: LocalHub, sink):
    hub.put_slack_secret({"bot_token": "xoxb-revoked", "api_url": sink.api_url})

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert "invalid_auth" in run.result["acted"][0]["reason"]
    assert not sink.posts
    assert hub.queue_depth(hub.retry_queue_url) == 1
    assert len(sink.requests) == 1  # not posted again to the default channel with the same bad token


def test_an_audit_table_outage_does_not_post_the_alert_twice(hub: LocalHub, sink):
    hub.dynamodb.delete_table(TableName=hub.audit_table)

    first = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))
    again = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert first.error is None
    assert again.result["counts"]["skipped"] == 1
    assert len(sink.posts) == 1


def test_unreadable_slack_secret_parks_instead_of_dropping(hub: LocalHub, sink):
    hub.secrets.delete_secret(SecretId="finops/slack", ForceDeleteWithoutRecovery=True)

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert "cannot read Slack secret 'finops/slack'" in run.result["acted"][0]["reason"]
    assert hub.queue_depth(hub.retry_queue_url) == 1


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("invalid_not_json_sns", "Records[0].Sns.Message: neither Cost Anomaly JSON nor an AWS Budgets notification"),
        ("invalid_missing_anomaly_id_sns", "Records[0].Sns.Message.anomalyId: required field missing"),
    ],
)
def test_a_bad_event_is_retried_then_kept_in_the_dlq_with_its_reason(hub: LocalHub, sink, event, reason):
    run = hub.invoke("anomaly_alerts", load_event(event))

    assert run.error_type == "InvalidEvent"
    assert reason in run.error
    assert run.attempts == 3
    [message] = hub.sqs.receive_message(QueueUrl=hub.function_dlq_urls["anomaly_alerts"])["Messages"]
    kept = json.loads(message["Body"])
    assert kept["requestPayload"] == load_event(event)
    assert reason in kept["responsePayload"]["errorMessage"]
    assert not sink.posts


def test_an_event_of_another_kind_is_rejected_by_name(hub: LocalHub):
    run = hub.invoke("anomaly_alerts", {"source": "aws.ec2", "detail-type": "EC2 Instance State-change"})

    assert "not an SNS event (no 'Records') and not an aws.ce EventBridge event (source='aws.ec2'" in run.error


@pytest.mark.parametrize("style", ["bot token", "webhooks"])
def test_slack_secrets_never_reach_the_logs_even_at_debug(hub: LocalHub, sink, caplog, style):
    webhook = sink.webhook_url("#payments-oncall")
    if style == "webhooks":
        hub.put_slack_secret({"webhooks": {"#payments-oncall": webhook}})
    secret = sink.token if style == "bot token" else webhook.split("/services/")[1]
    caplog.set_level("DEBUG")
    sink.go_down()
    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))
    sink.come_back()
    hub.drain_retry_queue()

    messages = [record.getMessage() for record in caplog.records]
    assert "alert handled" in messages
    assert "parked alert delivered" in messages
    # Every record whole (message, extra keys, exception text), from every logger: botocore and slack_sdk too.
    leaks = [f"{r.name}: {r.getMessage()[:300]}" for r in caplog.records if secret in str(vars(r))]
    assert not leaks, leaks


def test_redrive_stops_at_the_first_refusal_instead_of_timing_out_the_batch(hub: LocalHub, sink):
    sink.go_down()
    for n in range(3):
        hub.invoke("anomaly_alerts", anomaly_event(f"parked-{n}"))
    requests_before = len(sink.requests)

    [run] = hub.drain_retry_queue()

    tried = len(sink.requests) - requests_before
    assert tried == 3  # one message: the first try and two retries; the other two were not tried
    assert len(run.result["batchItemFailures"]) == 3
    assert hub.queue_depth(hub.retry_queue_url) == 3


def test_a_message_one_channel_refuses_does_not_hold_back_the_others(hub: LocalHub, sink):
    sink.go_down()
    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))  # for #payments-oncall
    hub.invoke("anomaly_alerts", load_event("anomaly_eventbridge"))  # for #data-oncall
    sink.come_back()
    sink.refuse_channel("#payments-oncall", "invalid_blocks")
    before = len(sink.requests)

    [run] = hub.drain_retry_queue()

    assert [p.channel for p in sink.posts] == ["#data-oncall"]
    assert len(run.result["batchItemFailures"]) == 1  # the refused one waits, and says why in the logs
    refused = [r for r in sink.requests[before:] if b"payments-oncall" in r.body]
    assert len(refused) == 2  # as sent, then as plain text


def test_a_revoked_webhook_stops_its_channel_only(hub: LocalHub, sink):
    hub.put_slack_secret({"webhooks": {c: sink.webhook_url(c) for c in ("#payments-oncall", "#finops-alerts")}})
    sink.refuse_channel("#payments-oncall", "invalid_token", webhook_status=403)

    run = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    assert (
        "Slack refused #payments-oncall: invalid_token (the webhook URL in the Slack secret was revoked)"
        in readable(post)
    )
    assert "posted to #finops-alerts" in run.result["acted"][0]["reason"]


def test_a_redelivered_redrive_batch_posts_once(hub: LocalHub, sink):
    sink.go_down()
    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))
    sink.come_back()
    [message] = hub.sqs.receive_message(QueueUrl=hub.retry_queue_url)["Messages"]
    batch = {"Records": [sqs_record(message, "arn:aws:sqs:us-east-1:111111111111:finops-slack-retry")]}

    hub.invoke("slack_redrive", batch, retry_attempts=0)
    hub.invoke("slack_redrive", batch, retry_attempts=0)  # the function timed out before SQS deleted it

    assert len(sink.posts) == 1


def emitted(capsys, metric: str) -> int:
    """How often the handlers emitted ``metric`` (Powertools writes EMF JSON lines to stdout)."""
    total = 0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            total += int(sum(json.loads(line).get(metric, [0])))
    return total


def test_a_redirected_alert_does_not_page_the_default_channel_and_is_counted(hub: LocalHub, sink, capsys):
    sink.refuse_channel("#payments-oncall", "not_in_channel")

    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    assert "<!here>" not in json.dumps(post.payload)
    assert "<!subteam^S0PAYMENTS>" not in json.dumps(post.payload)
    assert emitted(capsys, "AlertsRedirected") == 1


def test_a_retried_invalid_event_counts_once(hub: LocalHub, capsys):
    run = hub.invoke("anomaly_alerts", load_event("invalid_not_json_sns"))

    assert run.attempts == 3  # Lambda tried it three times
    assert emitted(capsys, "InvalidEvents") == 1

    hub.invoke("anomaly_alerts", load_event("invalid_not_json_sns"))  # SNS delivers the same message again
    assert emitted(capsys, "InvalidEvents") == 0


def test_an_anomaly_that_grows_into_a_more_severe_tier_posts_an_update(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", load_event("anomaly_eventbridge"))  # $272: low for team data
    assert len(sink.posts) == 1
    bigger = grown(load_event("anomaly_eventbridge"), total=2400.0, actual=2530.0, at="2026-11-27T16:30:00Z")

    run = hub.invoke("anomaly_alerts", bigger)

    [update, reply] = sink.posts[1:]
    assert "escalated from low to critical: posted to #data-oncall" in run.result["acted"][0]["reason"]
    assert update.channel == "#data-oncall"
    assert update.payload["blocks"][0]["text"]["text"].startswith("CRITICAL (was LOW) · Cost anomaly: $2,400.00")
    assert update.payload["text"].startswith("<!here> [CRITICAL (was LOW)]")  # data's critical tier pages
    assert reply.payload["thread_ts"].endswith(".000001")  # the first message's ts: the sink numbers its posts
    assert reply.payload["text"].startswith("Escalated from LOW to CRITICAL: AWS now reports $2,400.00")


def test_a_repeat_in_the_same_or_a_lower_tier_stays_suppressed(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", load_event("anomaly_eventbridge"))
    bigger = grown(load_event("anomaly_eventbridge"), total=2400.0, actual=2530.0, at="2026-11-27T16:30:00Z")
    hub.invoke("anomaly_alerts", bigger)
    posts = len(sink.posts)

    again = hub.invoke("anomaly_alerts", grown(bigger, total=2450.0, actual=2580.0, at="2026-11-27T20:30:00Z"))
    lower = hub.invoke("anomaly_alerts", load_event("anomaly_eventbridge"))

    assert len(sink.posts) == posts
    assert again.result["counts"] == {"acted": 0, "skipped": 1, "failed": 0}
    assert lower.result["counts"] == {"acted": 0, "skipped": 1, "failed": 0}


def test_an_anomaly_across_two_teams_reaches_both_once(hub: LocalHub, sink):
    shared = across_teams(load_event("anomaly_sns"), "two-teams")

    hub.invoke("anomaly_alerts", shared)
    again = hub.invoke("anomaly_alerts", shared)

    assert sorted(p.channel for p in sink.posts) == ["#data-oncall", "#payments-oncall"]
    data = next(p for p in sink.posts if p.channel == "#data-oncall")
    assert "$400.00 of $1,830.00" in readable(data)
    assert "USE1-InstanceUsage:db.r6g.2xlarge" in readable(data)
    assert "EU-BoxUsage:p4d.24xlarge`" not in readable(data)
    assert again.result["counts"] == {"acted": 0, "skipped": 2, "failed": 0}


def test_an_anomaly_below_the_least_severe_tier_is_reported_not_posted(hub: LocalHub, sink):
    event = anomaly_event("tiny")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["impact"] = {"totalImpact": 6.0, "totalImpactPercentage": 20.0}
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)

    run = hub.invoke("anomaly_alerts", event)

    assert not sink.posts
    assert "below the least severe tier (low: at least $100 and 20%): not posted" in run.result["skipped"][0]["reason"]


def test_the_message_names_the_account_owner_tag(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert "*Owner*\nmaria.garcia@acme.example" in readable(sink.posts[0])
