"""`make invoke` / `make run` for the acting capabilities: one whole Organization-wide run, one JSON document.

invoke  the simulated Organization (moto) and the local Slack sink, with the hub resources the stack creates
run     the credentials' AWS (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL); digests rendered, never posted; audit
        and the catch-up point kept in memory; acts only when the config says enforce AND --enforce is given
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from finops.handlers import CAPABILITY_WORKERS
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.models.events import InvalidEvent

RUN_FAILED = ("completed with failures", "could not start")


class BadInput(Exception):
    """A file or flag the user gave is wrong; the message says which and why."""


def is_capability(function: str) -> bool:
    return function in CAPABILITY_WORKERS


def read_targets(path: str) -> list[dict[str, str]]:
    """A targets file: lines of ``<account> <region>`` (as a digest lists them), a JSON list of
    {"account", "region"}, or a previous run's document (its ``failed_targets``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the targets file: {exc.strerror}") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        data = [
            dict(zip(("account", "region"), line.split(), strict=False)) for line in text.splitlines() if line.strip()
        ]
    if isinstance(data, dict):  # a previous `make run`/`make invoke` document, or its result
        data = data.get("result", data).get("failed_targets")
    if not isinstance(data, list) or not all(isinstance(t, dict) and {"account", "region"} <= t.keys() for t in data):
        raise BadInput(
            f'{path}: expected lines of \'<account> <region>\', a JSON list of {{"account": ..., "region": ...}}, '
            "or a run document with failed_targets"
        )
    return [{"account": str(t["account"]), "region": str(t["region"])} for t in data]


def lifted(capability: str, config: FinOpsConfig, result: dict[str, Any]) -> dict[str, Any]:
    """The keys the capability's conclusion added to the run document (``spec.document_keys``: tag compliance's
    ``noncompliant`` and ``kpis``), for the top level of the printed document as well."""
    from finops.runtime import engine_capability

    spec, _ = engine_capability(capability, config)
    return {key: result[key] for key in getattr(spec, "document_keys", ()) if key in result}


def _with_targets(event: dict[str, Any], targets: list[dict[str, str]] | None) -> dict[str, Any]:
    return event if targets is None else {**event, "targets": targets}


def invoke_capability(
    capability: str,
    event: dict[str, Any],
    config: FinOpsConfig,
    estate_path: str | None,
    *,
    targets: list[dict[str, str]] | None = None,
    estate_out: Literal["changes", "full"] = "changes",
) -> tuple[dict[str, Any], bool]:
    from finops.services.audit import read_trail
    from tools.local_hub import LocalHub
    from tools.sim.estate import EstateError, default_estate, estate_report, load_estate, simulated_aws
    from tools.sim.slack_sink import SlackSink

    try:
        estate = load_estate(estate_path) if estate_path else default_estate()
    except EstateError as exc:
        raise BadInput(str(exc)) from None
    role = config.organization.member_role_name
    with simulated_aws(estate, member_role_name=role) as sim, SlackSink() as sink, tempfile.TemporaryDirectory() as wd:
        hub = LocalHub(config, Path(wd))
        hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
        report = estate_report(sim, estate_out)  # `estate`: what the run changed, or the whole estate
        try:
            result = hub.run(capability, _with_targets(event, targets))
        except InvalidEvent as exc:
            raise BadInput(f"invalid event: {exc}") from None
        document = {
            "result": result,
            **lifted(capability, config, result),
            "slack": [{"channel": p.channel, **p.payload} for p in sink.posts],
            "audit": read_trail(hub.dynamodb, hub.audit_table),
            "estate": report(),
        }
    return document, result.get("status") not in RUN_FAILED


def run_capability(
    capability: str,
    event: dict[str, Any],
    config: FinOpsConfig,
    *,
    enforce: bool,
    targets: list[dict[str, str]] | None = None,
) -> tuple[dict[str, Any], bool]:
    from finops.aws.clients import AwsClients
    from finops.aws.organizations import enumerate_targets
    from finops.engine.local import run_locally
    from finops.engine.request import parse_run_request
    from finops.engine.state import MemoryRunState
    from finops.notify.slack import PreviewOutbox
    from finops.runtime import digest_renderer, engine_capability, kill_switch, outbox_delivery, run_conclusion
    from finops.services.audit import MemoryAuditTrail
    from finops.services.once import memory_once

    try:
        request = parse_run_request({**_with_targets(event, targets), "capability": capability})
    except InvalidEvent as exc:
        raise BadInput(f"invalid event: {exc}") from None
    spec, worker = engine_capability(capability, config, sleep=time.sleep)
    configured = spec.mode(config)
    acting = enforce and configured is Mode.ENFORCE
    if enforce and not acting:
        print(f"--enforce given, but capabilities.{capability}.mode is {configured}: previewing only", file=sys.stderr)
    elif not enforce and configured is Mode.ENFORCE:
        print("preview: the config says enforce; add ENFORCE=yes (--enforce) to act", file=sys.stderr)
    clients = AwsClients(region=os.environ.get("AWS_REGION"))  # boto3 itself reads only AWS_DEFAULT_REGION
    outbox, audit = PreviewOutbox(), MemoryAuditTrail(clock=lambda: datetime.now(UTC))
    result = run_locally(
        spec,
        worker,
        request,
        config=config,
        run_id=f"run-{uuid.uuid4()}",
        state=MemoryRunState(),
        kill_switch=kill_switch(clients, config),
        enumerate_targets=lambda: enumerate_targets(config, clients.client("organizations")),
        worker_deps={
            "scopes": clients,
            "role_name": config.organization.member_role_name,
            "kill_switch": kill_switch(clients, config),
            "audit": audit,
            "actor": f"make run ({datetime.now(UTC):%Y-%m-%d})",
        },
        render=digest_renderer(spec, config),
        deliver=outbox_delivery(outbox, memory_once()),
        allow_enforce=acting,
        conclude=run_conclusion(spec, config, clients),
    )
    print(
        f"{'enforce' if acting else 'preview'}: {len(outbox.messages)} digest(s) rendered, none posted", file=sys.stderr
    )
    document = {
        "result": result,
        **lifted(capability, config, result),
        "slack": [m.to_json() for m in outbox.messages],
        "audit": audit.items,
        "estate": None,
    }
    return document, result.get("status") not in RUN_FAILED
