"""`make bench`: how the work grows with the Organization and what one alert costs, in calls and ratios.

Absolute times on a shared 2-core machine say little; call counts are exact and ratios travel. Everything runs
in-process against moto and the local Slack sink.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finops.aws.clients import AwsClients
from finops.aws.organizations import enumerate_targets
from finops.models.config import FinOpsConfig, load_config

ROOT = Path(__file__).parents[1]


def counting(client: Any, calls: Counter[str]) -> Any:
    prefix = client.meta.service_model.signing_name
    client.meta.events.register("before-call", lambda model, **_: calls.update([f"{prefix}:{model.name}"]))
    return client


@contextmanager
def hub_calls_counted(calls: Counter[str]) -> Iterator[None]:
    """While open, every client AwsClients makes (the hub's own, not the member scopes') counts into ``calls``."""
    make = AwsClients.client

    def counted(self: AwsClients, service: str, region: str | None = None) -> Any:
        return counting(make(self, service, region), calls)

    AwsClients.client = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        AwsClients.client = make  # type: ignore[method-assign]


def enumeration(config: FinOpsConfig, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    from tools.sim.estate import generate_estate, simulated_aws

    rows = []
    for size in sizes:
        with simulated_aws(generate_estate(size)):
            calls: Counter[str] = Counter()
            organizations = counting(AwsClients().client("organizations"), calls)
            started = time.perf_counter()
            targets = enumerate_targets(config, organizations).targets
            seconds = time.perf_counter() - started
        rows.append({"accounts": size, "targets": len(targets), "calls": dict(calls), "seconds": seconds})
    return rows


def alert_cost(config: FinOpsConfig) -> dict[str, Any]:
    """AWS calls and Slack requests for one alert, for a redelivery, and for a 10-message redrive during an outage."""
    from tools.demo import event as load_event
    from tools.demo import with_anomaly_id
    from tools.local_hub import LocalHub
    from tools.sim.estate import simulated_aws
    from tools.sim.slack_sink import SlackSink

    result: dict[str, Any] = {}
    with simulated_aws() as _, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
        hub = LocalHub(config, Path(workdir))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        calls: Counter[str] = Counter()
        with hub_calls_counted(calls):
            for label, event in (
                ("first delivery", load_event("anomaly_sns")),
                ("redelivery", load_event("anomaly_sns")),
            ):
                calls.clear()
                before = len(sink.requests)
                hub.invoke("anomaly_alerts", event)
                result[label] = {"aws_calls": dict(calls), "slack_requests": len(sink.requests) - before}
            sink.go_down()
            for n in range(10):
                hub.invoke("anomaly_alerts", with_anomaly_id(load_event("anomaly_sns"), f"bench-{n}"))
            before = len(sink.requests)
            hub.drain_retry_queue()
            result["redrive of 10 parked, Slack still down"] = {
                "slack_requests": len(sink.requests) - before,
                "if every message were tried (1 + 2 retries each)": 10 * 3,
            }
    return result


def scheduler_cost(config: FinOpsConfig) -> dict[str, Any]:
    """API calls of one Organization-wide scheduler run on the default estate: per target (through the member role,
    counted by the worker itself) and in the hub, for a quiet tick, the evening stop and the morning start."""
    from tools.demo_scheduler import EVENING, MORNING, at, enforcing
    from tools.local_hub import LocalHub
    from tools.sim.estate import simulated_aws
    from tools.sim.slack_sink import SlackSink

    enforce = enforcing(config)
    rows: dict[str, Any] = {}
    with simulated_aws() as _, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
        hub = LocalHub(config, Path(workdir))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        for label, when in (
            ("quiet tick (no transition due)", EVENING.replace(hour=14, minute=15)),
            ("evening stop (reconcile, enforce)", EVENING),
            ("morning start (reconcile, enforce)", MORNING),
        ):
            calls: Counter[str] = Counter()
            with hub_calls_counted(calls):
                document = hub.run("scheduler", at(when), config=enforce)
            reached = [r for r in document.get("results", []) if r["status"] != "failed"]
            member = Counter[str]()
            for result in reached:
                member.update(result["calls"])
            rows[label] = {
                "status": document["status"],
                "targets": document["targets"]["total"],
                "actions": document["counts"]["acted"] + document["counts"]["failed"],
                "member_calls_by_action": dict(sorted(member.items())),
                "member_calls_per_reached_target": round(sum(member.values()) / len(reached), 1) if reached else 0,
                "hub_calls_by_action": dict(sorted(calls.items())),
            }
    return rows


def main() -> int:
    sys.stdout, out = sys.stderr, sys.stdout  # handler logs to stderr; the report to stdout
    config = load_config(ROOT / "finops.yaml")
    config = config.model_copy(
        update={"organization": config.organization.model_copy(update={"regions": ("eu-west-1",)})}
    )
    rows = enumeration(config, (100, 1000))
    small, large = rows
    report = {
        "enumeration": rows,
        "enumeration_ratio_1000_vs_100": {
            "accounts": large["accounts"] / small["accounts"],
            "api_calls": sum(large["calls"].values()) / sum(small["calls"].values()),
            "seconds": large["seconds"] / small["seconds"],
        },
        "alert": alert_cost(config),
        "scheduler": scheduler_cost(load_config(ROOT / "finops.yaml")),
    }
    json.dump(report, out, indent=2)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
