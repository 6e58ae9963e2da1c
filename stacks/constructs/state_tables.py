"""The hub's DynamoDB tables: the audit trail and Powertools idempotency records."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


class StateTables(Construct):
    """Exposes ``audit_table`` (pk ``pk``/sk ``sk``, kept on stack deletion) and ``idempotency_table`` (``id``, TTL).

    Both are on-demand, AWS-managed encryption (no key grants to hand out) and point-in-time recovery.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
        self.audit_table = dynamodb.Table(
            self,
            "Audit",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=recovery,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Powertools idempotency layout: key "id", expiry in "expiration". Losing it only means an event could be
        # processed twice after a restore, so it goes with the stack.
        self.idempotency_table = dynamodb.Table(
            self,
            "Idempotency",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=recovery,
            removal_policy=RemovalPolicy.DESTROY,
        )
