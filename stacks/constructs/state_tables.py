"""The hub's DynamoDB tables: the audit trail, Powertools idempotency records and the run engine's state."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.nag import acknowledge_checkov

# The runtime's only call on the audit table: PutItem with ConditionExpression attribute_not_exists(pk)
# (finops.services.audit.AuditTrail). No GetItem, Query, Scan, UpdateItem or DeleteItem: a function that writes the
# trail cannot read it back, rewrite it or delete from it.
AUDIT_APPEND_ACTIONS: tuple[str, ...] = ("dynamodb:PutItem",)
# What Powertools idempotency's DynamoDBPersistenceLayer calls: read a record, claim a key (conditional put), save
# the result, and drop the claim when the function fails so a retry may run.
IDEMPOTENCY_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# The run engine's own state (one item per capability: when its last run completed): read, written, updated in place.
# Nothing deletes or scans it.
STATE_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:PutItem")  # finops.engine.state.DynamoRunState

# checkov's CKV_AWS_119 (a customer managed key), acknowledged on each table this construct creates.
CUSTOMER_KEY_REASON = (
    "Encrypted with the AWS managed key aws/dynamodb: KMS, rotated by AWS, every use in CloudTrail. A customer "
    "managed key would add a key policy as a second gate where IAM already grants each function only the calls its "
    "code makes (the audit trail append-only), and the audit and state tables outlive the stack and are adopted by "
    "a reinstall: their key would have to be kept and adopted with them, or the kept trail becomes unreadable."
)


class StateTables(Construct):
    """Exposes ``audit_table`` (pk ``pk``/sk ``sk``, kept on stack deletion), ``idempotency_table`` (``id``, TTL) and
    ``state_table`` (``pk``: the run engine's state per capability).

    All are on-demand, AWS-managed encryption (no key grants to hand out; checkov's customer-managed-key check is
    acknowledged on each with :data:`CUSTOMER_KEY_REASON`) and point-in-time recovery. None has a
    fixed name, so the tables an uninstall keeps never collide with a reinstall's. A reinstall that should continue
    the kept audit trail (and run state) adopts them by name instead: ``adopt_audit_table`` and
    ``adopt_state_table`` (``reinstall.audit_table_name``/``state_table_name``) import the table, which this stack
    then never creates, changes or deletes. Grant access with :meth:`grant_audit_append`, :meth:`grant_idempotency`,
    :meth:`grant_state`, which give exactly what the runtime calls.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        adopt_audit_table: str | None = None,
        adopt_state_table: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
        self.audit_table: dynamodb.ITable
        if adopt_audit_table is not None:
            self.audit_table = dynamodb.Table.from_table_name(self, "Audit", adopt_audit_table)
        else:
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
            acknowledge_checkov(self.audit_table, "CKV_AWS_119", CUSTOMER_KEY_REASON)
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
        acknowledge_checkov(self.idempotency_table, "CKV_AWS_119", CUSTOMER_KEY_REASON)
        # When each capability's last run completed. Kept on stack deletion: without it the next run of every
        # capability starts with no memory of the last one.
        self.state_table: dynamodb.ITable
        if adopt_state_table is not None:
            self.state_table = dynamodb.Table.from_table_name(self, "EngineState", adopt_state_table)
        else:
            self.state_table = dynamodb.Table(
                self,
                "EngineState",
                partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=recovery,
                removal_policy=RemovalPolicy.RETAIN,
            )
            acknowledge_checkov(self.state_table, "CKV_AWS_119", CUSTOMER_KEY_REASON)

    def grant_audit_append(self, grantee: iam.IGrantable) -> iam.Grant:
        """:data:`AUDIT_APPEND_ACTIONS` on the audit table: append records, nothing else.

        IAM cannot require the condition expression, so a caller that omitted it could overwrite a record with the
        same key; the runtime always sends it, and every key carries the time, the run id and a sequence number.
        """
        return self.audit_table.grant(grantee, *AUDIT_APPEND_ACTIONS)

    def grant_idempotency(self, grantee: iam.IGrantable) -> iam.Grant:
        """:data:`IDEMPOTENCY_ACTIONS` on the idempotency table."""
        return self.idempotency_table.grant(grantee, *IDEMPOTENCY_ACTIONS)

    def grant_state(self, grantee: iam.IGrantable) -> iam.Grant:
        """:data:`STATE_ACTIONS` on the state table: read, write and update a capability's item; never delete."""
        return self.state_table.grant(grantee, *STATE_ACTIONS)
