"""FinOpsManagement: what only the management account can own. Deployed there, in us-east-1."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.anomaly_detection import AnomalyDetection
from stacks.constructs.organizations_delegation import OrganizationsReadDelegation
from stacks.constructs.service_topic import ServicePublishedTopic
from stacks.naming import COST_ANOMALY_TOPIC_NAME


class FinOpsManagementStack(Stack):
    """The Organizations read delegation to the hub and, when anomaly alerts are on, Cost Anomaly Detection.

    Cost Anomaly Detection publishes to ``finops-cost-anomalies`` (KMS-encrypted, TLS-only; the topic policy admits
    costalerts only on behalf of this account, and only the hub account may subscribe). Exposes ``delegation`` and,
    when enabled, ``anomaly_topic`` and ``anomaly_detection``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: FinOpsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        organization = config.organization
        self.delegation = OrganizationsReadDelegation(
            self, "OrganizationsReadDelegation", reader_account_id=organization.automation_account_id
        )

        anomaly = config.capabilities.anomaly_alerts
        self.anomaly_topic: ServicePublishedTopic | None = None
        self.anomaly_detection: AnomalyDetection | None = None
        if anomaly.enabled:
            self.anomaly_topic = ServicePublishedTopic(
                self,
                "CostAnomalyTopic",
                topic_name=COST_ANOMALY_TOPIC_NAME,
                publishers={"costalerts.amazonaws.com": [organization.management_account_id]},
                subscriber_accounts=[organization.automation_account_id],
            )
            self.anomaly_detection = AnomalyDetection(
                self, "AnomalyDetection", settings=anomaly, topic=self.anomaly_topic.topic
            )
            # Cost Explorer verifies at creation that it may publish: the topic policy goes first (the key policy
            # already does, through the topic's reference to its key).
            self.anomaly_detection.subscription.node.add_dependency(self.anomaly_topic.policy)
