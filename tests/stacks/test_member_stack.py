"""FinOpsMember: a StackSet-ready role that only the hub's capability workers, from this Organization, can assume; it
may read the inventory and take exactly the actions the workers declare, deleting only what the clean-up marked and
never what carries the protect tag.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from finops.handlers import CAPABILITY_WORKERS, EVENT_WORKERS, HANDLERS
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_tags import ACTION_TAG, AFTER_TAG
from finops.services.cleanup import DELETING_PERMISSIONS
from stacks.constructs import member_role
from stacks.constructs.member_role import READ_ONLY_ACTIONS, MarkedDeletions, MemberRole, member_permissions
from tests.stacks.template_helpers import as_list, flatten, only, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

HUB = "222222222222"
ORGANIZATION_ID = "o-a1b2c3d4e5"


def declared_member_permissions() -> set[str]:
    """What the workers' code declares, read here straight from the modules (the stack must agree)."""
    return {
        action
        for worker in (*CAPABILITY_WORKERS.values(), *EVENT_WORKERS.values())
        for action in importlib.import_module(HANDLERS[worker]).MEMBER_PERMISSIONS
    }


def member_statements(template: Template) -> list[dict[str, Any]]:
    _, role = only(template, "AWS::IAM::Role")
    return [flatten(s) for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def statement(template: Template, sid: str) -> dict[str, Any]:
    (found,) = [s for s in member_statements(template) if s.get("Sid") == sid]
    return found


def granted(template: Template) -> list[str]:
    """Every action an Allow statement names (each once: a Deny repeats some)."""
    return [
        action
        for statement in member_statements(template)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    ]


def test_the_role_carries_the_configured_name(member_template: Template, config: FinOpsConfig) -> None:
    member_template.has_resource_properties("AWS::IAM::Role", {"RoleName": config.organization.member_role_name})


def test_only_the_hubs_worker_roles_of_this_organization_may_assume_it(member_template: Template) -> None:
    _, role = only(member_template, "AWS::IAM::Role")

    # the workers' statement; the auto-tagger's own is tested in test_cloudtrail_forwarding.py
    (trust, _auto_tagger) = statements(role, "AssumeRolePolicyDocument")

    assert trust == {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:${{AWS::Partition}}:iam::{HUB}:root"},
        "Condition": {
            # the exact role of each worker: a role ARN as principal would break while it does not exist yet
            "ArnEquals": {
                "aws:PrincipalArn": [
                    f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-ebs-cleanup-worker",
                    f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-scheduler-worker",
                    f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-tag-compliance-worker",
                ]
            },
            "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
        },
    }


def test_the_trusted_roles_are_exactly_the_capability_workers_not_the_alert_functions(
    member_template: Template,
) -> None:
    _, role = only(member_template, "AWS::IAM::Role")
    (trust, _auto_tagger) = statements(role, "AssumeRolePolicyDocument")

    trusted = {arn.rsplit("/", 1)[1] for arn in trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]}

    assert trusted == {"finops-" + worker.replace("_", "-") for worker in CAPABILITY_WORKERS.values()}
    assert not trusted & {"finops-anomaly-alerts", "finops-slack-redrive", "finops-engine-start"}


def test_the_organization_id_is_a_parameter_the_stackset_operator_passes(member_template: Template) -> None:
    parameters = member_template.to_json()["Parameters"]

    assert parameters == {
        "OrganizationId": {
            "Type": "String",
            "AllowedPattern": "^o-[a-z0-9]{10,32}$",
            "ConstraintDescription": "an Organization id, like o-a1b2c3d4e5",
            "Description": parameters["OrganizationId"]["Description"],
        }
    }  # no default: the shipped config does not name the Organization


def test_the_configured_organization_id_is_the_parameters_default(member_for: Callable[..., Template]) -> None:
    template = member_for(organization={"organization_id": ORGANIZATION_ID})

    assert template.to_json()["Parameters"]["OrganizationId"]["Default"] == ORGANIZATION_ID


def test_it_grants_exactly_the_inventory_and_what_the_workers_declare(member_template: Template) -> None:
    actions = granted(member_template)

    assert len(actions) == len(set(actions))
    assert set(actions) == set(READ_ONLY_ACTIONS) | declared_member_permissions()
    assert set(member_permissions()) == declared_member_permissions()
    # e.g. the scheduler's, and the clean-up's
    assert {"ec2:StopInstances", "ec2:StartInstances", "rds:StopDBInstance", "rds:DescribeDBClusters"} <= set(actions)
    assert {"ec2:DeleteVolume", "ec2:CreateSnapshot", "rbin:ListRules", "ec2:DescribeSnapshotAttribute"} <= set(actions)
    assert not member_template.find_resources("AWS::IAM::Policy")
    assert not member_template.find_resources("AWS::IAM::ManagedPolicy")


