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
from pathlib import Path
from typing import Any

from finops.aws.clients import AwsClients
from finops.aws.organizations import list_targets
from finops.models.config import FinOpsConfig, load_config

ROOT = Path(__file__).parents[1]


def counting(client: Any, calls: Counter[str]) -> Any:
    prefix = client.meta.service_model.signing_name
    client.meta.events.register("before-call", lambda model, **_: calls.update([f"{prefix}:{model.name}"]))
    return client


def enumeration(config: FinOpsConfig, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    from tools.sim.estate import generate_estate, simulated_aws

    rows = []
    for size in sizes:
        with simulated_aws(generate_estate(size)):
            calls: Counter[str] = Counter()
            organizations = counting(AwsClients().client("organizations"), calls)
            started = time.perf_counter()
            targets = list_targets(config.organization, organizations, caller_account="111111111111")
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
        make = AwsClients.client
        AwsClients.client = lambda self, service, region=None: counting(make(self, service, region), calls)  # type: ignore[method-assign]
        try:
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
        finally:
            AwsClients.client = make  # type: ignore[method-assign]
    return result


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
    }
    json.dump(report, out, indent=2)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
