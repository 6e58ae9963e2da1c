"""The storage clean-up end to end on the simulated Organization: the plan in report mode is, item by item, what
enforce mode then carries out; a report run makes no mutating call; the kill switch holds every deletion."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from finops.aws.clients import AccountScope
from tests.conftest import record_calls
from tools.demo_cleanup import MARK_DAY, SWEEP_DAY, cleanup_enforcing
from tools.demo_scheduler import at
from tools.local_hub import LocalHub
from tools.sim.estate import simulated_aws

pytestmark = pytest.mark.slow
MUTATING = ("Create", "Delete", "Modify", "Put", "Update")


@pytest.fixture
def hub(sink: Any, config: Any, tmp_path: Any) -> Any:
    with simulated_aws():
        hub = LocalHub(config, tmp_path)
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        yield hub


def planned(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (r["target"]["account"], r["target"]["region"], json.dumps(r["planned"], sort_keys=True))
        for r in document["results"]
    )


def test_report_mode_plans_exactly_what_enforce_does_item_by_item(hub: Any, config: Any, monkeypatch: Any) -> None:
    enforce = cleanup_enforcing(config)
    for day in (MARK_DAY, SWEEP_DAY):  # the marks, then the deletions after the grace period
        calls = record_calls(monkeypatch, AccountScope, Counter())
        report = hub.run("ebs_cleanup", at(day))
        assert {c for c in calls if c.split(":")[1].startswith(MUTATING)} == set()
        assert report["mode"] == "report"
        done = hub.run("ebs_cleanup", at(day), config=enforce)
        assert planned(report) == planned(done)
        outcomes = [o for r in done["results"] for o in r["outcomes"]]
        assert {o["action"]["action"] for o in outcomes} >= ({"mark"} if day == MARK_DAY else {"delete"})
        assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]]
        assert len(outcomes) == sum(len(r["planned"]) for r in done["results"])


def test_the_kill_switch_holds_every_mark_and_deletion(hub: Any, config: Any, monkeypatch: Any) -> None:
    calls = record_calls(monkeypatch, AccountScope, Counter())
    hub.set_kill_switch("on")
    paused = hub.run("ebs_cleanup", at(SWEEP_DAY), config=cleanup_enforcing(config))
    assert paused["status"] == "paused"
    assert {c for c in calls if c.split(":")[1].startswith(MUTATING)} == set()
