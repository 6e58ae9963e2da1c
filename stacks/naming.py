"""Names that cross stack and account boundaries.

A stack in one account never takes a CloudFormation reference to another account's stack (exports do not cross
accounts); both sides build the name or ARN from these constants and the config instead.
"""

from __future__ import annotations

from aws_cdk import Fn, Stack
from constructs import IConstruct

from finops.models.config import FinOpsConfig
from finops.services.tag_spend import COST_READER_ROLE_NAME as COST_READER_ROLE_NAME

# Cost Anomaly Detection publishes only to SNS topics in us-east-1; the hub sits there too (for now) so the
# subscription stays in-region.
ALERTS_REGION = "us-east-1"

COST_ANOMALY_TOPIC_NAME = "finops-cost-anomalies"
BUDGET_TOPIC_NAME = "finops-budget-alerts"
ALARM_TOPIC_NAME = "finops-alarms"
# The service-managed StackSets of the member stacks; their instances are the stacks StackSet-finops-member-* that
# the SCP bundle protects (stacks.policies.scp.MEMBER_STACKSETS).
MEMBER_STACK_SET_NAME = "finops-member"
MEMBER_REGIONAL_STACK_SET_NAME = "finops-member-regional"

# Every hub function and its role are named finops-<name>; the member role trusts exactly these role ARNs.
NAME_PREFIX = "finops-"


def resource_name(name: str) -> str:
    """``anomaly_alerts`` -> ``finops-anomaly-alerts`` (function, role and queue names)."""
    return NAME_PREFIX + name.replace("_", "-")


# The role in the management account through which the hub reads Cost Explorer (the spend KPI of tag_compliance),
# named by the code that assumes it; it trusts only the role of the hub function that reads the spend.
COST_READER_FUNCTION = "engine_aggregate"


def install_id(scope: IConstruct) -> str:
    """The last group of the UUID in the stack's id (``arn:...:stack/FinOpsHub/<uuid>``), as a token.

    CloudFormation assigns the UUID when the stack is created: every update keeps it, a reinstall gets a new one.
    """
    stack_uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
    return Fn.select(4, Fn.split("-", stack_uuid))


def retained_name(scope: IConstruct, base: str) -> str:
    """``<base>-<install id>``: the name of a resource that outlives its stack (RemovalPolicy.RETAIN).

    A fixed name would make a reinstall fail with "already exists" against the copy the uninstall kept; this one
    keeps the readable prefix (``/aws/lambda/finops-anomaly-alerts-...``) and differs per install.
    """
    return f"{base}-{install_id(scope)}"


def management_topic_arn(scope: Stack, config: FinOpsConfig, topic_name: str) -> str:
    """A topic the management stack owns, as seen from any stack (same partition)."""
    return scope.format_arn(
        service="sns",
        account=config.organization.management_account_id,
        region=ALERTS_REGION,
        resource=topic_name,
    )


def cost_anomaly_topic_arn(scope: Stack, config: FinOpsConfig) -> str:
    """The management account's anomaly topic, which Cost Anomaly Detection publishes to."""
    return management_topic_arn(scope, config, COST_ANOMALY_TOPIC_NAME)


def budget_topic_arn(scope: Stack, config: FinOpsConfig) -> str:
    """The management account's budget topic: AWS Budgets publishes only to topics in the budget's own account."""
    return management_topic_arn(scope, config, BUDGET_TOPIC_NAME)


def cost_reader_role_arn(scope: Stack, config: FinOpsConfig) -> str:
    """The cost reader role in the management account: ``arn:<partition>:iam::<management>:role/finops-cost-reader``."""
    return f"arn:{scope.partition}:iam::{config.organization.management_account_id}:role/{COST_READER_ROLE_NAME}"


# The hub's event bus that every member account's regional stack forwards its CloudTrail "create" events to, for the
# auto-tagger; in the hub's region, whatever region the event comes from.
CLOUDTRAIL_BUS_NAME = "finops-cloudtrail"


def cloudtrail_bus_arn(scope: Stack, config: FinOpsConfig) -> str:
    """``arn:<partition>:events:us-east-1:<automation_account_id>:event-bus/finops-cloudtrail``."""
    return scope.format_arn(
        service="events",
        account=config.organization.automation_account_id,
        region=ALERTS_REGION,
        resource="event-bus",
        resource_name=CLOUDTRAIL_BUS_NAME,
    )


def member_role_arn_pattern(scope: Stack, config: FinOpsConfig) -> str:
    """The member role in every account: ``arn:<partition>:iam::*:role/<member_role_name>``."""
    return f"arn:{scope.partition}:iam::*:role/{config.organization.member_role_name}"
