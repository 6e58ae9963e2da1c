"""`make invoke` and `make run`: one handler, one event, one JSON document on stdout.

    invoke  runs the deployed handler in-process against the simulated Organization (moto) and the local Slack
            sink, with the hub resources the stack creates; prints {"result", "slack", "audit", "estate"}.
    run     runs the same service code against real AWS through the standard credential chain (AWS_PROFILE,
            AWS_REGION, AWS_ENDPOINT_URL), as a preview: reads are real, nothing is posted or changed.

Logs go to stderr, so stdout stays one JSON document. Exit codes: 0 ok, 1 the run failed (reason on stderr),
2 bad input (config, event or estate file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, TextIO

from finops.models.config import ConfigError, FinOpsConfig, load_config

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


class BadInput(Exception):
    """A file the user gave is missing or malformed; the message says which and why."""


def read_event(path: str) -> dict[str, Any]:
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the event file: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise BadInput(f"{path}: an event is a JSON object, got {type(event).__name__}")
    return event


def invoke(
    function: str, event: dict[str, Any], config: FinOpsConfig, estate_path: str | None
) -> tuple[dict[str, Any], bool]:
    from finops.handlers import HANDLERS
    from finops.services.audit import read_trail
    from tools.local_hub import LocalHub
    from tools.sim.estate import EstateError, default_estate, dump, load_estate, simulated_aws
    from tools.sim.slack_sink import SlackSink

    if function not in HANDLERS:
        raise BadInput(f"unknown function {function!r}; known: {', '.join(sorted(HANDLERS))}")
    try:
        estate = load_estate(estate_path) if estate_path else default_estate()
    except EstateError as exc:
        raise BadInput(str(exc)) from None
    with simulated_aws(estate) as sim, SlackSink() as sink, tempfile.TemporaryDirectory() as workdir:
        hub = LocalHub(config, Path(workdir))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        run = hub.invoke(function, event)
        document = {
            "result": run.to_json(),
            "slack": [{"channel": p.channel, **p.payload} for p in sink.posts],
            "audit": read_trail(hub.dynamodb, hub.audit_table),
            "estate": dump(sim),
        }
    if run.error:
        print(f"{function} failed after {run.attempts} attempt(s): {run.error_type}: {run.error}", file=sys.stderr)
    return document, run.error is None


def run_real(function: str, event: dict[str, Any], config: FinOpsConfig) -> tuple[dict[str, Any], bool]:
    from datetime import UTC, datetime

    from finops.aws.clients import AwsClients
    from finops.models.events import InvalidEvent, alerts_from_event
    from finops.notify.slack import PreviewOutbox
    from finops.runtime import preview_alert_run
    from finops.services.alerts import process_alerts
    from finops.services.audit import MemoryAuditTrail

    if function != "anomaly_alerts":
        raise BadInput(f"{function!r} has no preview: only anomaly_alerts runs against a real account today")
    try:
        alerts, now = alerts_from_event(event)
    except InvalidEvent as exc:
        raise BadInput(f"invalid event: {exc}") from None
    outbox, audit = PreviewOutbox(), MemoryAuditTrail(clock=lambda: datetime.now(UTC))
    run = preview_alert_run(
        AwsClients(region=os.environ.get("AWS_REGION")),  # boto3 itself reads only AWS_DEFAULT_REGION
        config,
        outbox=outbox,
        audit=audit,
        now=now,
        run_id=f"preview-{uuid.uuid4()}",
        actor=f"make run ({datetime.now(UTC):%Y-%m-%d})",
    )
    summary = process_alerts(alerts, run)
    print(f"preview: {len(outbox.messages)} message(s) rendered, none posted", file=sys.stderr)
    document = {
        "result": summary.to_json(),
        "slack": [m.to_json() for m in outbox.messages],
        "audit": audit.items,
        "estate": None,
    }
    return document, summary.ok


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only our JSON document goes to `out`
    parser = argparse.ArgumentParser(prog="python -m tools.cli", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["invoke", "run"])
    parser.add_argument("--function", required=True)
    parser.add_argument("--event", required=True)
    parser.add_argument("--config", default="finops.yaml")
    parser.add_argument("--estate", default=None, help="estate file (invoke only); default: the embedded estate")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        event = read_event(args.event)
        if args.command == "invoke":
            document, ok = invoke(args.function, event, config, args.estate)
        else:
            if args.estate:
                raise BadInput("--estate/ESTATE is for `invoke`; `run` reads the real account")
            document, ok = run_real(args.function, event, config)
    except (ConfigError, BadInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        print(f"error: {args.command} {args.function} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    json.dump(document, out, indent=2, default=str)
    out.write("\n")
    return 0 if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
