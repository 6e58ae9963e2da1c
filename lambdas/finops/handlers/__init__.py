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
}

# Acting capabilities: name -> their worker in HANDLERS. Each worker module also exports MEMBER_PERMISSIONS, the IAM
# actions its code calls through the member role (the member stack grants exactly their union).
CAPABILITY_WORKERS: dict[str, str] = {"scheduler": "scheduler_worker", "ebs_cleanup": "ebs_cleanup_worker"}
