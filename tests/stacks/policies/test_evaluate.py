"""The generated SCPs against requests modelled on real CloudTrail events: who is denied what, who is spared.

Each event under events/ is what CloudTrail records for the call (a denied one with its errorCode, as it reads once the
SCPs are attached with the reviewed config); the evaluator decides each resource the call authorizes.
"""

from __future__ import annotations

from typing import Any

import pytest

from finops.models.config import FinOpsConfig
from stacks.policies import Decision, PolicyBundle, Request, build_bundle, evaluate
from stacks.policies.cloudtrail import UnreadableEventError, requests_from_event
from stacks.policies.evaluate import UnsupportedPolicyError, statement_matches
from tests.stacks.policies.conftest import MANAGEMENT, MEMBER, load_cloudtrail

ALLOWED = None  # expected: allowed


def decide(bundle: PolicyBundle, event: dict[str, Any]) -> list[tuple[str, Decision]]:
    return [
        (request.resource_arn, evaluate(bundle.policies, request, management_account_id=MANAGEMENT))
        for request in requests_from_event(event)
    ]


# event -> the Sid denying each resource the call authorizes, in order (ALLOWED: allowed), with the reviewed config
CASES: dict[str, list[str | None]] = {
    # a developer without the team tag: the instance and its volume both denied
    "run_instances_developer_without_team": ["DenyCreateWithoutTeam", "DenyCreateWithoutTeam"],
    "run_instances_developer_tagged": [ALLOWED, ALLOWED],
    # tags on the instance only: the volume RunInstances creates has none (TagSpecifications ResourceType=volume)
    "run_instances_developer_instance_tags_only": [ALLOWED, "DenyCreateWithoutCostCenter"],
    "run_instances_member_role_untagged": [ALLOWED, ALLOWED],
    "run_instances_auto_scaling_untagged": [ALLOWED, ALLOWED],  # a service-linked role
    "run_instances_management_account_untagged": [ALLOWED, ALLOWED],  # SCPs never apply there
    # the clean-up's final snapshot of an untagged volume, by the member role: the snapshot and its source volume
    "create_snapshot_member_role_final_snapshot": [ALLOWED, ALLOWED],
    "create_snapshot_aws_backup_untagged": [ALLOWED, ALLOWED],
    "create_snapshot_dlm_untagged": [ALLOWED, ALLOWED],
    # the source volume is not denied (it carries no request tags); the new snapshot is
    "create_snapshot_developer_untagged": ["DenySnapshotWithoutCostCenter", ALLOWED],
    "delete_tags_team_developer": ["DenyRemovingRequiredTags"],
    "delete_tags_scratch_developer": [ALLOWED],
    "delete_tags_all_developer": ["DenyRemovingAllEc2Tags"],
    "remove_tags_from_db_team_developer": ["DenyRemovingRequiredTags"],
    "create_db_instance_developer_untagged": ["DenyCreateWithoutCostCenter"],
    "create_db_instance_developer_tagged": [ALLOWED],
    "put_parameter_kill_switch_developer": ["DenyChangingKillSwitch"],
    "put_parameter_kill_switch_admin": [ALLOWED],
    "put_role_policy_member_role_developer": ["DenyChangingAutomationRoles"],
    "put_role_policy_member_role_stacksets": [ALLOWED],  # the StackSet updating the member role it deploys
    "put_role_policy_own_role_developer": [ALLOWED],  # not ours
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_cloudtrail_request_is_denied_or_allowed_as_expected(name: str, reviewed: PolicyBundle) -> None:
    event = load_cloudtrail(name)

    decisions = decide(reviewed, event)

    assert [d.sid if not d.allowed else ALLOWED for _, d in decisions] == CASES[name], decisions
    # the recorded event agrees: CloudTrail has an errorCode exactly where a resource was denied
    assert ("errorCode" in event) == any(not d.allowed for _, d in decisions)


def test_a_denied_launch_names_the_policy_the_statement_and_what_to_do(reviewed: PolicyBundle) -> None:
    [(instance, decision), _] = decide(reviewed, load_cloudtrail("run_instances_developer_without_team"))

    assert instance == f"arn:aws:ec2:eu-west-1:{MEMBER}:instance/*"
    assert decision.policy is not None
    assert decision.policy.startswith("finops-scp-")
    assert decision.explanation is not None
    assert "no `team` tag" in decision.explanation.denied
    assert "TagSpecifications" in decision.explanation.denied


def test_the_shipped_config_spares_only_the_automation_and_aws_backup_and_dlm_default_roles(
    config: FinOpsConfig,
) -> None:
    # AWS Backup's and DLM's default roles snapshot untagged volumes with no exempt_roles at all (backups must keep
    # working the day the SCPs are attached)...
    for name in ("create_snapshot_aws_backup_untagged", "create_snapshot_dlm_untagged"):
        [(_, first), *_] = decide(build_bundle(config), load_cloudtrail(name))
        assert (first.allowed, first.sid) == (True, None), name
    # ...a custom Backup role does not (it goes in exempt_roles)...
    custom = load_cloudtrail("create_snapshot_aws_backup_untagged")
    custom["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = f"arn:aws:iam::{MEMBER}:role/AcmeBackupRole"
    [(_, first), *_] = decide(build_bundle(config), custom)
    assert (first.allowed, first.sid) == (False, "DenySnapshotWithoutCostCenter")
    # ...and without admin_roles, nobody may set the kill switch
    [(_, first), *_] = decide(build_bundle(config), load_cloudtrail("put_parameter_kill_switch_admin"))
    assert (first.allowed, first.sid) == (False, "DenyChangingKillSwitch")


def test_the_member_role_is_spared_under_any_member_role_name(config: FinOpsConfig) -> None:
    from tests.stacks.template_helpers import config_with

    renamed = build_bundle(config_with(config, organization={"member_role_name": "AcmeFinOps"}))
    event = load_cloudtrail("create_snapshot_member_role_final_snapshot")

    assert not decide(renamed, event)[0][1].allowed  # FinOpsMemberRole is no longer ours
    event["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = f"arn:aws:iam::{MEMBER}:role/AcmeFinOps"
    assert decide(renamed, event)[0][1].allowed


def test_an_event_the_reader_does_not_know_is_refused_by_name() -> None:
    event = load_cloudtrail("delete_tags_team_developer") | {"eventName": "ModifyInstanceAttribute"}

    with pytest.raises(UnreadableEventError, match="ec2:ModifyInstanceAttribute"):
        requests_from_event(event)


# -- the IAM semantics the evaluator implements, on hand-written statements -------------------------------------------


def request(**overrides: Any) -> Request:
    base: dict[str, Any] = {
        "action": "ec2:RunInstances",
        "principal_arn": f"arn:aws:iam::{MEMBER}:role/developer",
        "resource_arn": f"arn:aws:ec2:eu-west-1:{MEMBER}:instance/*",
    }
    return Request(**(base | overrides))


def deny(condition: dict[str, Any] | None = None, **elements: Any) -> dict[str, Any]:
    statement = {"Sid": "S", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*", **elements}
    if "NotAction" in elements:
        del statement["Action"]
    if "NotResource" in elements:
        del statement["Resource"]
    if condition is not None:
        statement["Condition"] = condition
    return statement


SEMANTICS = [
    # (statement, request, matches)
    ("null true: the key is absent", deny({"Null": {"aws:RequestTag/team": "true"}}), request(), True),
    (
        "null true: the key is present",
        deny({"Null": {"aws:RequestTag/team": "true"}}),
        request(request_tags={"team": "a"}),
        False,
    ),
    # tag key names in condition keys compare case-insensitively
    (
        "null: Team satisfies team",
        deny({"Null": {"aws:RequestTag/team": "true"}}),
        request(request_tags={"Team": "a"}),
        False,
    ),
    # a Null listing two keys is ANDed: missing one of them is not enough (hence one statement per key)
    (
        "null: two keys AND",
        deny({"Null": {"aws:RequestTag/team": "true", "aws:RequestTag/env": "true"}}),
        request(request_tags={"env": "x"}),
        False,
    ),
    ("null false", deny({"Null": {"aws:TagKeys": "false"}}), request(tag_keys=("a",)), True),
    ("string equals, absent key", deny({"StringEquals": {"aws:RequestTag/team": "a"}}), request(), False),
    (
        "string equals is case-sensitive",
        deny({"StringEquals": {"aws:RequestTag/team": "a"}}),
        request(request_tags={"team": "A"}),
        False,
    ),
    (
        "string equals ignore case",
        deny({"StringEqualsIgnoreCase": {"aws:RequestTag/team": "a"}}),
        request(request_tags={"team": "A"}),
        True,
    ),
    ("negated operator, absent key: true", deny({"StringNotEquals": {"aws:RequestTag/team": "a"}}), request(), True),
    (
        "negated operator, present",
        deny({"StringNotEquals": {"aws:RequestTag/team": ["a", "b"]}}),
        request(request_tags={"team": "b"}),
        False,
    ),
    ("if exists, absent key: true", deny({"StringEqualsIfExists": {"aws:RequestTag/team": "a"}}), request(), True),
    (
        "string like",
        deny({"StringLike": {"aws:RequestTag/team": "pay*"}}),
        request(request_tags={"team": "payments"}),
        True,
    ),
    (
        "string not like",
        deny({"StringNotLike": {"aws:RequestTag/team": "pay*"}}),
        request(request_tags={"team": "data"}),
        True,
    ),
    (
        "for any value, one of the keys",
        deny({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}),
        request(tag_keys=("scratch", "team")),
        True,
    ),
    (
        "for any value, none",
        deny({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}),
        request(tag_keys=("Team",)),
        False,
    ),
    (
        "for any value over no keys: false",
        deny({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}),
        request(),
        False,
    ),
    (
        "for all values over no keys: true",
        deny({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
        request(),
        True,
    ),
    (
        "for all values, one outside",
        deny({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
        request(tag_keys=("team", "x")),
        False,
    ),
    (
        "arn not like: spared",
        deny({"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/developer"]}}),
        request(),
        False,
    ),
    (
        "arn not like: not spared",
        deny({"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/admin"]}}),
        request(),
        True,
    ),
    # ArnLike matches each of the six parts on its own: a * in the account part cannot swallow the role part
    ("arn like is per part", deny({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}), request(), False),
    (
        "arn like with path",
        deny({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/service-role/*"}}),
        request(principal_arn="arn:aws:iam::1:role/service-role/AWSBackupDefaultServiceRole"),
        True,
    ),
    ("bool", deny({"Bool": {"aws:MultiFactorAuthPresent": True}}), request(), False),
    ("actions compare case-insensitively", deny(Action="EC2:runinstances"), request(), True),
    ("action wildcard", deny(Action="ec2:Run*"), request(), True),
    ("not action", deny(NotAction="ec2:Run*"), request(), False),
    ("resources compare case-sensitively", deny(Resource="arn:aws:ec2:*:*:Instance/*"), request(), False),
    ("resource wildcard", deny(Resource="arn:aws:ec2:*:*:instance/*"), request(), True),
    ("not resource", deny(NotResource="arn:aws:ec2:*:*:volume/*"), request(), True),
]


@pytest.mark.parametrize(("why", "statement", "req", "matches"), SEMANTICS, ids=[s[0] for s in SEMANTICS])
def test_iam_semantics(why: str, statement: dict[str, Any], req: Request, matches: bool) -> None:
    assert statement_matches(statement, req) is matches, why


@pytest.mark.parametrize(
    "statement",
    [
        deny({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        deny({"ForAnyValue:Null": {"aws:TagKeys": "true"}}),
        deny(Principal="*"),
    ],
)
def test_what_the_evaluator_does_not_implement_is_refused(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicyError):
        statement_matches(statement, request())
