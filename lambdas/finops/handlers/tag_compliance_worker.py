"""Tag compliance's worker: one Distributed Map batch of targets (account x region), each read, evaluated against the
taxonomy, planned and (in enforce mode) applied: marks, unmarks, stops."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from finops.aws.clients import AwsClients
from finops.engine.kill_switch import KillSwitch
from finops.engine.worker import run_batch
from finops.runtime import kill_switch, wall_clock
from finops.services.audit import AuditTrail
from finops.services.tag_compliance import MEMBER_PERMISSIONS
from finops.services.tag_compliance_run import TagComplianceCapability
from finops.settings import Settings, config_at

# Hub-side IAM beyond the CDK grants (audit table, kill-switch parameter, sts:AssumeRole on the member role);
# MEMBER_PERMISSIONS is what the member role grants for this worker's calls in each target.
PERMISSIONS: tuple[str, ...] = ()
__all__ = ["MEMBER_PERMISSIONS", "PERMISSIONS", "handler"]

logger = Logger()
tracer = Tracer()
_switch: KillSwitch | None = None  # kept across warm invocations: read at most once a minute


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _switch
    settings = Settings.from_env()
    config = config_at(settings.config_path)
    clients = AwsClients()
    _switch = _switch or kill_switch(clients, config)
    return run_batch(
        TagComplianceCapability(config),
        event,
        scopes=clients,
        role_name=config.organization.member_role_name,
        kill_switch=_switch,
        audit=AuditTrail(clients.client("dynamodb"), settings.audit_table_name, clock=wall_clock),
        actor=context.function_name,
        wall_clock=wall_clock,
    )