def test_kms_create_grant_only_for_grants_an_aws_service_makes_for_its_resources(member_template: Template) -> None:
    with_grant = [s for s in member_statements(member_template) if "kms:CreateGrant" in as_list(s.get("Action", []))]

    assert with_grant == [
        {
            "Sid": "KmsGrantsForAwsResources",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        }
    ]
    assert not [a for a in granted(member_template) if a.startswith("kms:") and a != "kms:CreateGrant"]


# The statements with a condition, each tested below; every other one is an unconditioned Allow.
CONDITIONED = {
    "KmsGrantsForAwsResources",
    "DeleteOnlyMarkedResources",
    "NeverDeleteProtectedResources",
    "RemoveOnlyTheMarks",
    "NeverChangeTheProtectTag",
    "AutoTaggerSessionsOnlyTheirOwnActions",  # Deny NotAction for the auto-tagger's sessions
    "RemoveOnlyTheMarksRds",  # tag enforcement's unmark of RDS resources
    "NeverChangeTheProtectTagRds",
}


def test_every_other_statement_is_unconditioned_allow_of_named_actions(member_template: Template) -> None:
    sids = {s.get("Sid") for s in member_statements(member_template)}
    assert sids >= CONDITIONED

    for statement in member_statements(member_template):
        assert statement["Resource"] == "*"
        if statement.get("Sid") not in CONDITIONED:
            assert statement["Effect"] == "Allow"
            assert "Condition" not in statement


def test_the_clean_up_deletes_only_volumes_and_snapshots_carrying_its_mark(member_template: Template) -> None:
    allowed_deletions = [
        s
        for s in member_statements(member_template)
        if s["Effect"] == "Allow" and set(as_list(s.get("Action", []))) & set(DELETING_PERMISSIONS)
    ]

    assert DELETING_PERMISSIONS == ("ec2:DeleteSnapshot", "ec2:DeleteVolume")
    assert allowed_deletions == [
        {
            "Sid": "DeleteOnlyMarkedResources",
            "Effect": "Allow",
            "Action": ["ec2:DeleteSnapshot", "ec2:DeleteVolume"],
            "Resource": "*",
            # the mark with any value: the planner reads the date, IAM only that the clean-up marked it
            "Condition": {"Null": {f"aws:ResourceTag/{AFTER_TAG}": "false"}},
        }
    ]
    assert AFTER_TAG == "finops:cleanup-after"


def test_nothing_carrying_the_protect_tag_is_deleted_whatever_allows_it(
    member_template: Template, config: FinOpsConfig
) -> None:
    assert config.safety.protect_tag.key == "finops:protect"

    assert statement(member_template, "NeverDeleteProtectedResources") == {
        "Sid": "NeverDeleteProtectedResources",
        "Effect": "Deny",
        "Action": ["ec2:DeleteSnapshot", "ec2:DeleteVolume"],
        "Resource": "*",
        "Condition": {
            # any value but an explicit no (the planner's NOT_PROTECTED: an empty value protects nothing there either)
            "StringNotEqualsIgnoreCase": {"ec2:ResourceTag/finops:protect": ["", "0", "false", "no", "off"]},
            # and only when the tag is there: a negated operator matches a missing key too
            "Null": {"ec2:ResourceTag/finops:protect": "false"},
        },
    }


def test_the_marks_are_the_only_tags_it_may_remove(member_template: Template) -> None:
    removing = [s for s in member_statements(member_template) if "ec2:DeleteTags" in as_list(s.get("Action", []))]

    assert statement(member_template, "RemoveOnlyTheMarks") == {
        "Sid": "RemoveOnlyTheMarks",
        "Effect": "Allow",
        "Action": "ec2:DeleteTags",
        "Resource": "*",
        "Condition": {
            # the clean-up's two marks and tag enforcement's deadline
            "ForAllValues:StringEquals": {"aws:TagKeys": [ACTION_TAG, AFTER_TAG, "finops:tag-deadline"]},
            # a DeleteTags without Tags removes every tag and sends no keys, which ForAllValues would let through
            "Null": {"aws:TagKeys": "false"},
        },
    }
    assert [s["Sid"] for s in removing if s["Effect"] == "Allow"] == ["RemoveOnlyTheMarks"]
    # marks and final snapshots' tags are written without a condition
    assert "ec2:CreateTags" in as_list(statement(member_template, "CapabilityActions")["Action"])


