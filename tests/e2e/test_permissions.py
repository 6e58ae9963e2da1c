"""The IAM actions a handler declares are the ones it calls: recorded from real boto3 calls during a run."""

from __future__ import annotations

import importlib

import pytest

from finops.aws.clients import AwsClients
from finops.handlers import HANDLERS
from tests.conftest import load_event

# Services whose access the hub construct grants on the resource itself (table, queue, secret), not by PERMISSIONS.
GRANTED_BY_CDK = {"dynamodb", "sqs", "secretsmanager"}


@pytest.fixture
def api_calls(monkeypatch) -> set[str]:
    calls: set[str] = set()
    make = AwsClients.client

    def recording(self, service, region=None):
        client = make(self, service, region)
        prefix = client.meta.service_model.signing_name

        def record(model, **_):
            calls.add(f"{prefix}:{model.name}")

        client.meta.events.register("before-call", record)
        return client

    monkeypatch.setattr(AwsClients, "client", recording)
    return calls


@pytest.mark.usefixtures("sim")
def test_anomaly_alerts_calls_exactly_what_it_declares(hub, sink, api_calls):
    sink.go_down()
    for event in ("anomaly_sns", "anomaly_eventbridge", "budget_actual_sns"):
        assert hub.invoke("anomaly_alerts", load_event(event)).error is None
    sink.come_back()
    hub.drain_retry_queue()

    declared = set(importlib.import_module(HANDLERS["anomaly_alerts"]).PERMISSIONS)
    redrive_declared = set(importlib.import_module(HANDLERS["slack_redrive"]).PERMISSIONS)
    called_by_permission = {c for c in api_calls if c.split(":")[0] not in GRANTED_BY_CDK}
    assert called_by_permission == declared | redrive_declared
    assert {c.split(":")[0] for c in api_calls} - {"organizations"} <= GRANTED_BY_CDK
