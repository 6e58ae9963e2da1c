"""Shared builders: the shipped config, sample events, the simulated Organization, the local Slack sink, the hub."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finops.models.config import FinOpsConfig, load_config

ROOT = Path(__file__).parents[1]
EVENTS = ROOT / "tests" / "events"
# moto fills every EC2 backend it creates with ~1,300 public AMIs and their snapshots unless this is false when the
# backend is made, and a backend made once is re-made by later resets with whatever the variable then says: one
# `mock_aws()` without it leaked the AMIs into every later simulated Organization of the worker (a tag compliance run
# 10x slower, its findings cut). tools.sim.estate.simulated_aws sets it for the product's own runs; the whole test
# process gets it here.
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"


@pytest.fixture(scope="session")
def config() -> FinOpsConfig:
    return load_config(ROOT / "finops.yaml")


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: type, calls: Counter[str]) -> Counter[str]:
    """From now on, every client ``owner.client`` makes (``AwsClients``: the hub's own; ``AccountScope``: through an
    assumed member role) counts each API call it makes into ``calls``, as ``service:Operation``."""
    make = owner.client  # type: ignore[attr-defined]

    def recording(self: Any, service: str, *args: Any) -> Any:
        client = make(self, service, *args)
        prefix = client.meta.service_model.signing_name
        client.meta.events.register("before-call", lambda model, **_: calls.update([f"{prefix}:{model.name}"]))
        return client

    monkeypatch.setattr(owner, "client", recording)
    return calls


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def anomaly_event(anomaly_id: str, *, account: str | None = None) -> dict[str, Any]:
    """The sample SNS anomaly as a new anomaly ``anomaly_id``; with ``account``, caused in that account (by id only,
    so its name must come from Organizations)."""
    event = load_event("anomaly_sns")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["anomalyId"] = anomaly_id
    if account is not None:
        for cause in message["rootCauses"]:
            cause["linkedAccount"] = account
            cause.pop("linkedAccountName")
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


@pytest.fixture
def sink() -> Iterator[Any]:
    from tools.sim.slack_sink import SlackSink

    with SlackSink() as running:
        yield running


@pytest.fixture
def sim() -> Iterator[Any]:
    """The default simulated Organization: its accounts, OUs and account tags, without the resources.

    Alert tests only read the Organization; seeding every instance and volume would triple their time.
    Tests about resources use ``simulated_aws()`` with the whole estate.
    """
    from tools.sim.estate import default_estate, simulated_aws

    estate = default_estate()
    accounts = tuple(account.model_copy(update={"regions": {}}) for account in estate.accounts)
    with simulated_aws(estate.model_copy(update={"accounts": accounts})) as organization:
        yield organization


@pytest.fixture
def hub(sim: Any, sink: Any, config: FinOpsConfig, tmp_path: Path) -> Any:
    """The hub stack's resources in moto, its Slack secret a bot token for the local sink."""
    from tools.local_hub import LocalHub

    local = LocalHub(config, tmp_path)
    local.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
    return local
