"""FinOpsManagement: who may publish to and subscribe to the anomaly and budget topics, what Cost Explorer watches,
what the hub reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import Token
from aws_cdk.assertions import Template

from finops.aws.organizations import DIRECTORY_PERMISSIONS, TARGET_PERMISSIONS
from finops.models.config import FinOpsConfig
from stacks.app_stacks import FinOpsStacks
from stacks.constructs import organizations_delegation
from stacks.constructs.lambda_function import HANDLERS, handler_permissions
from tests.stacks.template_helpers import as_list, flatten, only, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

MANAGEMENT = "111111111111"
HUB = "222222222222"
TOPICS = ["finops-cost-anomalies", "finops-budget-alerts"]


def test_the_shipped_config_names_the_accounts_these_tests_expect(config: FinOpsConfig) -> None:
    assert (config.organization.management_account_id, config.organization.automation_account_id) == (MANAGEMENT, HUB)


def topic_policy(template: Template, topic_name: str = "finops-cost-anomalies") -> list[dict[str, Any]]:
    topic_id, _ = only(template, "AWS::SNS::Topic", {"TopicName": topic_name})
    _, policy = only(template, "AWS::SNS::TopicPolicy", {"Topics": [{"Ref": topic_id}]})
    return statements(policy)


def test_cost_anomaly_detection_may_publish_only_on_behalf_of_the_management_account(
    management_template: Template,
) -> None:
    publishers = [
        s for s in topic_policy(management_template) if s["Effect"] == "Allow" and "sns:Publish" in as_list(s["Action"])
    ]

    assert publishers == [
        {
            "Sid": "AllowCostalertsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "costalerts.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": publishers[0]["Resource"],
            "Condition": {"StringEquals": {"aws:SourceAccount": [MANAGEMENT]}},
        }
    ]


@pytest.mark.parametrize("topic_name", TOPICS)
def test_publishing_without_tls_is_denied_to_everyone(management_template: Template, topic_name: str) -> None:
    denies = [s for s in topic_policy(management_template, topic_name) if s["Effect"] == "Deny"]

    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert as_list(denies[0]["Action"]) == ["sns:Publish"]
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("topic_name", TOPICS)
def test_only_the_hub_account_may_subscribe(management_template: Template, topic_name: str) -> None:
    subscribers = [s for s in topic_policy(management_template, topic_name) if "sns:Subscribe" in as_list(s["Action"])]

    assert len(subscribers) == 1
    assert subscribers[0]["Effect"] == "Allow"
    assert subscribers[0]["Principal"] == {"AWS": f"arn:${{AWS::Partition}}:iam::{HUB}:root"}


def test_the_topic_is_encrypted_with_a_rotating_key_that_cost_anomaly_detection_may_use(
    management_template: Template,
) -> None:
    key_id, key = only(
        management_template, "AWS::KMS::Key", {"Description": "Encrypts the SNS topic finops-cost-anomalies"}
    )
    management_template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": "finops-cost-anomalies", "KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )

    assert key["Properties"]["EnableKeyRotation"] is True
    service_statements = [s for s in statements(key, "KeyPolicy") if "Service" in s["Principal"]]
    assert service_statements == [
        {
            "Sid": "AllowCostalertsToUseTheKey",
            "Effect": "Allow",
            "Principal": {"Service": "costalerts.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
        }
    ]


def test_budgets_may_publish_only_for_the_management_accounts_own_budgets(management_template: Template) -> None:
    # AWS Budgets publishes only to topics in the budget's account: organization-wide budgets live here, so the
    # topic does too, and the confused-deputy keys pin both the account and the budgets ARN
    publishers = [
        s
        for s in topic_policy(management_template, "finops-budget-alerts")
        if s["Effect"] == "Allow" and "sns:Publish" in as_list(s["Action"])
    ]

    assert publishers == [
        {
            "Sid": "AllowBudgetsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": publishers[0]["Resource"],
            "Condition": {
                "StringEquals": {"aws:SourceAccount": [MANAGEMENT]},
                "ArnLike": {"aws:SourceArn": f"arn:${{AWS::Partition}}:budgets::{MANAGEMENT}:*"},
            },
        }
    ]


def test_the_budget_topic_is_encrypted_with_a_rotating_key_that_budgets_may_use(
    management_template: Template,
) -> None:
    key_id, key = only(
        management_template, "AWS::KMS::Key", {"Description": "Encrypts the SNS topic finops-budget-alerts"}
    )
    management_template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": "finops-budget-alerts", "KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )

    assert key["Properties"]["EnableKeyRotation"] is True
    service_statements = [s for s in statements(key, "KeyPolicy") if "Service" in s["Principal"]]
    assert service_statements == [
        {
            "Sid": "AllowBudgetsToUseTheKey",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
        }
    ]


@pytest.mark.parametrize("topic_name", TOPICS)
def test_the_key_serves_exactly_the_services_that_may_publish_and_nothing_is_unconditioned_on_the_topic(
    management_template: Template, topic_name: str
) -> None:
    # Cost Anomaly Detection and Budgets are documented with unconditioned key statements (a condition their KMS
    # requests did not carry would drop every alert); the publish statement on the topic is what is conditioned.
    _, key = only(management_template, "AWS::KMS::Key", {"Description": f"Encrypts the SNS topic {topic_name}"})
    publish = {
        s["Principal"]["Service"]: s
        for s in topic_policy(management_template, topic_name)
        if s["Effect"] == "Allow" and "Service" in s["Principal"]
    }
    use_key = {s["Principal"]["Service"]: s for s in statements(key, "KeyPolicy") if "Service" in s["Principal"]}

    assert use_key.keys() == publish.keys()
    for service, statement in publish.items():
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == [MANAGEMENT], service
        assert statement["Action"] == "sns:Publish"


def test_with_budget_alerts_off_there_is_no_budget_topic(management_for: Callable[..., Template]) -> None:
    template = management_for(capabilities={"budget_alerts": {"enabled": False}})

    names = [t["Properties"]["TopicName"] for t in resources(template, "AWS::SNS::Topic").values()]

    assert names == ["finops-cost-anomalies"]


def test_one_dimensional_monitor_for_services_and_one_for_linked_accounts(management_template: Template) -> None:
    monitors = resources(management_template, "AWS::CE::AnomalyMonitor")

    assert sorted((m["Properties"]["MonitorType"], m["Properties"]["MonitorDimension"]) for m in monitors.values()) == [
        ("DIMENSIONAL", "LINKED_ACCOUNT"),
        ("DIMENSIONAL", "SERVICE"),
    ]


def test_the_subscription_alerts_immediately_to_the_topic_on_every_monitor(management_template: Template) -> None:
    topic_id, _ = only(management_template, "AWS::SNS::Topic", {"TopicName": "finops-cost-anomalies"})
    policy_id, _ = only(management_template, "AWS::SNS::TopicPolicy", {"Topics": [{"Ref": topic_id}]})
    monitor_ids = sorted(resources(management_template, "AWS::CE::AnomalyMonitor"))
    _, subscription = only(management_template, "AWS::CE::AnomalySubscription")

    properties = subscription["Properties"]
    assert properties["Frequency"] == "IMMEDIATE"
    assert properties["Subscribers"] == [{"Type": "SNS", "Address": {"Ref": topic_id}}]
    assert sorted(arn["Fn::GetAtt"][0] for arn in properties["MonitorArnList"]) == monitor_ids
    # Cost Explorer checks that it may publish when the subscription is created
    assert policy_id in subscription["DependsOn"]


def test_the_shipped_threshold_alerts_only_when_both_bounds_are_reached(management_template: Template) -> None:
    _, subscription = only(management_template, "AWS::CE::AnomalySubscription")

    expression = json.loads(subscription["Properties"]["ThresholdExpression"])

    assert list(expression) == ["And"]  # not a 20 % rise on a few dollars, not $100 on a large steady bill
    assert {(d["Dimensions"]["Key"], d["Dimensions"]["Values"][0]) for d in expression["And"]} == {
        ("ANOMALY_TOTAL_IMPACT_ABSOLUTE", "100"),
        ("ANOMALY_TOTAL_IMPACT_PERCENTAGE", "20"),
    }


def test_combine_all_requires_both_bounds(management_for: Callable[..., Template]) -> None:
    template = management_for(capabilities={"anomaly_alerts": {"threshold": {"combine": "all"}}})

    _, subscription = only(template, "AWS::CE::AnomalySubscription")

    assert list(json.loads(subscription["Properties"]["ThresholdExpression"])) == ["And"]


def test_a_disabled_monitor_is_not_created_nor_subscribed(management_for: Callable[..., Template]) -> None:
    template = management_for(capabilities={"anomaly_alerts": {"monitors": {"linked_accounts": False}}})

    monitor_id, _ = only(template, "AWS::CE::AnomalyMonitor", {"MonitorDimension": "SERVICE"})
    template.has_resource_properties(
        "AWS::CE::AnomalySubscription", {"MonitorArnList": [{"Fn::GetAtt": [monitor_id, "MonitorArn"]}]}
    )


def test_with_anomaly_alerts_off_there_is_no_cost_anomaly_detection_nor_its_topic(
    management_for: Callable[..., Template],
) -> None:
    template = management_for(capabilities={"anomaly_alerts": {"enabled": False}})

    names = [t["Properties"]["TopicName"] for t in resources(template, "AWS::SNS::Topic").values()]

    assert names == ["finops-budget-alerts"]
    assert resources(template, "AWS::CE::AnomalyMonitor") == resources(template, "AWS::CE::AnomalySubscription") == {}


def test_with_both_alert_capabilities_and_tag_compliance_off_only_the_delegation_and_the_policies_remain(
    management_for: Callable[..., Template],
) -> None:
    template = management_for(
        capabilities={
            "anomaly_alerts": {"enabled": False},
            "budget_alerts": {"enabled": False},
            "tag_compliance": {"enabled": False},
        }
    )

    types = {r["Type"] for r in template.to_json()["Resources"].values()}

    # the policy bundle is always deployed (attached only with policies.attach); the cost reader is tag_compliance's;
    # the member StackSets are organization.stacksets' (tests/stacks/test_member_stack_sets.py)
    assert types == {
        "AWS::Organizations::ResourcePolicy",
        "AWS::Organizations::Policy",
        "AWS::CloudFormation::StackSet",
    }


def delegated(template: Template) -> dict[str, Any]:
    _, policy = only(template, "AWS::Organizations::ResourcePolicy")
    (statement,) = policy["Properties"]["Content"]["Statement"]
    return dict(statement)


def test_the_hub_is_delegated_exactly_the_organizations_actions_its_handlers_declare(
    management_template: Template,
) -> None:
    statement = delegated(management_template)

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": HUB}
    assert statement["Resource"] == "*"
    # one source of truth: each deployed handler's PERMISSIONS, the organizations:* ones
    declared = {a for name in HANDLERS for a in handler_permissions(name) if a.startswith("organizations:")}
    assert sorted(statement["Action"]) == sorted(declared)
    # which today are anomaly_alerts' account lookups and engine_start's walk of the OUs for a run's targets
    assert set(statement["Action"]) >= {*DIRECTORY_PERMISSIONS, *TARGET_PERMISSIONS}
    assert all(action.startswith(("organizations:Describe", "organizations:List")) for action in statement["Action"])


def test_only_the_hubs_finops_roles_may_use_the_delegation(management_template: Template) -> None:
    statement = flatten(delegated(management_template))

    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-*"}
    }


def test_a_handler_that_declares_the_ou_walk_gets_it_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = dict.fromkeys(HANDLERS, ()) | {
        "anomaly_alerts": DIRECTORY_PERMISSIONS,
        "slack_redrive": (*TARGET_PERMISSIONS, "sqs:SendMessage"),
    }
    monkeypatch.setattr(organizations_delegation, "handler_permissions", declared.__getitem__)

    actions = organizations_delegation.delegated_actions()

    assert actions == tuple(sorted({*DIRECTORY_PERMISSIONS, *TARGET_PERMISSIONS}))


def test_a_declared_organizations_write_stops_the_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = dict.fromkeys(HANDLERS, ()) | {"anomaly_alerts": (*DIRECTORY_PERMISSIONS, "organizations:MoveAccount")}
    monkeypatch.setattr(organizations_delegation, "handler_permissions", declared.__getitem__)

    with pytest.raises(
        ValueError,
        match=r"read-only; finops\.handlers\.anomaly_alerts declares \['organizations:MoveAccount'\]",
    ):
        organizations_delegation.delegated_actions()


def test_stacks_are_pinned_to_their_accounts_in_us_east_1_and_the_member_stack_to_none(stacks: FinOpsStacks) -> None:
    # Cost Anomaly Detection only publishes to topics in us-east-1; the hub builds that topic's ARN from the config
    assert (stacks.management.account, stacks.management.region) == (MANAGEMENT, "us-east-1")
    assert (stacks.hub.account, stacks.hub.region) == (HUB, "us-east-1")
    assert Token.is_unresolved(stacks.member.account)
    assert Token.is_unresolved(stacks.member.region)


def member_role_of(template: Template, config: FinOpsConfig) -> dict[str, Any] | None:
    found = resources(template, "AWS::IAM::Role", {"RoleName": config.organization.member_role_name})
    return next(iter(found.values()), None)


def test_the_management_account_gets_no_member_role_unless_it_is_included(
    management_template: Template, management_for: Callable[..., Template], config: FinOpsConfig
) -> None:
    assert config.organization.include_management_account is False

    assert member_role_of(management_template, config) is None
    # the OrganizationId parameter is then the member StackSets' alone
    without_stack_sets = management_for(organization={"stacksets": {"enabled": False}})
    assert "OrganizationId" not in without_stack_sets.to_json().get("Parameters", {})
    assert "OrganizationId" in management_template.to_json()["Parameters"]


def test_an_included_management_account_gets_the_same_member_role_from_this_stack(
    management_for: Callable[..., Template], member_template: Template, config: FinOpsConfig
) -> None:
    # Given the management account included (service-managed StackSets never deploy to it)
    template = management_for(organization={"include_management_account": True, "organization_id": "o-a1b2c3d4e5"})

    # Then this stack carries the member role, the same trust and permissions as in every member account
    role = member_role_of(template, config)
    assert role is not None
    in_members = member_role_of(member_template, config)
    assert in_members is not None
    for key in ("RoleName", "AssumeRolePolicyDocument", "Policies"):
        assert role["Properties"][key] == in_members["Properties"][key], key
    # with the same OrganizationId parameter, defaulting to the configured id
    assert template.to_json()["Parameters"]["OrganizationId"]["Default"] == "o-a1b2c3d4e5"
