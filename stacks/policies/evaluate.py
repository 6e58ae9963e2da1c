"""A small SCP evaluator, for the tests and the demo: does an SCP deny this request, and which statement?

Pure. It implements the IAM semantics the bundle uses, as the IAM User Guide describes them ("Policy evaluation
logic", "IAM JSON policy elements: Condition", "Condition operators"):

- A request is denied when any statement with ``Effect: Deny`` matches it; else it is allowed when FullAWSAccess (or
  an Allow statement) is attached, which every target has unless someone removed it. SCPs never apply to
  service-linked roles nor to the management account.
- A statement matches when its ``Action`` (or not its ``NotAction``) matches the action, case-insensitively with
  ``*`` and ``?``; its ``Resource`` (or not its ``NotResource``) matches the resource ARN, case-sensitively with ``*``
  and ``?``; and every condition holds: operators are ANDed, keys within an operator are ANDed, and a key's policy
  values are ORed.
- Context key names compare case-insensitively, the tag key in ``aws:RequestTag/<key>`` included (``Team`` satisfies
  ``aws:RequestTag/team``); values compare as the operator says.
- A key missing from the request: ``Null`` ``"true"`` holds; a positive operator (``StringEquals``, ``StringLike``,
  ``ArnLike``, ...) is false; a negated one (``StringNotEquals``, ``ArnNotLike``, ...) is true; ``...IfExists`` is
  true; ``ForAnyValue:`` is false and ``ForAllValues:`` true.
- ``ArnLike``/``ArnEquals`` compare the six colon-separated parts of an ARN separately, each with wildcards.

An operator it does not know raises :class:`UnsupportedPolicyError` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from stacks.policies.model import Explanation, Policy, PolicyType

__all__ = ["Decision", "Request", "UnsupportedPolicyError", "evaluate", "matching_statement"]


class UnsupportedPolicyError(ValueError):
    """A policy uses an element or operator this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One authorization of one action on one resource, as IAM evaluates it.

    ``request_tags``: the tags the request puts on this resource (``aws:RequestTag/<key>``). ``tag_keys``: the keys
    in the request (``aws:TagKeys``); ``None`` means the keys of ``request_tags``, absent when there are none.
    ``service_linked_role``: the principal is a service-linked role (``.../aws-service-role/...``), which no SCP
    restricts.
    """

    action: str
    principal_arn: str
    resource_arn: str
    request_tags: Mapping[str, str] = field(default_factory=dict)
    tag_keys: tuple[str, ...] | None = None
    service_linked_role: bool = False

    @property
    def account(self) -> str:
        """The principal's account (the fifth part of its ARN)."""
        parts = self.principal_arn.split(":")
        return parts[4] if len(parts) > 4 else ""

    def context(self) -> dict[str, list[str]]:
        """The request context: lower-case key name -> values (a single-valued key has one)."""
        found: dict[str, list[str]] = {
            "aws:principalarn": [self.principal_arn],
            "aws:principalaccount": [self.account],
        }
        for key, value in self.request_tags.items():
            found[f"aws:requesttag/{key.lower()}"] = [value]
        keys = tuple(self.request_tags) if self.tag_keys is None else self.tag_keys
        if keys:
            found["aws:tagkeys"] = list(keys)
        return found

    def describe(self) -> str:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(self.request_tags.items())) or "no tags"
        return f"{self.action} by {self.principal_arn} on {self.resource_arn} with {tags}"


@dataclass(frozen=True)
class Decision:
    """Allowed or denied, and why: the denying policy and statement, with its explanation, when there is one."""

    allowed: bool
    reason: str
    policy: str | None = None
    sid: str | None = None
    explanation: Explanation | None = None


