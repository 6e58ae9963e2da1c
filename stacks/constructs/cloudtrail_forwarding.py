"""CloudTrail "create" events from every member account and region to the hub's auto-tagger (docs/auto-tagger.md).

Two halves, one per side of the account boundary, matching the same events (:func:`forwarded_pattern`):

- :class:`CloudTrailForwarder`, in the regional member stack: a rule on the region's default bus matching the
  successful calls the auto-tagger reads, targeting the hub's bus through a role that may only ``events:PutEvents``
  on that bus. The stack is in every region of every account: the rule's name is the region's own (rules are
  regional), and the role's (IAM is global) ends with the region, so no two instances collide.
- :class:`CloudTrailHubBus`, in the hub: the bus ``finops-cloudtrail``, whose resource policy admits
  ``events:PutEvents`` only from principals of the Organization (``aws:PrincipalOrgID``), and a rule on it invoking
  the auto-tagger with a retry policy and a dead-letter queue of its own (alarmed) for what EventBridge could not
  deliver. A delivered event that fails in the function retries twice and lands in the function's own failure queue
  (``FinOpsFunction``).

EventBridge sees these events only where a CloudTrail trail logs management events (an Organization trail is
typical); the docs say how to check.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from finops.models.cloudtrail import DETAIL_TYPE
from finops.rules.auto_tag import EVENT_SOURCES, event_names
from stacks.nag import acknowledge_checkov
from stacks.naming import CLOUDTRAIL_BUS_NAME

# EventBridge retries a failed delivery to the function (throttling, a service error) with backoff for this long and
# this often, then puts the event in the dead-letter queue. The tags carry the event's own time, so late is fine.
DELIVERY_RETRIES = 8
DELIVERY_MAX_AGE = Duration.hours(6)
DEAD_LETTER_QUEUE_NAME = "finops-cloudtrail-undelivered"
FORWARDING_NAME = "finops-cloudtrail-forwarding"  # the member rule; the role adds -<region>
HUB_RULE_NAME = "finops-cloudtrail-to-auto-tagger"


def forwarded_pattern() -> events.EventPattern:
    """The successful calls the auto-tagger reads: CloudTrail management events from ``aws.ec2``/``aws.rds`` with
    one of its event names and no ``errorCode``."""
    names = event_names()
    return events.EventPattern(
        source=sorted(names),
        detail_type=[DETAIL_TYPE],
        detail={
            "eventSource": sorted(EVENT_SOURCES.values()),
            "eventName": sorted({name for listed in names.values() for name in listed}),
            "errorCode": events.Match.does_not_exist(),
        },
    )


class CloudTrailForwarder(Construct):
    """A member account's region: the rule :data:`FORWARDING_NAME` on the default bus forwarding
    :func:`forwarded_pattern` to the hub's bus ``hub_bus_arn``, through ``role`` (``<FORWARDING_NAME>-<region>``,
    trusting ``events.amazonaws.com`` of this account only; ``events:PutEvents`` on that one bus). Exposes ``rule``
    and ``role``."""

    def __init__(self, scope: Construct, construct_id: str, *, hub_bus_arn: str) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.role = iam.Role(
            self,
            "Role",
            role_name=f"{FORWARDING_NAME}-{Aws.REGION}",  # at most 29 + 14 characters of IAM's 64
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": account}}
            ),
            description="Forwards this region's CloudTrail create events to the FinOps hub's auto-tagger bus",
            inline_policies={
                "PutEventsOnTheHubBus": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["events:PutEvents"], resources=[hub_bus_arn])]
                )
            },
        )
        hub_bus = events.EventBus.from_event_bus_arn(self, "HubBus", hub_bus_arn)
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=FORWARDING_NAME,
            description="CloudTrail create calls (EC2, RDS) to the FinOps hub, which tags the new resources",
            event_pattern=forwarded_pattern(),
            # the inline policy is the grant: the target's own would add a second, named policy resource
            targets=[targets.EventBus(hub_bus, role=self.role.without_policy_updates())],
        )


class CloudTrailHubBus(Construct):
    """The hub's bus the member accounts forward to (``bus_name``), open to the Organization ``organization_id`` only,
    and the rule invoking ``function`` with :data:`DELIVERY_RETRIES` retries over :data:`DELIVERY_MAX_AGE`, then the
    dead-letter queue :data:`DEAD_LETTER_QUEUE_NAME`, whose depth alarms to ``alarm_topic``. Exposes ``bus``,
    ``rule``, ``dead_letter_queue`` and ``dead_letter_alarm``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        organization_id: str,
        alarm_topic: sns.ITopic,
        bus_name: str = CLOUDTRAIL_BUS_NAME,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationMembersForwardCloudTrailEvents",
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            )
        )
        # SSE-SQS, not KMS: EventBridge can write to a KMS-encrypted queue only with a customer managed key whose
        # policy admits it; the account's AWS managed SQS key cannot.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=DEAD_LETTER_QUEUE_NAME,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=HUB_RULE_NAME,
            event_bus=self.bus,
            description="Forwarded CloudTrail create calls to the auto-tagger",
            event_pattern=forwarded_pattern(),
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=DELIVERY_RETRIES,
                    max_event_age=DELIVERY_MAX_AGE,
                )
            ],
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is the dead-letter queue of the rule's target (the auto-tagger): EventBridge puts "
                    "there what it could not deliver (cdk-nag recognises only a queue's RedrivePolicy). Its depth is "
                    "alarmed."
                ),
            )
        )
        acknowledge_checkov(
            self.dead_letter_queue,
            "CKV_AWS_27",
            "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which checkov does not count: EventBridge can "
            "write to a KMS-encrypted queue only with a customer managed key whose policy admits it, and the "
            "account's AWS managed SQS key cannot admit it. The queue holds forwarded CloudTrail records, no secret.",
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_name=DEAD_LETTER_QUEUE_NAME,
            alarm_description=(
                f"EventBridge could not deliver forwarded CloudTrail events to the auto-tagger after "
                f"{DELIVERY_RETRIES} retries over {DELIVERY_MAX_AGE.to_hours():g} hours; the queue "
                f"{DEAD_LETTER_QUEUE_NAME} holds each event with the error in its message attributes. Fix the cause, "
                "then send them to the function again (docs/auto-tagger.md)."
            ),
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
