"""An SNS topic that AWS services publish to: its own KMS key, TLS-only, and publishers pinned to source accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


@dataclass(frozen=True)
class Publisher:
    """An AWS service that may publish to the topic, and on whose behalf.

    ``service`` is the service principal (``costalerts.amazonaws.com``). It may publish only for resources in
    ``source_accounts`` (``aws:SourceAccount``) and, when ``source_arn_like`` is set, only for resources whose ARN
    matches it (``aws:SourceArn`` with ``ArnLike``). Both keys guard against the confused deputy.
    """

    service: str
    source_accounts: tuple[str, ...]
    source_arn_like: str | None = None
    # Whether the service's KMS calls carry aws:SourceAccount/aws:SourceArn. AWS documents it for CloudWatch
    # alarms; for Cost Anomaly Detection and Budgets it documents unconditioned key statements, and a condition the
    # request does not carry would drop every alert silently. The topic policy's publish statement is conditioned
    # either way, and the key is this topic's alone.
    key_conditions: bool = False


class ServicePublishedTopic(Construct):
    """A KMS-encrypted topic whose policy lets the named service principals publish on behalf of given accounts.

    Each of ``publishers`` gets the key use it needs and a publish statement, both pinned to its source accounts
    (and source ARN). ``subscriber_accounts`` may subscribe from other accounts. Publishing without TLS is denied
    (``enforce_ssl``). Exposes ``key``, ``topic`` and ``policy`` (the topic policy, for a resource that must wait
    until the publishers are allowed).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic_name: str,
        publishers: Sequence[Publisher],
        subscriber_accounts: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{topic_name}",
            description=f"Encrypts the SNS topic {topic_name}",
            enable_key_rotation=True,
        )
        self.topic = sns.Topic(self, "Topic", topic_name=topic_name, master_key=self.key, enforce_ssl=True)

        for publisher in sorted(publishers, key=lambda p: p.service):
            principal = iam.ServicePrincipal(publisher.service)
            conditions: dict[str, dict[str, object]] = {
                "StringEquals": {"aws:SourceAccount": sorted(set(publisher.source_accounts))}
            }
            if publisher.source_arn_like is not None:
                conditions["ArnLike"] = {"aws:SourceArn": publisher.source_arn_like}
            # The service encrypts each message with the topic's key.
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{_sid(publisher.service)}ToUseTheKey",
                    principals=[principal],
                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                    resources=["*"],
                    conditions=conditions if publisher.key_conditions else None,
                )
            )
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{_sid(publisher.service)}ToPublish",
                    principals=[principal],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions=conditions,
                )
            )
        if subscriber_accounts:
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowSubscribeFromAccounts",
                    principals=[iam.AccountPrincipal(account) for account in sorted(set(subscriber_accounts))],
                    actions=["sns:Subscribe"],
                    resources=[self.topic.topic_arn],
                )
            )
        # enforce_ssl made the topic create its policy; every statement above went into it.
        policy = self.topic.node.find_child("Policy")
        if not isinstance(policy, sns.TopicPolicy):  # pragma: no cover - aws-cdk-lib changed how it names it
            raise TypeError(f"expected the topic's TopicPolicy, found {policy}")
        self.policy = policy


def _sid(service: str) -> str:
    """``costalerts.amazonaws.com`` -> ``Costalerts`` (statement ids are alphanumeric)."""
    return service.split(".", 1)[0].capitalize()
