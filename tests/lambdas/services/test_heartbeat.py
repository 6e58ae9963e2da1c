"""Synthetic anomalies (make smoke, the delivery heartbeat): recognized before routing, posted to the heartbeat
channel without paging anyone, every time, and logged the way tools/smoke.py reads them.

The handler runs as Lambda would (tools.local_hub) and posts over real HTTP to the local Slack sink."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from finops.models.alerts import CostAnomaly
from finops.models.events import alerts_from_event
from finops.services.audit import read_trail
from finops.services.heartbeat import (
    HEARTBEAT_TEXT,
    POSTED,
    RECEIVED,
    SMOKE_TEXT,
    split_synthetic,
    synthetic_anomaly,
    synthetic_kind,
)
from tests.conftest import load_event
from tests.stacks.template_helpers import config_with
from tools.local_hub import LocalHub

SENT = "2026-11-27T08:00:00Z"


def sns_event(message: str, *, message_id: str = "sns-smoke-1", at: str = SENT) -> dict[str, Any]:
    """The SNS event Lambda gets for one message on the anomaly topic."""
    event = load_event("anomaly_sns")
    record = event["Records"][0]["Sns"]
    record.update(Message=message, MessageId=message_id, Timestamp=at)
    return event


def smoke(suffix: str = "0f3c", **kwargs: Any) -> dict[str, Any]:
    return sns_event(synthetic_anomaly("smoke", suffix, sent_at=SENT, sent_by="alice@example.com"), **kwargs)


def heartbeat(suffix: str = "d32c5kddcf5bb8c3") -> dict[str, Any]:
    return sns_event(synthetic_anomaly("heartbeat", suffix, sent_at=SENT, sent_by="FinOpsManagement schedule"))


def seen(post: Any) -> str:
    blocks = post.payload.get("blocks", [])
    texts = [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
    texts += [e["text"] for b in blocks for e in b.get("elements", [])]
    return "\n".join([post.payload["text"], *texts])


@pytest.mark.parametrize(
    ("anomaly_id", "kind"),
    [
        ("finops-smoke-0f3c", "smoke"),
        ("finops-heartbeat-d32c5kddcf5bb8c3", "heartbeat"),
        ("a1b2c3d4-1111-4e5f-8a9b-0c1d2e3f4a5b", None),  # Cost Anomaly Detection's own ids are UUIDs
        ("smoke-finops-1", None),
        ("FINOPS-SMOKE-1", None),  # the tools write the prefix exactly
    ],
)
def test_only_our_prefixes_are_synthetic(anomaly_id, kind):
    assert synthetic_kind(CostAnomaly.model_validate({"anomalyId": anomaly_id})) == kind


def test_the_synthetic_message_parses_as_an_anomaly_of_no_impact():
    [alert], now = alerts_from_event(smoke())

    assert isinstance(alert, CostAnomaly)
    assert alert.anomaly_id == "finops-smoke-0f3c"
    assert alert.impact.impact_usd == 0  # a function without this module skips it as below every tier
    assert now == datetime(2026, 11, 27, 8, tzinfo=UTC)
    message = json.loads(smoke()["Records"][0]["Sns"]["Message"])
    assert message["finopsSynthetic"] == {
        "kind": "smoke",
        "sentAt": SENT,
        "sentBy": "alice@example.com",
        "text": SMOKE_TEXT,
    }


def test_split_keeps_the_real_alerts_in_order():
    real = alerts_from_event(load_event("anomaly_sns"))[0] + alerts_from_event(load_event("budget_actual_sns"))[0]
    [synthetic] = alerts_from_event(smoke())[0]

    found, rest = split_synthetic([real[0], synthetic, real[1]])

    assert found == [synthetic]
    assert rest == real


@pytest.mark.usefixtures("sim")
def test_a_smoke_test_goes_to_the_default_channel_paging_nobody_while_the_heartbeat_is_off(hub: LocalHub, sink, caplog):
    caplog.set_level("INFO")

    run = hub.invoke("anomaly_alerts", smoke())

    assert run.error is None
    assert run.result["acted"][0]["reason"] == "smoke posted to #finops-alerts"
    [post] = sink.posts
    assert post.channel == "#finops-alerts"
    text = seen(post)
    assert "SMOKE TEST — not a real anomaly" in post.payload["text"]
    assert "finops-smoke-0f3c" in text
    assert "<!" not in text  # no <!here>, no <!subteam^...>: nobody is paged by a test
    records = {r.getMessage(): r for r in caplog.records if r.getMessage() in (RECEIVED, POSTED)}
    assert records[RECEIVED].anomaly_id == "finops-smoke-0f3c"
    assert records[POSTED].channel == "#finops-alerts"
    assert records[POSTED].ts  # the Web API's ts: what make smoke reports as the Slack hop
    [record] = read_trail(hub.dynamodb, hub.audit_table)
    assert (record["action"], record["target"]) == ("slack.post", "slack:#finops-alerts")


@pytest.mark.usefixtures("sim")
def test_the_same_smoke_id_posts_every_time_it_arrives(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", smoke())
    again = hub.invoke("anomaly_alerts", smoke())

    assert again.result["counts"] == {"acted": 1, "skipped": 0, "failed": 0}  # not "already sent"
    assert len(sink.posts) == 2


@pytest.mark.usefixtures("sim")
def test_a_heartbeat_goes_to_the_heartbeat_channel_and_counts_heartbeat_delivered(sink, config, tmp_path, capsys):
    on = config_with(config, notifications={"heartbeat": {"enabled": True, "channel": "#ops-heartbeat"}})
    hub = LocalHub(on, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    run = hub.invoke("anomaly_alerts", heartbeat())

    assert run.error is None
    [post] = sink.posts
    assert post.channel == "#ops-heartbeat"
    assert HEARTBEAT_TEXT in post.payload["text"]
    assert "<!" not in seen(post)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    delivered = [m for m in metrics if "HeartbeatDelivered" in m]
    assert [m["HeartbeatDelivered"] for m in delivered] == [[1.0]]  # one flush, one data point
    assert delivered[0]["service"] == "anomaly_alerts"  # the dimension the hub's alarm watches


@pytest.mark.usefixtures("sim")
def test_smoke_goes_to_the_heartbeat_channel_once_the_heartbeat_is_on(sink, config, tmp_path):
    on = config_with(config, notifications={"heartbeat": {"enabled": True}})
    hub = LocalHub(on, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})

    hub.invoke("anomaly_alerts", smoke())

    assert [p.channel for p in sink.posts] == ["#finops-heartbeat"]


@pytest.mark.usefixtures("sim")
def test_slack_down_parks_a_smoke_test_and_says_so(hub: LocalHub, sink, caplog, capsys):
    caplog.set_level("INFO")
    sink.go_down()

    run = hub.invoke("anomaly_alerts", smoke())

    assert run.error is None
    assert run.result["acted"][0]["reason"].startswith("smoke parked for #finops-alerts: ")
    assert hub.queue_depth(hub.retry_queue_url) == 1
    [parked] = [r for r in caplog.records if r.getMessage() == "synthetic alert parked"]
    assert parked.anomaly_id == "finops-smoke-0f3c"
    assert "503" in parked.reason
    assert "HeartbeatDelivered" not in capsys.readouterr().out


@pytest.mark.usefixtures("sim")
def test_a_heartbeat_parked_by_an_outage_is_not_counted_delivered(sink, config, tmp_path, capsys):
    on = config_with(config, notifications={"heartbeat": {"enabled": True}})
    hub = LocalHub(on, tmp_path)
    hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
    sink.go_down()

    hub.invoke("anomaly_alerts", heartbeat())

    assert "HeartbeatDelivered" not in capsys.readouterr().out  # so the silence alarm sees the outage


@pytest.mark.usefixtures("sim")
def test_real_anomalies_keep_their_routing_and_once_only(hub: LocalHub, sink):
    hub.invoke("anomaly_alerts", load_event("anomaly_sns"))
    again = hub.invoke("anomaly_alerts", load_event("anomaly_sns"))

    assert [p.channel for p in sink.posts] == ["#payments-oncall"]
    assert again.result["counts"]["skipped"] == 1


@pytest.mark.parametrize(
    ("heartbeat", "says"),
    [
        ({"schedule": "daily"}, "notifications.heartbeat.schedule: expected an EventBridge Scheduler expression"),
        ({"schedule": "rate(2 days)"}, "rate(2 days) beats every 48 h, not inside max_silence_hours (26)"),
        ({"max_silence_hours": 200}, "notifications.heartbeat.max_silence_hours"),
        ({"channel": "finops heartbeat"}, "notifications.heartbeat.channel: expected a Slack channel"),
    ],
)
def test_a_bad_heartbeat_is_refused_by_key_path(config, heartbeat, says):
    from finops.models.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        config_with(config, notifications={"heartbeat": heartbeat})

    assert says in str(refused.value)
