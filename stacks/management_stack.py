"""FinOpsManagement: what only the management account can own. Deployed there, in us-east-1."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnParameter, Stack
from constructs import Construct

from finops.models.config import FinOpsConfig, StackSetAdministrator
from stacks.constructs.anomaly_detection import AnomalyDetection
from stacks.constructs.cost_reader_role import CostReaderRole
from stacks.constructs.heartbeat import HeartbeatSchedule
from stacks.constructs.member_role import (
    CLEANUP_DELETIONS,
    MemberRole,
    organization_id_parameter,
    worker_role_names,
)
from stacks.constructs.member_stack_sets import MemberStackSets, MemberTemplates
from stacks.constructs.organizations_delegation import OrganizationsReadDelegation
from stacks.constructs.policy_bundle import OrganizationPolicies
from stacks.constructs.service_topic import Publisher, ServicePublishedTopic
from stacks.naming import (
    BUDGET_TOPIC_NAME,
    COST_ANOMALY_TOPIC_NAME,
    COST_READER_FUNCTION,
    COST_READER_ROLE_NAME,
    NAME_PREFIX,
    resource_name,
)
from stacks.policies.bundle import build_bundle


class FinOpsManagementStack(Stack):
    """The Organizations read delegation to the hub's ``finops-*`` roles (unless ``organization.
    manage_resource_policy`` is false: the Organization's one resource policy is then the user's) and the topics the
    billing services publish to.

    When anomaly alerts are on: Cost Anomaly Detection (our monitors, or the ones named in ``monitors.
    existing_arns``, and the subscription) and ``finops-cost-anomalies``; the topic policy admits
    costalerts only on behalf of this account. When budget alerts are on: ``finops-budget-alerts``, which admits
    AWS Budgets only for this account's budgets (Budgets cannot publish to a topic in another account, so the topic
    lives with the organization-wide budgets). Both topics are KMS-encrypted and TLS-only, and only the hub account
    may subscribe. With ``organization.include_management_account``, also the member role (service-managed StackSets
    never deploy to the management account, so this stack does), with the member stack's ``OrganizationId``
    parameter. When tag compliance is on: the role ``finops-cost-reader`` (Cost Explorer reads only), assumable only
    by the hub's ``finops-engine-aggregate``, for the spend KPI. With ``organization.stacksets`` enabled and
    administered here (``administrator: management``): the member StackSets (:class:`MemberStackSets`) of
    ``member_templates``, which must be created before this stack, passing them this stack's ``OrganizationId``.
    Exposes, when enabled, ``delegation``, ``anomaly_topic``, ``anomaly_detection``, ``budget_topic``,
    ``member_role``, ``cost_reader``, ``stack_sets`` and ``organization_id`` (the parameter).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: FinOpsConfig,
        member_templates: MemberTemplates | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        organization = config.organization
        management = organization.management_account_id
        stacksets = organization.stacksets
        deploys_stack_sets = stacksets.enabled and stacksets.administrator is StackSetAdministrator.MANAGEMENT
        # The member role here and the member roles the StackSets deploy trust only principals of this Organization.
        self.organization_id: CfnParameter | None = None
        if organization.include_management_account or deploys_stack_sets:
            self.organization_id = organization_id_parameter(self, config)
        # An Organization has one resource policy: with manage_resource_policy false it is the user's, and
        # `make org-resource-policy` prints the statement to merge into it.
        self.delegation: OrganizationsReadDelegation | None = None
        if organization.manage_resource_policy:
            self.delegation = OrganizationsReadDelegation(
                self,
                "OrganizationsReadDelegation",
                reader_account_id=organization.automation_account_id,
                reader_role_prefix=NAME_PREFIX,
            )

        anomaly = config.capabilities.anomaly_alerts
        self.anomaly_topic: ServicePublishedTopic | None = None
        self.anomaly_detection: AnomalyDetection | None = None
        if anomaly.enabled:
            self.anomaly_topic = ServicePublishedTopic(
                self,
                "CostAnomalyTopic",
                topic_name=COST_ANOMALY_TOPIC_NAME,
                publishers=[Publisher("costalerts.amazonaws.com", source_accounts=(management,))],
                subscriber_accounts=[organization.automation_account_id],
            )
            self.anomaly_detection = AnomalyDetection(
                self, "AnomalyDetection", settings=anomaly, topic=self.anomaly_topic.topic
            )
            # Cost Explorer verifies at creation that it may publish: the topic policy goes first (the key policy
            # already does, through the topic's reference to its key).
            self.anomaly_detection.subscription.node.add_dependency(self.anomaly_topic.policy)

        # The delivery heartbeat publishes to the anomaly topic, so it lives here (docs/smoke.md).
        heartbeat = config.notifications.heartbeat
        self.heartbeat: HeartbeatSchedule | None = None
        if heartbeat.enabled:
            if self.anomaly_topic is None:
                raise ValueError(
                    "notifications.heartbeat.enabled: the heartbeat travels through the anomaly topic, which exists "
                    "only with capabilities.anomaly_alerts.enabled: true"
                )
            topic = self.anomaly_topic
            self.heartbeat = HeartbeatSchedule(self, "Heartbeat", settings=heartbeat, topic=topic.topic, key=topic.key)

        self.budget_topic: ServicePublishedTopic | None = None
        if config.capabilities.budget_alerts.enabled:
            # Platform teams create the budgets here (filtered by linked account or tag) and point their
            # notifications at this topic; see docs/architecture.md.
            self.budget_topic = ServicePublishedTopic(
                self,
                "BudgetAlertTopic",
                topic_name=BUDGET_TOPIC_NAME,
                publishers=[
                    Publisher(
                        "budgets.amazonaws.com",
                        source_accounts=(management,),
                        source_arn_like=self.format_arn(service="budgets", region="", account=management, resource="*"),
                    )
                ],
                subscriber_accounts=[organization.automation_account_id],
            )

        # The spend KPI of tag_compliance: Cost Explorer answers for the whole Organization only here.
        self.cost_reader: CostReaderRole | None = None
        if config.capabilities.tag_compliance.enabled:
            self.cost_reader = CostReaderRole(
                self,
                "CostReader",
                role_name=COST_READER_ROLE_NAME,
                hub_account_id=organization.automation_account_id,
                hub_role_name=resource_name(COST_READER_FUNCTION),
                organization_id=organization.organization_id,
            )

        self.member_role: MemberRole | None = None
        if organization.include_management_account and self.organization_id is not None:
            self.member_role = MemberRole(
                self,
                "MemberRole",
                role_name=organization.member_role_name,
                hub_account_id=organization.automation_account_id,
                hub_role_names=worker_role_names(),
                organization_id=self.organization_id.value_as_string,
                protect_tag_key=config.safety.protect_tag.key,
                deletions=CLEANUP_DELETIONS,
            )

        # Service-managed StackSets reach every account of the deployment OUs but this one (above, and the
        # FinOpsManagementRegional-<region> stacks, give it the member resources with include_management_account).
        self.stack_sets: MemberStackSets | None = None
        if deploys_stack_sets and self.organization_id is not None:
            if member_templates is None:
                raise ValueError(
                    "organization.stacksets: the management stack deploys the member StackSets, and needs the member "
                    "stacks created before it (stacks.app_stacks.create_organization_stacks)"
                )
            self.stack_sets = MemberStackSets(
                self,
                "MemberStackSets",
                templates=member_templates,
                organization=organization,
                parameters={"OrganizationId": self.organization_id.value_as_string},
                call_as="SELF",
            )

        # The policy bundle (docs/policies/): the Tag Policy and SCPs generated from the taxonomy, attached to
        # policies.target_ous only with policies.attach. A bundle past Organizations' limits stops the synth here,
        # naming the limit and the fix (stacks.policies.limits.PolicyLimitError).
        self.policies = OrganizationPolicies(self, "PolicyBundle", bundle=build_bundle(config))
