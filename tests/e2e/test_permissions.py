"""The IAM actions each handler declares are the ones it calls: recorded from real boto3 calls during runs."""

from __future__ import annotations

import importlib
from collections import Counter

import pytest

from finops.aws.clients import AwsClients
from finops.handlers import HANDLERS
from tests.conftest import load_event, record_calls

# Services whose access the hub construct grants on the resource itself (table, queue, secret), not by PERMISSIONS.
GRANTED_BY_CDK = {"dynamodb", "sqs", "secretsmanager"}


@pytest.fixture
def api_calls(monkeypatch) -> Counter[str]:
    return record_calls(monkeypatch, AwsClients, Counter())


def declared(function: str) -> set[str]:
    return set(importlib.import_module(HANDLERS[function]).PERMISSIONS)


def needing_permissions(calls: set[str]) -> set[str]:
    return {c for c in calls if c.split(":")[0] not in GRANTED_BY_CDK}


@pytest.mark.usefixtures("sim")
def test_each_handler_calls_exactly_what_it_declares(hub, sink, api_calls):
    sink.go_down()
    for event in ("anomaly_sns", "anomaly_eventbridge", "budget_actual_sns"):
        assert hub.invoke("anomaly_alerts", load_event(event)).error is None
    alert_calls = set(api_calls)
    api_calls.clear()
    sink.come_back()
    hub.drain_retry_queue()
    redrive_calls = set(api_calls)

    assert needing_permissions(alert_calls) == declared("anomaly_alerts")
    assert needing_permissions(redrive_calls) == declared("slack_redrive")
    assert {c.split(":")[0] for c in alert_calls | redrive_calls} <= GRANTED_BY_CDK | {"organizations"}
    # What the stack grants on the tables: PutItem on the audit table, the idempotency calls on the other.
    assert {c for c in alert_calls | redrive_calls if c.startswith("dynamodb:")} <= {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
