"""The Lambda entry points. One table names them for the stacks, the local hub and the CLI.

Each module exports ``handler`` and ``PERMISSIONS``: the IAM actions its AWS calls need beyond the resources the
stack grants (tables, queues, the secret). The function factory grants exactly those.
"""

HANDLERS: dict[str, str] = {
    "anomaly_alerts": "finops.handlers.anomaly_alerts",
    "slack_redrive": "finops.handlers.slack_redrive",
}
