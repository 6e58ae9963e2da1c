"""Cost Anomaly Detection in the management account: monitors and one immediate subscription to an SNS topic."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import aws_ce as ce
from aws_cdk import aws_sns as sns
from constructs import Construct

from finops.models.config import AnomalyAlertsConfig, AnomalyThreshold

ABSOLUTE_KEY = "ANOMALY_TOTAL_IMPACT_ABSOLUTE"
PERCENTAGE_KEY = "ANOMALY_TOTAL_IMPACT_PERCENTAGE"


def _number(value: float) -> str:
    """Cost Explorer expression values are strings: 100.0 -> "100", 12.5 -> "12.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _at_least(key: str, value: float) -> dict[str, Any]:
    return {"Dimensions": {"Key": key, "MatchOptions": ["GREATER_THAN_OR_EQUAL"], "Values": [_number(value)]}}


def threshold_expression(threshold: AnomalyThreshold) -> dict[str, Any]:
    """The subscription's ThresholdExpression for ``capabilities.anomaly_alerts.threshold``.

    One bound gives a single ``Dimensions`` expression; both give ``Or`` (combine: any) or ``And`` (combine: all).
    """
    terms = []
    if threshold.absolute_usd is not None:
        terms.append(_at_least(ABSOLUTE_KEY, threshold.absolute_usd))
    if threshold.percentage is not None:
        terms.append(_at_least(PERCENTAGE_KEY, threshold.percentage))
    if len(terms) == 1:
        return terms[0]
    return {"Or" if threshold.combine == "any" else "And": terms}


class AnomalyDetection(Construct):
    """The monitors ``settings.monitors`` asks for and an IMMEDIATE subscription that publishes to ``topic``.

    The subscription watches our monitors and the account's own ones named in ``monitors.existing_arns`` (AWS allows
    one dimensional monitor per dimension in an account, so an Organization that has a services monitor reuses it
    rather than colliding with it). Exposes ``monitors`` (CfnAnomalyMonitor by kind, only those we create),
    ``monitor_arns`` (everything subscribed) and ``subscription``. The stack makes the subscription depend on the
    topic policy: Cost Explorer checks at creation that it may publish.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AnomalyAlertsConfig, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        # Only one DIMENSIONAL monitor of each dimension may exist in an account; see docs/architecture.md.
        dimensions = {"services": "SERVICE", "linked_accounts": "LINKED_ACCOUNT"}
        enabled = {"services": settings.monitors.services, "linked_accounts": settings.monitors.linked_accounts}
        self.monitors: dict[str, ce.CfnAnomalyMonitor] = {}
        for kind, dimension in dimensions.items():
            if enabled[kind]:
                self.monitors[kind] = ce.CfnAnomalyMonitor(
                    self,
                    f"{kind.title().replace('_', '')}Monitor",
                    monitor_name=f"finops-{kind.replace('_', '-')}",
                    monitor_type="DIMENSIONAL",
                    monitor_dimension=dimension,
                )
        self.monitor_arns = [monitor.attr_monitor_arn for monitor in self.monitors.values()]
        self.monitor_arns += list(settings.monitors.existing_arns)
        self.subscription = ce.CfnAnomalySubscription(
            self,
            "Subscription",
            subscription_name="finops-immediate",
            frequency="IMMEDIATE",
            monitor_arn_list=self.monitor_arns,
            subscribers=[ce.CfnAnomalySubscription.SubscriberProperty(type="SNS", address=topic.topic_arn)],
            threshold_expression=json.dumps(threshold_expression(settings.threshold), sort_keys=True),
        )
