"""cdk-nag acknowledgments for wildcard resources, named the way cdk-nag names the finding.

cdk-nag's IAM5 finding id carries the resource as the synthesized template has it, with references flattened
(``<LogicalId.Arn>:*``). Building the id from the same value the policy grants keeps an acknowledgment pinned to that
one resource string, without writing a logical id by hand.

checkov's acknowledgments (:func:`acknowledge_checkov`) live in the resource's own CloudFormation metadata, where
checkov reads them: one check id and its reason per entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def _flatten(value: Any) -> str:
    """cdk-nag's ``flattenCfnReference``: Fn::Join joined, Ref as ``<Id>``, Fn::GetAtt as ``<Id.Attr>``."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flatten(part) for part in parts)
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return _flatten(value["Fn::Sub"])
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{_flatten(resource)}.{_flatten(attribute)}>"
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<{_flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))  # as JavaScript's JSON.stringify writes it


def wildcard_resource_finding(scope: IConstruct, resource: str) -> str:
    """The id of cdk-nag's finding for granting on ``resource`` (a string that may hold tokens) in ``scope``'s stack."""
    return f"AwsSolutions-IAM5[Resource::{_flatten(Stack.of(scope).resolve(resource))}]"


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge, on ``scope`` alone, the one IAM5 finding for ``resource``."""
    Validations.of(scope).acknowledge(Acknowledgment(id=wildcard_resource_finding(scope, resource), reason=reason))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def acknowledge_wildcard_resources(policy: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge on ``policy`` (an ``iam.Policy`` whose statements a construct library wrote) each IAM5 finding for a
    wildcard resource, with the reason recorded for the statement's action in ``reasons``.

    A statement with a wildcard resource and no recorded reason stops the synth: a library upgrade that grants
    something new is reviewed, not waved through. Call it once the policy holds all its statements.
    """
    if not isinstance(policy, iam.Policy):
        raise TypeError(f"{policy.node.path} is not an iam.Policy")
    document = Stack.of(policy).resolve(policy.document) or {}
    findings: dict[str, list[str]] = {}
    for statement in document.get("Statement", []):
        wildcards = [resource for resource in _as_list(statement["Resource"]) if "*" in _flatten(resource)]
        if statement["Effect"] != "Allow" or not wildcards:
            continue
        actions = _as_list(statement["Action"])
        reason = next((reasons[action] for action in actions if action in reasons), None)
        if reason is None:
            raise ValueError(f"{policy.node.path} grants {actions} on {wildcards}: record why in its reasons")
        for resource in wildcards:
            finding = f"AwsSolutions-IAM5[Resource::{_flatten(resource)}]"
            if reason not in findings.setdefault(finding, []):
                findings[finding].append(reason)
    for finding, why in findings.items():
        Validations.of(policy).acknowledge(Acknowledgment(id=finding, reason=" ".join(why)))


# A checkov check id: CKV_AWS_117, CKV2_AWS_5. One per acknowledgment.
CHECKOV_CHECK_ID = re.compile(r"CKV2?_[A-Z0-9]+_[0-9]+")
# The shortest reason that can say why (tests/stacks/test_checkov.py holds every template's skips to it too).
MIN_CHECKOV_REASON = 40


def acknowledge_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge checkov's ``check_id`` on the one CloudFormation resource of ``construct`` (the construct itself,
    or its default child), with ``reason``: an entry ``{"id": check_id, "comment": reason}`` in the resource's
    ``Metadata.checkov.skip``, which is where checkov reads skips in a CloudFormation template.

    An id that is not checkov's, a reason shorter than :data:`MIN_CHECKOV_REASON` characters, or the same check twice
    on one resource raises ``ValueError``. That each skip answers a finding checkov really makes on that resource is
    tests/stacks/test_checkov.py's to prove (it scans the templates with the skips stripped).
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no one CloudFormation resource to acknowledge {check_id} on")
    if not CHECKOV_CHECK_ID.fullmatch(check_id):
        raise ValueError(f"{check_id!r} on {resource.node.path} is not a checkov check id (like CKV_AWS_117)")
    if len(reason.strip()) < MIN_CHECKOV_REASON:
        raise ValueError(f"{check_id} on {resource.node.path}: say why in at least {MIN_CHECKOV_REASON} characters")
    checkov = dict(resource.get_metadata("checkov") or {})
    skips = list(checkov.get("skip", []))
    if any(skip["id"] == check_id for skip in skips):
        raise ValueError(f"{check_id} is already acknowledged on {resource.node.path}")
    resource.add_metadata("checkov", {**checkov, "skip": [*skips, {"id": check_id, "comment": reason}]})
