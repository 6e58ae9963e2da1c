"""The tags on every resource this app owns, checked against the taxonomy the same config ships as tag policy.

Our own resources must pass the policy we ask everyone else to follow. ``team`` comes from the config (the team that
owns the automation account); the other values are this product's defaults. When the configured taxonomy does not
accept them, synth stops with the tag and the reason rather than deploying resources that break the tag policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from finops.models.config import FinOpsConfig, TagCase, TagRule

DEFAULT_TAG_VALUES: Mapping[str, str] = {
    "team": "platform",
    "environment": "prod",
    "cost-center": "CC-0001",
}


class OwnTagsError(ValueError):
    """The app's own resource tags do not satisfy the configured taxonomy; ``str()`` lists each problem."""


def tag_value_problem(rule: TagRule, value: str) -> str | None:
    """Why ``value`` is not acceptable for ``rule`` (case, allowed values, pattern), or None when it is."""
    if rule.case is TagCase.LOWER and value != value.lower():
        return f"{value!r} must be lower case"
    if rule.case is TagCase.UPPER and value != value.upper():
        return f"{value!r} must be upper case"
    if rule.allowed_values and value not in rule.allowed_values:
        return f"{value!r} is not one of {list(rule.allowed_values)}"
    if rule.pattern is not None and re.fullmatch(rule.pattern, value) is None:
        return f"{value!r} does not match {rule.pattern}"
    return None


def own_resource_tags(config: FinOpsConfig) -> dict[str, str]:
    """The tags for our resources: one per taxonomy key we have a value for, each valid under its rule.

    Raises :class:`OwnTagsError` naming every required key without a value and every value the rule rejects.
    """
    defaults = {key.lower(): value for key, value in DEFAULT_TAG_VALUES.items()}
    automation_team = config.notifications.account_teams.get(config.organization.automation_account_id)
    if automation_team is not None:
        defaults["team"] = automation_team
    tags: dict[str, str] = {}
    problems: list[str] = []
    for rule in config.taxonomy.tags:
        value = defaults.get(rule.key.lower())
        if value is None:
            if rule.required:
                problems.append(f"taxonomy.tags[{rule.key}]: required, but this app has no value for it")
            continue
        problem = tag_value_problem(rule, value)
        if problem is not None:
            problems.append(f"taxonomy.tags[{rule.key}]: our own resources would be tagged {problem}")
            continue
        tags[rule.key] = value
    if problems:
        raise OwnTagsError(
            "the resources this app deploys would not pass the configured tag taxonomy "
            "(edit stacks/tagging.py DEFAULT_TAG_VALUES or the taxonomy):\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return tags
