"""cdk-nag acknowledgments for wildcard resources, named the way cdk-nag names the finding.

cdk-nag's IAM5 finding id carries the resource as the synthesized template has it, with references flattened
(``<LogicalId.Arn>:*``). Building the id from the same value the policy grants keeps an acknowledgment pinned to that
one resource string, without writing a logical id by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
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
