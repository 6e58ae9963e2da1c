"""The SCPs' grammar, against AWS's own authorization data.

- parliament (the IAM linter, with the Service Authorization Reference as iam_definition.json, offline) finds nothing
  in the documents as deployed. It checks condition keys only for Allow statements, so each document is also read with
  its statements turned into Allows: then it may report only what a Deny makes moot (ACKNOWLEDGED), never an unknown
  action, condition key or resource.
- Our own check on the same data, which parliament does not make: for every action of a statement and every one of
  its resource types the statement's Resource names, each condition key the statement uses is in that request's
  context (listed on that resource type or on the action). A Deny on a key absent from the context would deny every
  such call, tagged or not (the source volume of ec2:CreateSnapshot has no request tags).
- Every action is an operation of its service in botocore's models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import parliament
import pytest

from finops.models.config import FinOpsConfig
from stacks.policies import PolicyBundle, PolicyType, build_bundle
from tests.stacks.template_helpers import config_with

# parliament's findings for the Allow-form of a Deny statement that a Deny makes moot:
ACKNOWLEDGED = {
    # an Allow of ec2:RunInstances on instance/* alone would lack the image, subnet, ... it also needs; a Deny names
    # exactly the resources it refuses (the new instance and volumes), on purpose
    "RESOURCE_MISMATCH",
    # an Allow of iam:PutRolePolicy would be a privilege escalation; our statement denies it
    "PERMISSIONS_MANAGEMENT_ACTIONS",
}
ALWAYS_IN_CONTEXT = {"aws:principalarn"}  # global keys every request carries
# IAM actions with no API operation of their name: CloudFormation authorizes them when a stack's tags change (the
# Service Authorization Reference lists them, and the context check above reads them there).
IAM_ONLY = {"cloudformation:TagResource", "cloudformation:UntagResource"}


@cache
def reference() -> dict[str, dict[str, Any]]:
    """Service prefix -> {"privileges": name -> privilege, "resources": name -> ARN format}, all entries merged."""
    path = Path(parliament.__file__).parent / "iam_definition.json"
    merged: dict[str, dict[str, Any]] = {}
    for service in json.loads(path.read_text()):
        entry = merged.setdefault(service["prefix"], {"privileges": {}, "resources": {}})
        for privilege in service["privileges"]:
            entry["privileges"].setdefault(privilege["privilege"], privilege)
        for resource in service["resources"]:
            entry["resources"].setdefault(resource["resource"], resource["arn"])
    return merged


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _format_matches(arn_format: str, pattern: str) -> bool:
    """Whether a resource ``pattern`` of a statement names resources of ``arn_format`` (``${...}`` is any text)."""
    if pattern == "*":
        return True
    sample = pattern.replace("*", "x").replace("?", "x")
    regex = "".join(
        ".*" if part.startswith("${") else re.escape(part) for part in re.split(r"(\$\{[^}]+\})", arn_format)
    )
    return re.fullmatch(regex, sample) is not None


def _key_name(key: str) -> str:
    return "aws:RequestTag/${TagKey}" if key.lower().startswith("aws:requesttag/") else key


def context_problems(statement: Mapping[str, Any]) -> list[str]:
    """Each (action, resource type) the statement applies to whose request lacks a condition key the statement uses;
    each action AWS does not know; each action none of whose resource types the statement names."""
    keys = sorted(
        {_key_name(k) for keys in statement.get("Condition", {}).values() for k in keys} - ALWAYS_IN_CONTEXT,
        key=str.lower,
    )
    keys = [k for k in keys if k.lower() not in ALWAYS_IN_CONTEXT]
    problems = []
    for action in _as_list(statement["Action"]):
        prefix, name = action.split(":")
        service = reference().get(prefix)
        privilege = service["privileges"].get(name) if service else None
        if privilege is None:
            problems.append(f"{action}: not in the Service Authorization Reference")
            continue
        rows = privilege["resource_types"]
        action_keys = {k.lower() for row in rows if row["resource_type"] == "" for k in row["condition_keys"]}
        applies = False
        for row in rows:
            kind = row["resource_type"].rstrip("*")
            if not kind:
                continue
            arn_format = service["resources"][kind]
            if not any(_format_matches(arn_format, p) for p in _as_list(statement["Resource"])):
                continue
            applies = True
            there = action_keys | {k.lower() for k in row["condition_keys"]}
            problems += [f"{action} on {kind}: no {key} in its context" for key in keys if key.lower() not in there]
        if not applies and statement["Resource"] != "*":
            problems.append(f"{action}: the statement names none of its resource types")
    return problems


def scp_statements(bundle: PolicyBundle) -> Iterator[tuple[str, dict[str, Any]]]:
    for policy in bundle.scps:
        for statement in policy.document["Statement"]:
            yield policy.name, statement


def findings(document: Mapping[str, Any]) -> list[tuple[str, Any]]:
    analysed = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, f.detail) for f in analysed.findings]


def test_parliament_finds_nothing_in_the_deployed_scps(reviewed: PolicyBundle) -> None:
    assert reviewed.scps
    for policy in reviewed.scps:
        assert findings(policy.document) == [], policy.name


def test_read_as_allows_parliament_knows_every_action_condition_key_and_resource(reviewed: PolicyBundle) -> None:
    for policy in reviewed.scps:
        allows = json.loads(policy.minified)
        for statement in allows["Statement"]:
            statement["Effect"] = "Allow"

        issues = {issue for issue, _ in findings(allows)}

        assert issues <= ACKNOWLEDGED, f"{policy.name}: {issues - ACKNOWLEDGED}"


def test_every_condition_key_is_in_the_context_of_every_request_a_statement_applies_to(
    reviewed: PolicyBundle,
) -> None:
    problems = [f"{name} {s['Sid']}: {p}" for name, s in scp_statements(reviewed) for p in context_problems(s)]

    assert problems == []


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        # the source volume of CreateSnapshot carries no request tags: this Deny would refuse every snapshot
        (
            {
                "Action": "ec2:CreateSnapshot",
                "Resource": "arn:aws:ec2:*:*:volume/*",
                "Condition": {"Null": {"aws:RequestTag/team": "true"}},
            },
            "ec2:CreateSnapshot on volume: no aws:RequestTag/${TagKey} in its context",
        ),
        # RunInstances reads the AMI's snapshots, which carry none either
        (
            {
                "Action": "ec2:RunInstances",
                "Resource": "arn:aws:ec2:*::snapshot/*",
                "Condition": {"Null": {"aws:RequestTag/team": "true"}},
            },
            "ec2:RunInstances on snapshot: no aws:RequestTag/${TagKey} in its context",
        ),
        ({"Action": "ec2:RunInstance", "Resource": "*"}, "ec2:RunInstance: not in the Service Authorization Reference"),
        (
            {"Action": "rds:CreateDBInstance", "Resource": "arn:aws:ec2:*:*:instance/*"},
            "rds:CreateDBInstance: the statement names none of its resource types",
        ),
    ],
)
def test_the_context_check_catches_a_key_the_request_lacks(statement: dict[str, Any], problem: str) -> None:
    assert problem in context_problems(statement)


def test_parliament_catches_an_unknown_action() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ec2:RunInstance", "Resource": "*"}],
    }

    assert [issue for issue, _ in findings(document)] == ["UNKNOWN_ACTION"]


def test_every_action_is_an_operation_botocore_knows(reviewed: PolicyBundle) -> None:
    session = botocore.session.get_session()
    unknown = []
    for _, statement in scp_statements(reviewed):
        for action in _as_list(statement["Action"]):
            prefix, name = action.split(":")
            if action not in IAM_ONLY and name not in session.get_service_model(prefix).operation_names:
                unknown.append(action)

    assert unknown == []


def test_sids_are_unique_letters_and_digits(reviewed: PolicyBundle) -> None:
    sids = [s["Sid"] for _, s in scp_statements(reviewed)]

    assert len(sids) == len(set(sids))
    assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), sids


def test_keys_that_share_letters_get_distinct_sids(config: FinOpsConfig) -> None:
    variant = config_with(
        config,
        taxonomy={"tags": [{"key": "cost-center"}, {"key": "cost_center"}, {"key": "team"}]},
        own_tags={"cost-center": "a", "cost_center": "b", "team": "c"},
    )

    sids = [s["Sid"] for _, s in scp_statements(build_bundle(variant))]

    assert len(sids) == len(set(sids))
    assert sum(sid.startswith("DenyCreateWithoutCostCenter") for sid in sids) == 2


def test_the_tag_policy_is_the_tag_policy_grammar(reviewed_config: FinOpsConfig) -> None:
    variant = config_with(reviewed_config, policies={"enforced_for": ["ec2:volume", "ec2:instance"]})
    [tags] = [p for p in build_bundle(variant).policies if p.type is PolicyType.TAG_POLICY]

    for policy_key, entry in tags.document["tags"].items():
        assert policy_key == policy_key.lower()
        assert set(entry) <= {"tag_key", "tag_value", "enforced_for"}
        assert all(set(value) == {"@@assign"} for value in entry.values())
        assert entry["tag_key"]["@@assign"].lower() == policy_key
        assert entry["enforced_for"]["@@assign"] == ["ec2:instance", "ec2:volume"]