def test_it_can_neither_write_nor_remove_the_protect_tag_on_an_existing_resource(member_template: Template) -> None:
    assert statement(member_template, "NeverChangeTheProtectTag") == {
        "Sid": "NeverChangeTheProtectTag",
        "Effect": "Deny",
        "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
        "Resource": "*",
        "Condition": {
            "ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": ["finops:protect"]},
            # tags given at creation stay allowed: a final snapshot copies its volume's tags (finops:protect=false too)
            "Null": {"ec2:CreateAction": "true"},
        },
    }


def test_the_configured_protect_tag_is_the_one_the_denies_name(member_for: Callable[..., Template]) -> None:
    template = member_for(safety={"protect_tag": {"key": "do-not-delete", "values": ["true"]}})

    deny = statement(template, "NeverDeleteProtectedResources")["Condition"]
    assert set(deny["StringNotEqualsIgnoreCase"]) == set(deny["Null"]) == {"ec2:ResourceTag/do-not-delete"}
    retag = statement(template, "NeverChangeTheProtectTag")["Condition"]
    assert retag["ForAnyValue:StringEqualsIgnoreCase"] == {"aws:TagKeys": ["do-not-delete"]}


def test_a_declared_deletion_without_the_mark_condition_stops_the_synth() -> None:
    stack = Stack(App(), "Member")
    nothing_marked = MarkedDeletions(actions=("ec2:DeleteSnapshot",), mark_tag=AFTER_TAG, mark_tags=(AFTER_TAG,))

    with pytest.raises(ValueError, match=r"\['ec2:DeleteVolume'\] delete resources"):
        MemberRole(
            stack,
            "MemberRole",
            role_name="FinOpsMemberRole",
            hub_account_id=HUB,
            hub_role_names=["finops-ebs-cleanup-worker"],
            organization_id=ORGANIZATION_ID,
            protect_tag_key="finops:protect",
            deletions=nothing_marked,
        )


# Reads that return instance user data or the Windows administrator password: where secrets end up.
SECRET_READS = ("ec2:DescribeInstanceAttribute", "ec2:DescribeLaunchTemplateVersions", "ec2:GetPasswordData")


def test_no_wildcard_action_and_no_read_that_exposes_user_data_or_passwords(member_template: Template) -> None:
    actions = granted(member_template)

    assert [action for action in actions if not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action)] == []
    # matched as IAM matches (case-insensitive, wildcards expanded), so a wildcard added back would be caught too
    assert [
        (action, secret)
        for action in actions
        for secret in SECRET_READS
        if fnmatch.fnmatchcase(secret.lower(), action.lower())
    ] == []


@pytest.mark.parametrize(
    ("declared", "error", "message"),
    [
        (("ec2:Stop*",), ValueError, r"no wildcards: \['ec2:Stop\*'\]"),
        (("*",), TypeError, "must be a tuple of IAM actions"),
        (["ec2:StopInstances"], TypeError, "must be a tuple of IAM actions"),
    ],
)
def test_a_worker_declaring_a_wildcard_or_a_malformed_action_stops_the_synth(
    monkeypatch: pytest.MonkeyPatch, declared: Any, error: type[Exception], message: str
) -> None:
    module = types.ModuleType("finops_test_worker")
    module.MEMBER_PERMISSIONS = declared  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(member_role, "CAPABILITY_WORKERS", {"test": "test_worker"})
    monkeypatch.setattr(member_role, "EVENT_WORKERS", {})
    monkeypatch.setattr(member_role, "HANDLERS", {"test_worker": module.__name__})

    with pytest.raises(error, match=message):
        member_permissions()


def test_the_template_deploys_by_stackset_without_cdk_bootstrap_or_assets(member_template: Template) -> None:
    template = member_template.to_json()

    assert set(template["Parameters"]) == {"OrganizationId"}  # no BootstrapVersion parameter
    assert "Rules" not in template  # no CheckBootstrapVersion rule
    assert {r["Type"] for r in template["Resources"].values()} <= {"AWS::IAM::Role", "AWS::CDK::Metadata"}
