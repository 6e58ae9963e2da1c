"""`make demo`: every capability that exists, run through the deployed handlers on a simulated Organization.

moto plays the Organization (the embedded estate) and the hub's AWS resources; a real HTTP server on 127.0.0.1
plays Slack. Each step sends an event the way AWS would and prints what happened and what a person would read.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from finops.models.config import ConfigError, FinOpsConfig, load_config

ROOT = Path(__file__).parents[1]
EVENTS = ROOT / "tests" / "events"
LOG_PATH = ROOT / "build" / "demo" / "lambda-logs.jsonl"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def with_anomaly_id(source: dict[str, Any], anomaly_id: str) -> dict[str, Any]:
    """The same SNS anomaly under a new id (a new anomaly, not a redelivery)."""
    changed = copy.deepcopy(source)
    message = json.loads(changed["Records"][0]["Sns"]["Message"])
    message["anomalyId"] = anomaly_id
    if "anomalyDetailsLink" in message:
        message["anomalyDetailsLink"] = message["anomalyDetailsLink"].replace(source_id(source), anomaly_id)
    changed["Records"][0]["Sns"]["Message"] = json.dumps(message)
    changed["Records"][0]["Sns"]["MessageId"] = f"msg-{anomaly_id}"
    return changed


def source_id(source: dict[str, Any]) -> str:
    return str(json.loads(source["Records"][0]["Sns"]["Message"])["anomalyId"])


def grown(source: dict[str, Any], *, total: float, actual: float, at: str) -> dict[str, Any]:
    """The same EventBridge anomaly, notified again later by Cost Anomaly Detection with a larger impact."""
    changed = copy.deepcopy(source)
    changed["id"] = f"{changed['id']}-later"
    changed["time"] = at
    changed["detail"]["impact"].update({"totalImpact": total, "totalActualSpend": actual})
    return changed


def across_teams(source: dict[str, Any], anomaly_id: str) -> dict[str, Any]:
    """The SNS anomaly with a second root cause in another team's account (data-dev): two owning teams."""
    changed = with_anomaly_id(source, anomaly_id)
    message = json.loads(changed["Records"][0]["Sns"]["Message"])
    message["rootCauses"].append(
        {
            "linkedAccount": "555555555555",
            "region": "us-east-1",
            "service": "Amazon Relational Database Service",
            "usageType": "USE1-InstanceUsage:db.r6g.2xlarge",
            "impactContribution": 400.0,
        }
    )
    message["impact"].update({"totalImpact": 1830.0, "totalActualSpend": 2240.0})
    changed["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return changed


@contextlib.contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """The Slack redrive's wall clock at ``when``: the demo's events are dated, so its "late" must be too."""
    import finops.runtime as runtime

    def clock() -> datetime:
        return when

    saved = runtime.wall_clock
    runtime.wall_clock = clock  # the handler imports it from finops.runtime on each invocation
    try:
        yield
    finally:
        runtime.wall_clock = saved


def as_terminal_text(payload: dict[str, Any], width: int = 100) -> list[str]:
    """A Block Kit message, roughly as Slack lays it out."""
    lines: list[str] = []
    for block in payload.get("blocks", []):
        kind = block["type"]
        if kind == "header":
            lines.append(block["text"]["text"])
        elif kind == "section" and "text" in block:
            lines += block["text"]["text"].splitlines()
        elif kind == "section":
            cells = [f["text"].replace("\n", ": ", 1) for f in block["fields"]]
            lines += [f"{cells[i]:<48} {cells[i + 1] if i + 1 < len(cells) else ''}" for i in range(0, len(cells), 2)]
        elif kind == "actions":
            lines += [f"[{e['text']['text']}] {unquote(e.get('url', ''))}" for e in block["elements"]]
        elif kind == "context":
            lines += [e["text"] for e in block["elements"]]
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"), width) or [""]
    return wrapped


class Demo:
    def __init__(self, config: FinOpsConfig, out: TextIO) -> None:
        self.config = config
        self.out = out
        self.step = 0

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def title(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")

    def result(self, run: Any) -> None:
        if run.error:
            self.say(f"   ✗ {run.error_type} after {run.attempts} attempts: {run.error}")
            return
        for outcome in ("acted", "skipped", "failed"):
            for item in run.result.get(outcome, []):
                self.say(f"   {outcome:<7} {item['resource']}: {item['reason']}")

    def show(self, post: Any, *, max_lines: int | None = None) -> None:
        self.say(f"   ┌─ {post.channel} ({post.style})")
        lines = as_terminal_text(post.payload)
        for line in lines[:max_lines]:
            self.say(f"   │ {line}")
        if max_lines is not None and len(lines) > max_lines:
            self.say(f"   │ … {len(lines) - max_lines} more lines (the whole message is in the sink)")
        self.say("   └─")

    def run(self) -> None:
        from finops.services.audit import read_trail
        from tools.demo_cleanup import run_cleanup_steps
        from tools.demo_governance import run_governance_steps
        from tools.demo_scheduler import run_scheduler_steps
        from tools.local_hub import LocalHub
        from tools.sim.estate import dump, simulated_aws
        from tools.sim.slack_sink import SlackSink

        started = time.monotonic()
        with simulated_aws() as sim, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
            hub = LocalHub(self.config, Path(workdir))
            hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
            self.say(
                "FinOps Operate demo: a simulated AWS Organization (moto, in-process) and a local Slack "
                f"sink on {sink.api_url.split('/api')[0]}"
            )
            self.say(f"Lambda logs (JSON, as CloudWatch would get them): {LOG_PATH.relative_to(ROOT)}")
            self.organization(dump(sim))

            self.title("Cost Anomaly Detection alert arrives on SNS (anomaly_alerts)")
            first = hub.invoke("anomaly_alerts", event("anomaly_sns"))
            self.result(first)
            self.show(sink.posts[-1])

            self.title("SNS delivers the same message again")
            self.result(hub.invoke("anomaly_alerts", event("anomaly_sns")))
            self.say(f"   Slack messages so far: {len(sink.posts)} (one, not two)")

            self.title("The EventBridge form of an anomaly (detail-type 'Anomaly Detected'); team data's own tiers")
            self.result(hub.invoke("anomaly_alerts", event("anomaly_eventbridge")))

            self.title("The anomaly grows: AWS notifies again for the same anomalyId, now in a more severe tier")
            before = len(sink.posts)
            bigger = grown(event("anomaly_eventbridge"), total=2400.0, actual=2530.0, at="2026-11-27T16:30:00Z")
            self.result(hub.invoke("anomaly_alerts", bigger))
            self.show(sink.posts[before])
            replies = [p for p in sink.posts[before:] if p.payload.get("thread_ts")]
            self.say(f"   and in the first message's thread: {replies[0].payload['text'] if replies else '(none)'}")
            self.result(
                hub.invoke("anomaly_alerts", grown(bigger, total=2410.0, actual=2540.0, at="2026-11-27T20:30:00Z"))
            )
            self.say(f"   Slack messages for it: {len(sink.posts) - before} (a repeat in the same tier posts nothing)")

            self.title("One anomaly, two teams' accounts: each owning team gets its own part")
            before = len(sink.posts)
            self.result(hub.invoke("anomaly_alerts", across_teams(event("anomaly_sns"), "demo-two-teams")))
            for post in sink.posts[before:]:
                self.show(post)

            self.title("A drifted anomaly: date-only window, only maxImpact, a root cause with only a service")
            self.result(hub.invoke("anomaly_alerts", event("anomaly_sns_drifted")))
            self.show(sink.posts[-1])

            self.title("AWS Budgets alerts (plain text on SNS): actual monthly, forecasted daily")
            self.result(hub.invoke("anomaly_alerts", event("budget_actual_sns")))
            self.result(hub.invoke("anomaly_alerts", event("budget_forecast_sns")))
            self.show(sink.posts[-2])

            self.title("Slack rate-limits once (429, Retry-After: 1) and then accepts")
            sink.fail_next(1, status=429, retry_after=1)
            before = len(sink.requests)
            self.result(hub.invoke("anomaly_alerts", with_anomaly_id(event("anomaly_sns"), "demo-rate-limited")))
            statuses = [r.status for r in sink.requests[before:]]
            self.say(f"   Slack saw {len(statuses)} requests {statuses}: delivered once, after the wait Slack asked")

            self.title("Slack is down: the alert is parked, not lost; slack_redrive delivers it when Slack is back")
            sink.go_down()
            self.result(hub.invoke("anomaly_alerts", with_anomaly_id(event("anomaly_sns"), "demo-during-outage")))
            self.say(f"   retry queue depth: {hub.queue_depth(hub.retry_queue_url)}")
            sent_at = datetime.fromisoformat(event("anomaly_sns")["Records"][0]["Sns"]["Timestamp"])
            with clock_at(sent_at + timedelta(minutes=15)):  # the redrive's schedule: every 15 minutes
                hub.drain_retry_queue()
            self.say(f"   redrive while still down: queue depth {hub.queue_depth(hub.retry_queue_url)} (kept)")
            sink.come_back()
            with clock_at(sent_at + timedelta(minutes=47)):
                hub.drain_retry_queue()
            self.say(
                f"   Slack back, redrive: queue depth {hub.queue_depth(hub.retry_queue_url)}, "
                f"delivered to {sink.posts[-1].channel}"
            )
            self.say(f"   the late message reads: {as_terminal_text(sink.posts[-1].payload, width=200)[0]}")

            self.title("The bot was removed from #payments-oncall: the alert goes to the default channel at once")
            sink.refuse_channel("#payments-oncall", "not_in_channel")
            self.result(hub.invoke("anomaly_alerts", with_anomaly_id(event("anomaly_sns"), "demo-bot-removed")))
            self.show(sink.posts[-1])

            self.title("A message that is not an alert (a misconfigured topic)")
            bad = hub.invoke("anomaly_alerts", event("invalid_not_json_sns"))
            self.result(bad)
            depth = hub.queue_depth(hub.function_dlq_urls["anomaly_alerts"])
            self.say(
                f"   on-failure queue finops-anomaly-alerts-failures holds {depth} event(s), with the reason above"
            )

            run_scheduler_steps(self, hub, sink, sim)
            run_cleanup_steps(self, hub, sink, sim)
            run_governance_steps(self, hub, sink, sim)

            channels = Counter(p.channel for p in sink.posts)
            self.say(
                f"\nSlack sink received {len(sink.posts)} messages: "
                + ", ".join(f"{c} × {n}" for c, n in sorted(channels.items()))
            )
            trail = read_trail(hub.dynamodb, hub.audit_table)
            self.say(f"Audit trail ({hub.audit_table}, {len(trail)} records):")
            for record in trail:
                self.say(f"   {record['at'][:19]}  {record['action']:<17} {record['target']:<45} {record['reason']}")
        self.say(f"\nDone in {time.monotonic() - started:.1f} s. Nothing left this machine.")

    def organization(self, estate: dict[str, Any]) -> None:
        accounts = estate.get("accounts", [])
        counts: Counter[str] = Counter()
        for account in accounts:
            for resources in account.get("regions", {}).values():
                for kind, items in resources.items():
                    counts[kind] += len(items)
        self.say(
            f"\nOrganization: management {estate['management']['id']} ({estate['management']['name']}), "
            f"{len(accounts)} member accounts in {len(estate.get('ous', []))} OUs, regions "
            f"{', '.join(estate['regions'])}"
        )
        for account in accounts:
            tags = " ".join(f"{k}={v}" for k, v in sorted(account.get("tags", {}).items())) or "(no tags)"
            self.say(f"   {account['id']}  {account['name']:<18} {account.get('ou') or '(root)':<18} {tags}")
        self.say("   estate: " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="finops.yaml")
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOG_PATH.open("w") as logs:
        sys.stdout = logs  # the handlers' JSON logs and metrics, as CloudWatch would get them
        try:
            Demo(config, out).run()
        finally:
            sys.stdout = out
    return 0


if __name__ == "__main__":
    sys.exit(main())
