"""Helpers for template assertions: find resources without naming logical ids, read policies as plain strings."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig, parse_config


def config_with(config: FinOpsConfig, **sections: Any) -> FinOpsConfig:
    """``config`` with top-level sections deep-merged from ``sections`` and validated again."""
    data = config.model_dump(mode="json")

    def merge(into: dict[str, Any], update: dict[str, Any]) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(data, sections)
    return parse_config(data, source="test variant")


def resources(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    """Logical id -> resource, for assertions that need several resources at once (ids are never asserted)."""
    found: dict[str, Any] = template.find_resources(resource_type, {"Properties": props} if props else None)
    return found


def only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The one resource of ``resource_type`` (matching ``props``): its logical id (for Ref/GetAtt) and body."""
    found = resources(template, resource_type, props)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {len(found)}"
    return next(iter(found.items()))


# stacks.naming.install_id as CloudFormation sees it: the last group of the stack id's UUID.
INSTALL_ID = {
    "Fn::Select": [4, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
}


def per_install(base: str) -> dict[str, Any]:
    """``stacks.naming.retained_name(scope, base)`` in a template."""
    return {"Fn::Join": ["", [f"{base}-", INSTALL_ID]]}


def flatten(value: Any) -> Any:
    """Render Fn::Join/Ref AWS::Partition as a plain string (``arn:${AWS::Partition}:...``) for readable asserts, and
    the install id as ``${InstallId}``."""
    if value == INSTALL_ID:
        return "${InstallId}"
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(flatten(part)) for part in parts)
    if isinstance(value, dict) and set(value) == {"Ref"} and str(value["Ref"]).startswith("AWS::"):
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict):
        return {key: flatten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [flatten(item) for item in value]
    return value


def statements(policy_resource: dict[str, Any], key: str = "PolicyDocument") -> list[dict[str, Any]]:
    statement = policy_resource["Properties"][key]["Statement"]
    return [flatten(s) for s in (statement if isinstance(statement, list) else [statement])]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
