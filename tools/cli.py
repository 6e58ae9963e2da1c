"""`make invoke`, `make run` and `make schedule`: one command, one JSON document on stdout.

    invoke    runs the deployed handler in-process against the simulated Organization (moto) and the local Slack
              sink, with the hub resources the stack creates; prints {"result", "slack", "audit", "estate"}. For an
              acting capability (--function scheduler), one whole Organization-wide run, as the state machine runs.
              ``estate`` holds what the run changed (tools.sim.estate.changes); --estate-out full: the whole estate.
    run       runs the same service code against real AWS through the standard credential chain (AWS_PROFILE,
              AWS_REGION, AWS_ENDPOINT_URL): nothing is posted to Slack; an acting capability previews its plan and
              acts only with --enforce and its mode: enforce in the config.
    schedule  previews one schedule of the config: its transitions between two instants and its state at others;
              prints {"schedule", "timezone", "transitions", "states"}. Reads no AWS at all.
    restore   recreates a volume the storage clean-up deleted, from its final snapshot, through the member role
              (tools/restore.py); a preview unless --enforce; prints {"record", "mode", "status", "snapshot",
              "volume", "restored_volume_id", "source", "before", "audit", "notes", ...}.

Logs go to stderr, so stdout stays one JSON document. Exit codes: 0 ok, 1 the run failed (reason on stderr),
2 bad input (config, event, estate file, schedule name or instant, record id or audit file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal, TextIO

from finops.models.config import ConfigError, FinOpsConfig, load_config
from tools.engine_cli import BadInput, invoke_capability, is_capability, read_targets, run_capability

EstateOut = Literal["changes", "full"]
ESTATE_OUTS: tuple[EstateOut, ...] = ("changes", "full")  # as tools.sim.estate, which is imported only to invoke

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


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
    function: str,
    event: dict[str, Any],
    config: FinOpsConfig,
    estate_path: str | None,
    estate_out: EstateOut = "changes",
) -> tuple[dict[str, Any], bool]:
    from finops.handlers import CAPABILITY_WORKERS, HANDLERS
    from finops.services.audit import read_trail
    from tools.local_hub import LocalHub
    from tools.sim.estate import EstateError, default_estate, estate_report, load_estate, simulated_aws
    from tools.sim.slack_sink import SlackSink

    if function not in HANDLERS:
        known = sorted({*HANDLERS, *CAPABILITY_WORKERS})
        raise BadInput(f"unknown function {function!r}; known: {', '.join(known)}")
    try:
        estate = load_estate(estate_path) if estate_path else default_estate()
    except EstateError as exc:
        raise BadInput(str(exc)) from None
    role = config.organization.member_role_name
    with simulated_aws(estate, member_role_name=role) as sim, SlackSink() as sink, tempfile.TemporaryDirectory() as wd:
        hub = LocalHub(config, Path(wd))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        if function == "auto_tagger":  # a sample event's resources do not exist in moto: the call is made first
            from tools.sim.cloudtrail import replay

            event = replay(sim, event, config=config)
        report = estate_report(sim, estate_out)
        run = hub.invoke(function, event)
        document = {
            "result": run.to_json(),
            "slack": [{"channel": p.channel, **p.payload} for p in sink.posts],
            "audit": read_trail(hub.dynamodb, hub.audit_table),
            "estate": report(),
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
        raise BadInput(f"{function!r} has no preview: `run` takes anomaly_alerts or an acting capability (scheduler)")
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


def run_auto_tagger(event: dict[str, Any], config: FinOpsConfig, *, enforce: bool) -> tuple[dict[str, Any], bool]:
    """The auto-tagger on one event against the credentials' AWS, through the member role of the event's account:
    a preview unless the config says enforce and --enforce is given; audit and once-only kept in memory."""
    from datetime import UTC, datetime

    from finops.aws.clients import AwsClients
    from finops.models.base import Mode
    from finops.models.cloudtrail import InvalidCloudTrailEvent, parse_cloudtrail_event
    from finops.runtime import kill_switch
    from finops.services.audit import MemoryAuditTrail
    from finops.services.auto_tagger.run import AutoTagFailed, tag_from_event
    from finops.services.once import memory_once

    try:
        call = parse_cloudtrail_event(event)
    except InvalidCloudTrailEvent as exc:
        raise BadInput(f"invalid event: {exc}") from None
    configured = config.capabilities.auto_tagger.mode
    acting = enforce and configured is Mode.ENFORCE
    if enforce and not acting:
        print(f"--enforce given, but capabilities.auto_tagger.mode is {configured}: previewing only", file=sys.stderr)
    elif not enforce and configured is Mode.ENFORCE:
        print("preview: the config says enforce; add ENFORCE=yes (--enforce) to act", file=sys.stderr)
    clients = AwsClients(region=os.environ.get("AWS_REGION"))  # boto3 itself reads only AWS_DEFAULT_REGION
    audit = MemoryAuditTrail(clock=lambda: datetime.now(UTC))
    ok = True
    try:
        summary = tag_from_event(
            call,
            config=config,
            mode=Mode.ENFORCE if acting else Mode.REPORT,
            scopes=clients,
            organizations=clients.client("organizations"),
            kill_switch=kill_switch(clients, config),
            audit=audit,
            once=memory_once(),
            actor=f"make run ({datetime.now(UTC):%Y-%m-%d})",
        )
    except AutoTagFailed as exc:
        summary, ok = exc.summary, False
        print(f"error: {exc}", file=sys.stderr)
    print(f"{'enforce' if acting else 'preview'}: {summary['status']}", file=sys.stderr)
    return {"result": summary, "slack": [], "audit": audit.items, "estate": None}, ok


def preview_schedule(args: argparse.Namespace, config: FinOpsConfig) -> tuple[dict[str, Any], bool]:
    from tools.schedule_preview import (
        PreviewInputError,
        parse_instant,
        read_instants_file,
        schedule_preview,
        split_instants,
    )

    try:
        instants = split_instants(args.at, "--at")
        if args.at_file:
            instants += split_instants(read_instants_file(args.at_file), "--at-file")
        start, end = parse_instant(args.start, "--from"), parse_instant(args.end, "--to")
        document = schedule_preview(config.capabilities.scheduler, args.schedule, start, end, instants)
    except PreviewInputError as exc:
        raise BadInput(str(exc)) from None
    return document, True


def run_restore(args: argparse.Namespace, config: FinOpsConfig) -> tuple[dict[str, Any], bool]:
    from finops.aws.clients import AwsClients
    from tools.restore import RestoreInputError, parse_target, read_audit_file, restore

    try:
        parse_target(args.record)  # a bad id is bad input before any file is read or AWS called
        record = read_audit_file(args.audit_file, args.record.strip()) if args.audit_file else None
        restored = restore(
            args.record,
            scopes=AwsClients(region=os.environ.get("AWS_REGION")),  # boto3 itself reads only AWS_DEFAULT_REGION
            config=config,
            enforce=args.enforce,
            audit_record=record,
            role_name=args.role,
        )
    except RestoreInputError as exc:
        raise BadInput(str(exc)) from None
    return restored.to_json(), restored.ok


def run_handler(args: argparse.Namespace, config: FinOpsConfig) -> tuple[dict[str, Any], bool]:
    event = read_event(args.event)
    targets = read_targets(args.targets) if args.targets else None
    if args.command == "invoke":
        if is_capability(args.function):
            return invoke_capability(
                args.function, event, config, args.estate, targets=targets, estate_out=args.estate_out
            )
        return invoke(args.function, event, config, args.estate, args.estate_out)
    if args.estate:
        raise BadInput("--estate/ESTATE is for `invoke`; `run` reads the real account")
    if args.function == "auto_tagger":
        if targets is not None:
            raise BadInput("--targets is for the scheduled capabilities: the auto-tagger's target is the event's")
        return run_auto_tagger(event, config, enforce=args.enforce)
    if is_capability(args.function):
        return run_capability(args.function, event, config, enforce=args.enforce, targets=targets)
    if args.enforce or targets is not None:
        raise BadInput(f"--enforce and --targets are for the acting capabilities, not {args.function!r}")
    return run_real(args.function, event, config)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m tools.cli", description=__doc__.splitlines()[0])
    commands = cli.add_subparsers(dest="command", required=True, metavar="{invoke,run,schedule,restore}")

    one_handler = argparse.ArgumentParser(add_help=False)  # what `invoke` and `run` share
    one_handler.add_argument("--function", required=True)
    one_handler.add_argument("--event", required=True)
    one_handler.add_argument("--config", default="finops.yaml")
    one_handler.add_argument("--estate", default=None, help="estate file (invoke only); default: the embedded estate")
    one_handler.add_argument(
        "--estate-out",
        choices=ESTATE_OUTS,
        default="changes",
        help="invoke's `estate` key: what the run changed (changes, the default) or the whole estate (full); "
        "`run` reads the real account and prints none",
    )
    one_handler.add_argument(
        "--targets",
        default=None,
        help="re-run only these targets: lines of '<account> <region>', a JSON list, or a "
        "previous run's JSON document (its failed_targets)",
    )
    invoke_ = commands.add_parser("invoke", parents=[one_handler], help="one handler, one event, simulated AWS")
    invoke_.set_defaults(execute=run_handler)
    run = commands.add_parser("run", parents=[one_handler], help="the same service code against real AWS, a preview")
    run.set_defaults(execute=run_handler)
    run.add_argument(
        "--enforce",
        action="store_true",
        help="act (acting capabilities only): needs the capability's mode: enforce in the config as well",
    )

    schedule = commands.add_parser("schedule", help="a schedule's transitions and states, from the config alone")
    schedule.add_argument("--config", default="finops.yaml")
    schedule.add_argument("--schedule", required=True, help="a name under capabilities.scheduler.schedules")
    schedule.add_argument("--from", dest="start", required=True, help="ISO 8601 instant; naive means UTC")
    schedule.add_argument("--to", dest="end", required=True, help="ISO 8601 instant, after --from")
    schedule.add_argument(
        "--at", action="append", default=[], help="instant(s) to answer the state at; repeat it or separate by commas"
    )
    schedule.add_argument("--at-file", default=None, help="a JSON list of instants, or one instant per line")
    schedule.set_defaults(execute=preview_schedule)

    restore = commands.add_parser("restore", help="recreate a volume the clean-up deleted, from its final snapshot")
    restore.add_argument("--record", required=True, help="the audit record id: <run id>/<account>/<region>/<volume>")
    restore.add_argument("--config", default="finops.yaml")
    restore.add_argument("--enforce", action="store_true", help="create the volume; without it, print the plan only")
    restore.add_argument(
        "--audit-file",
        default=None,
        help="a `make run`/`make invoke` JSON document (or a list of audit records) holding the record: the volume's "
        "before-state is then the source of truth; without it, the snapshot's tags are",
    )
    restore.add_argument(
        "--role", default=None, help="the role to assume in the account; default: organization.member_role_name"
    )
    restore.set_defaults(execute=run_restore)
    return cli


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only our JSON document goes to `out`
    args = parser().parse_args(argv)
    subject = getattr(args, "function", None) or getattr(args, "schedule", None) or getattr(args, "record", "")
    what = f"{args.command} {subject}"
    try:
        config = load_config(args.config)
        document, ok = args.execute(args, config)
    except (ConfigError, BadInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        print(f"error: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    json.dump(document, out, indent=2, default=str)
    out.write("\n")
    return 0 if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
