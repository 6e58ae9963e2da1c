"""CloudTrail management events as the requests IAM evaluates for them, for the evaluator's tests and the demo.

One event authorizes one or more resources: ``RunInstances`` the new instance and each new volume (each with the
tags its ``tagSpecificationSet`` gives that resource type), ``CreateSnapshot`` the new snapshot and its source
volume. The principal is the role of an assumed-role session (``sessionContext.sessionIssuer.arn``, which is what
``aws:PrincipalArn`` holds), else the identity's own ARN. Only the event shapes the tests use are read; anything else
raises :class:`UnreadableEventError` naming the event field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stacks.policies.evaluate import Request

__all__ = ["UnreadableEventError", "requests_from_event"]


class UnreadableEventError(ValueError):
    """The event lacks a field these requests are read from; the message names it."""


def _get(event: Mapping[str, Any], *path: str) -> Any:
    value: Any = event
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            raise UnreadableEventError(f"the event has no {'.'.join(path)}")
        value = value[part]
    return value


def _principal(event: Mapping[str, Any]) -> tuple[str, bool]:
    identity = _get(event, "userIdentity")
    issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
    arn = str(issuer.get("arn") or _get(event, "userIdentity", "arn"))
    return arn, "/aws-service-role/" in arn


def _ec2_tags(parameters: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """resourceType -> tags, from ``tagSpecificationSet`` (EC2's CloudTrail form of TagSpecifications)."""
    found: dict[str, dict[str, str]] = {}
    for spec in parameters.get("tagSpecificationSet", {}).get("items", []):
        tags = {t["key"]: t.get("value", "") for t in spec.get("tags", [])}
        found.setdefault(spec["resourceType"], {}).update(tags)
    return found


def _ec2_arn(region: str, account: str, resource_id: str) -> str:
    kinds = {"i-": "instance", "vol-": "volume", "snap-": "snapshot"}
    kind = next((k for prefix, k in kinds.items() if resource_id.startswith(prefix)), None)
    if kind is None:
        raise UnreadableEventError(
            f"requestParameters.resourcesSet: {resource_id} is not an instance, volume or snapshot"
        )
    return f"arn:aws:ec2:{region}:{'' if kind == 'snapshot' else account}:{kind}/{resource_id}"


def requests_from_event(event: Mapping[str, Any]) -> list[Request]:
    """The requests IAM evaluated for ``event`` (one per authorized resource)."""
    source = str(_get(event, "eventSource")).split(".", 1)[0]
    name = str(_get(event, "eventName"))
    action = f"{source}:{name}"
    region, account = str(_get(event, "awsRegion")), str(_get(event, "recipientAccountId"))
    principal, service_linked = _principal(event)
    parameters: Mapping[str, Any] = event.get("requestParameters") or {}

    def request(resource: str, tags: Mapping[str, str] | None = None, keys: tuple[str, ...] | None = None) -> Request:
        return Request(action, principal, resource, dict(tags or {}), keys, service_linked)

    ec2 = f"arn:aws:ec2:{region}:{account}"
    if action == "ec2:RunInstances":
        by_type = _ec2_tags(parameters)
        return [
            request(f"{ec2}:instance/*", by_type.get("instance")),
            request(f"{ec2}:volume/*", by_type.get("volume")),
        ]
    if action == "ec2:CreateVolume":
        return [request(f"{ec2}:volume/*", _ec2_tags(parameters).get("volume"))]
    if action == "ec2:CreateSnapshot":
        volume = str(_get(event, "requestParameters", "volumeId"))
        return [
            request(f"arn:aws:ec2:{region}::snapshot/*", _ec2_tags(parameters).get("snapshot")),
            request(f"{ec2}:volume/{volume}"),
        ]
    if action in ("ec2:DeleteTags", "ec2:CreateTags"):
        items = _get(event, "requestParameters", "resourcesSet", "items")
        tag_items = parameters.get("tagSet", {}).get("items")
        keys = None if tag_items is None else tuple(t["key"] for t in tag_items)
        valued = {t["key"]: t["value"] for t in tag_items or [] if "value" in t}
        return [request(_ec2_arn(region, account, i["resourceId"]), valued, keys) for i in items]
    if action == "rds:CreateDBInstance":
        identifier = str(_get(event, "requestParameters", "dBInstanceIdentifier"))
        rds_tags = {t["key"]: t.get("value", "") for t in parameters.get("tags", [])}
        return [request(f"arn:aws:rds:{region}:{account}:db:{identifier}", rds_tags)]
    if action == "rds:RemoveTagsFromResource":
        resource = str(_get(event, "requestParameters", "resourceName"))
        return [request(resource, keys=tuple(_get(event, "requestParameters", "tagKeys")))]
    if action in ("ssm:PutParameter", "ssm:DeleteParameter"):
        parameter = str(_get(event, "requestParameters", "name")).lstrip("/")
        return [request(f"arn:aws:ssm:{region}:{account}:parameter/{parameter}")]
    if action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:AttachRolePolicy"):
        role = str(_get(event, "requestParameters", "roleName"))
        return [request(f"arn:aws:iam::{account}:role/{role}")]
    raise UnreadableEventError(f"eventName: {source}:{name} is not an event this reader knows")
