"""The Tag Policy generated from the taxonomy: each key's casing and, where the rule lists them, its allowed values;
``enforced_for`` only for the types in ``policies.enforced_for`` (reporting only by default, because enforcement
refuses every non-compliant tagging call on those types, ours included).

Tag Policies have no regular expressions and no notion of a value's case: ``pattern`` and ``case`` rules are checked
by the tag_compliance capability, not here. Tag Policies do not require a key either (the SCPs do, at creation).
Syntax: "Tag policy syntax and examples" in the Organizations user guide; the policy key is the tag key in lower case,
``tag_key`` its exact casing.
"""

from __future__ import annotations

from typing import Any

from finops.models.config import FinOpsConfig, TagCase, TagRule
from stacks.policies.limits import TAG_POLICY_MAX_CHARS
from stacks.policies.model import Explanation, Policy, PolicyType

__all__ = ["TAG_POLICY_NAME", "tag_policy"]

TAG_POLICY_NAME = "finops-tag-policy"


def _entry(rule: TagRule, enforced_for: tuple[str, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {"tag_key": {"@@assign": rule.key}}
    if rule.allowed_values:
        entry["tag_value"] = {"@@assign": sorted(rule.allowed_values)}
    if enforced_for:
        entry["enforced_for"] = {"@@assign": sorted(enforced_for)}
    return entry


def _explanation(index: int, rule: TagRule, enforced_for: tuple[str, ...]) -> Explanation:
    values = (
        f", or with a value other than {', '.join(f'`{v}`' for v in sorted(rule.allowed_values))}"
        if rule.allowed_values
        else "; any value is compliant"
    )
    unchecked = []
    if rule.pattern is not None:
        unchecked.append(f"the pattern `{rule.pattern}`")
    if rule.case is not TagCase.EXACT and not rule.allowed_values:
        unchecked.append(f"{rule.case.value}-case values")
    left = (
        f" Tag Policies have no form for {' and '.join(unchecked)}: the tag_compliance capability checks it"
        if unchecked
        else ""
    )
    enforcement = (
        f"refused (the tagging call fails) on {', '.join(sorted(enforced_for))}, and reported on other types"
        if enforced_for
        else "reported only (policies.enforced_for is empty): nothing is refused"
    )
    return Explanation(
        sid=rule.key.lower(),
        denied=(
            f"the key `{rule.key}` written in another casing (`{rule.key.upper()}`, `{rule.key.capitalize()}`, ...)"
            f"{values}. Non-compliant tags are {enforcement}.{left}"
        ),
        to_whom="every account the Tag Policy is attached to (the management account too, if attached to it)",
        exceptions="none; a resource without the tag is not non-compliant to a Tag Policy (the SCPs require the key)",
        why=(
            f"taxonomy.tags[{index}]{' (required)' if rule.required else ' (optional)'}"
            f"{': ' + rule.description.rstrip('.') if rule.description else ''}. One spelling per key keeps Cost "
            "Explorer's grouping and the cost allocation tags whole"
        ),
    )


def tag_policy(config: FinOpsConfig) -> Policy:
    """The one Tag Policy for the taxonomy, keys sorted (their lower-case form is the policy key)."""
    enforced_for = config.policies.enforced_for
    rules = sorted(enumerate(config.taxonomy.tags), key=lambda r: r[1].key.lower())
    document = {"tags": {rule.key.lower(): _entry(rule, enforced_for) for _, rule in rules}}
    keys = ", ".join(rule.key for _, rule in rules)
    return Policy(
        name=TAG_POLICY_NAME,
        type=PolicyType.TAG_POLICY,
        description=(
            f"FinOps: the casing and allowed values of the taxonomy's tag keys ({keys})"[:400]
            + (", enforced for " + ", ".join(sorted(enforced_for)) if enforced_for else ", reporting only")
        )[:512],
        document=document,
        explanations=tuple(_explanation(index, rule, enforced_for) for index, rule in rules),
        limit=TAG_POLICY_MAX_CHARS,
    )
