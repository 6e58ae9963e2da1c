"""The Lambda entry points. One table names them for the stacks, the local hub and the CLI.

Each module exports ``handler`` and ``PERMISSIONS``: the IAM actions its AWS calls need beyond the resources the
stack grants (tables, queues, the secret). The function factory grants exactly those.
"""

HANDLERS: dict[str, str] = {
    "anomaly_alerts": "finops.handlers.anomaly_alerts",
    "slack_redrive": "finops.handlers.slack_redrive",
    # The run engine's state machine: start (kill switch, due check, targets to S3) -> Distributed Map over a
    # capability's worker -> aggregate (summary, digests, metrics). One worker per acting capability.
    "engine_start": "finops.handlers.engine_start",
    "engine_aggregate": "finops.handlers.engine_aggregate",
    "scheduler_worker": "finops.handlers.scheduler_worker",
    "ebs_cleanup_worker": "finops.handlers.ebs_cleanup_worker",
    "tag_compliance_worker": "finops.handlers.tag_compliance_worker",
    # CloudTrail "create" events forwarded by the member accounts -> the new resources tagged (one target per event).
    "auto_tagger": "finops.handlers.auto_tagger",
}

# Acting capabilities: name -> their worker in HANDLERS. Each worker module also exports MEMBER_PERMISSIONS, the IAM
# actions its code calls through the member role (the member stack grants exactly their union).
CAPABILITY_WORKERS: dict[str, str] = {
    "scheduler": "scheduler_worker",
    "ebs_cleanup": "ebs_cleanup_worker",
    "tag_compliance": "tag_compliance_worker",
}

# Event-driven capabilities that act in member accounts through the member role, one event's target at a time on the
# engine's worker path (no schedule, no Map): name -> their function in HANDLERS. Each module exports
# MEMBER_PERMISSIONS too, and its role assumes the member role only with sessions named finops-<name>-*.
EVENT_WORKERS: dict[str, str] = {"auto_tagger": "auto_tagger"}
