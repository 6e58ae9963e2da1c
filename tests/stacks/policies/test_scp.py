"""What the generated SCP statements say: one Deny per required key and resource family, the required keys' removal
denied, the automation's own resources protected, and every Deny sparing the automation and exempt_roles."""

from __future__ import annotations

from typing import Any

from finops.models.config import FinOpsConfig
from stacks.policies import PolicyBundle, build_bundle
from stacks.policies.scp import creation_statements, protection_statements, scp_statements, tag_removal_statements
from tests.stacks.policies.conftest import ADMIN_ROLE, BACKUP_ROLE, DLM_ROLE, HUB
from tests.stacks.template_helpers import config_with

MEMBER_ROLE = "arn:aws:iam::*:role/FinOpsMemberRole"
HUB_ROLES = f"arn:aws:iam::{HUB}:role/finops-*"


def statements_of(bundle: PolicyBundle) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for p in bundle.scps for s in p.document["Statement"]}


def spared(statement: dict[str, Any]) -> list[str]:
    patterns: list[str] = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return patterns


def test_one_creation_statement_per_required_key_and_family_each_with_a_single_null_key(config: FinOpsConfig) -> None:
    found = {s.sid: s.body for s in creation_statements(config)}

    assert sorted(found) == sorted(
        f"Deny{family}Without{key}"
        for family in ("Create", "Snapshot")
        for key in ("Team", "Environment", "CostCenter")  # owner is optional
    )
    for sid, statement in found.items():
        [(key, value)] = statement["Condition"]["Null"].items()
        assert value == "true"
        assert key == {"Team": "aws:RequestTag/team", "Environment": "aws:RequestTag/environment"}.get(
            sid.split("Without")[1], "aws:RequestTag/cost-center"
        )
        assert statement["Effect"] == "Deny"


def test_instances_and_their_volumes_databases_and_snapshots_are_covered(config: FinOpsConfig) -> None:
    found = {s.sid: s.body for s in creation_statements(config)}

    create, snapshot = found["DenyCreateWithoutTeam"], found["DenySnapshotWithoutTeam"]
    assert {"ec2:RunInstances", "ec2:CreateVolume", "rds:CreateDBInstance", "rds:CreateDBCluster"} <= set(
        create["Action"]
    )
    assert create["Resource"] == [
        "arn:aws:ec2:*:*:instance/*",
        "arn:aws:ec2:*:*:volume/*",
        "arn:aws:rds:*:*:cluster:*",
        "arn:aws:rds:*:*:db:*",
    ]
    assert snapshot["Action"] == ["ec2:CopySnapshot", "ec2:CreateSnapshot", "ec2:CreateSnapshots"]
    assert snapshot["Resource"] == ["arn:aws:ec2:*::snapshot/*"]  # the new snapshot only, never the source volume


def test_removing_a_required_tag_is_denied_but_not_an_optional_one(config: FinOpsConfig) -> None:
    removing, removing_all = (s.body for s in tag_removal_statements(config))

    assert removing["Action"] == ["ec2:DeleteTags", "rds:RemoveTagsFromResource"]
    assert removing["Condition"]["ForAnyValue:StringEquals"] == {"aws:TagKeys": ["cost-center", "environment", "team"]}
    assert removing_all["Condition"]["Null"] == {"aws:TagKeys": "true"}


def test_every_deny_spares_the_automation_and_the_exempt_roles(reviewed: PolicyBundle) -> None:
    for sid, statement in statements_of(reviewed).items():
        assert statement["Effect"] == "Deny"
        assert {MEMBER_ROLE, HUB_ROLES, BACKUP_ROLE, DLM_ROLE} <= set(spared(statement)), sid


def test_only_the_protection_statements_spare_the_admin_roles_and_the_deploy_roles(reviewed: PolicyBundle) -> None:
    for sid, statement in statements_of(reviewed).items():
        protects = sid.startswith("DenyChanging")
        assert (ADMIN_ROLE in spared(statement)) is protects, sid
        assert ("arn:aws:iam::*:role/stacksets-exec-*" in spared(statement)) is protects, sid


def test_the_automation_resources_are_named_from_the_config(config: FinOpsConfig) -> None:
    variant = config_with(
        config,
        organization={"member_role_name": "AcmeFinOps"},
        safety={"kill_switch_parameter": "/acme/finops/stop"},
    )
    found = {s.sid: s.body for s in protection_statements(variant)}

    assert found["DenyChangingAutomationRoles"]["Resource"] == ["arn:aws:iam::*:role/AcmeFinOps", HUB_ROLES]
    assert found["DenyChangingKillSwitch"]["Resource"] == [f"arn:aws:ssm:*:{HUB}:parameter/acme/finops/stop"]
    assert found["DenyChangingMemberStacks"]["Resource"] == [
        "arn:aws:cloudformation:*:*:stack/StackSet-finops-member-*/*"
    ]
    assert found["DenyChangingRecycleBinRules"]["Resource"] == ["arn:aws:rbin:*:*:rule/*"]
    assert "arn:aws:iam::*:role/AcmeFinOps" in spared(found["DenyChangingKillSwitch"])
    assert {"iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"} <= set(
        found["DenyChangingAutomationRoles"]["Action"]
    )
    assert {"rbin:DeleteRule", "rbin:UpdateRule", "rbin:UnlockRule"} <= set(
        found["DenyChangingRecycleBinRules"]["Action"]
    )
    assert {"ssm:PutParameter", "ssm:DeleteParameter"} <= set(found["DenyChangingKillSwitch"]["Action"])


def test_without_a_required_key_only_the_protection_remains(config: FinOpsConfig) -> None:
    variant = config_with(config, taxonomy={"tags": [{"key": "team", "required": False}]}, own_tags={"team": "x"})

    assert sorted(s.sid for s in scp_statements(variant)) == [
        "DenyChangingAutomationRoles",
        "DenyChangingKillSwitch",
        "DenyChangingMemberStacks",
        "DenyChangingRecycleBinRules",
    ]
    assert any("no taxonomy key is required" in note for note in build_bundle(variant).notes)


def test_the_same_config_gives_the_same_bytes_and_statements_are_in_sid_order(config: FinOpsConfig) -> None:
    first, again = build_bundle(config), build_bundle(config_with(config))

    assert [p.minified for p in first.policies] == [p.minified for p in again.policies]
    for policy in first.scps:
        sids = [s["Sid"] for s in policy.document["Statement"]]
        assert sids == sorted(sids)
        for statement in policy.document["Statement"]:
            for element in ("Action", "Resource"):
                if isinstance(statement[element], list):
                    assert statement[element] == sorted(statement[element])
            assert spared(statement) == sorted(spared(statement))


def test_each_statement_is_explained_for_the_reviewer(reviewed: PolicyBundle) -> None:
    for policy in reviewed.scps:
        sids = [s["Sid"] for s in policy.document["Statement"]]
        assert [e.sid for e in policy.explanations] == sids
        for explanation in policy.explanations:
            assert explanation.denied
            assert explanation.why
            assert "never the management account" in explanation.to_whom
            assert "service-linked roles" in explanation.exceptions
        assert "SCPs never apply to the management account" in policy.description
    kill = next(e for p in reviewed.scps for e in p.explanations if e.sid == "DenyChangingKillSwitch")
    assert ADMIN_ROLE in kill.why
    assert ADMIN_ROLE in kill.exceptions