@cache
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six parts (arn, partition, service, region, account, resource) each match on their own."""
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(_like(w, g) for w, g in zip(wanted, got, strict=True))


def _as_strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


# operator -> (matches one request value against one policy value, negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: _like(p, v), False),
    "StringNotLike": (lambda p, v: _like(p, v), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda p, v: p.lower() == v.lower(), False),
}


def _condition_holds(operator: str, key: str, policy_values: list[str], context: Mapping[str, list[str]]) -> bool:
    request_values = context.get(key.lower(), [])
    if operator == "Null":
        wanted = {v.lower() for v in policy_values}
        if wanted - {"true", "false"}:
            raise UnsupportedPolicyError(f"Null {key}: expected 'true' or 'false', got {policy_values}")
        return any((not request_values) == (w == "true") for w in wanted)
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition operator {operator} is not implemented")
    match, negated = _OPERATORS[base]

    def value_holds(value: str) -> bool:
        hit = any(match(p, value) for p in policy_values)
        return not hit if negated else hit

    if not request_values:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return if_exists or negated
    if qualifier == "ForAllValues":
        return all(value_holds(v) for v in request_values)
    # ForAnyValue, and a single-valued operator (one request value; several are read as "any of them")
    return any(value_holds(v) for v in request_values)


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, list[str]]) -> bool:
    return all(
        _condition_holds(operator, key, _as_strings(values), context)
        for operator, keys in conditions.items()
        for key, values in keys.items()
    )


def _element(statement: Mapping[str, Any], name: str, negated: str) -> tuple[list[str], bool]:
    if (name in statement) == (negated in statement):
        raise UnsupportedPolicyError(f"statement {statement.get('Sid')!r} needs exactly one of {name} or {negated}")
    return (_as_strings(statement[name]), False) if name in statement else (_as_strings(statement[negated]), True)


def statement_matches(statement: Mapping[str, Any], request: Request) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    if unknown:
        raise UnsupportedPolicyError(f"statement {statement.get('Sid')!r}: {sorted(unknown)} are not implemented")
    actions, not_action = _element(statement, "Action", "NotAction")
    if any(_like(a, request.action, ignore_case=True) for a in actions) == not_action:
        return False
    resources, not_resource = _element(statement, "Resource", "NotResource")
    if any(_like(r, request.resource_arn) for r in resources) == not_resource:
        return False
    return _conditions_hold(statement.get("Condition", {}), request.context())


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statement = document.get("Statement", [])
    return statement if isinstance(statement, list) else [statement]


def matching_statement(
    documents: Iterable[Mapping[str, Any]], request: Request, *, effect: str = "Deny"
) -> tuple[int, Mapping[str, Any]] | None:
    """The first statement of ``effect`` matching ``request``, with the index of its document; None if none does."""
    for index, document in enumerate(documents):
        for statement in _statements(document):
            if statement.get("Effect") == effect and statement_matches(statement, request):
                return index, statement
    return None


def evaluate(
    policies: Sequence[Policy],
    request: Request,
    *,
    management_account_id: str | None = None,
    full_aws_access: bool = True,
) -> Decision:
    """Whether the SCPs among ``policies`` (attached to the request's account) deny ``request``.

    ``full_aws_access``: the AWS-managed FullAWSAccess SCP is attached too (the default on every target); without
    it, a request is allowed only where an Allow statement of these SCPs matches.
    """
    scps = [p for p in policies if p.type is PolicyType.SERVICE_CONTROL_POLICY]
    if request.service_linked_role:
        return Decision(True, "allowed: SCPs never restrict a service-linked role")
    if management_account_id is not None and request.account == management_account_id:
        return Decision(True, "allowed: SCPs never apply to the management account")
    denied = matching_statement([p.document for p in scps], request)
    if denied is not None:
        index, statement = denied
        policy = scps[index]
        sid = str(statement.get("Sid", ""))
        return Decision(
            False,
            f"denied by {policy.name}, statement {sid}",
            policy=policy.name,
            sid=sid,
            explanation=policy.explanation(sid),
        )
    if full_aws_access:
        return Decision(True, "allowed: no statement of the bundle denies it (FullAWSAccess allows it)")
    allowed = matching_statement([p.document for p in scps], request, effect="Allow")
    if allowed is None:
        return Decision(False, "denied: no SCP allows it (without FullAWSAccess, only an Allow statement does)")
    return Decision(True, f"allowed by {scps[allowed[0]].name}, statement {allowed[1].get('Sid', '')}")
