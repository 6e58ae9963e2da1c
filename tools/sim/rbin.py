"""The Recycle Bin (rbin), which moto does not have: the estate's retention rules, served per account and region.

While :func:`tools.sim.estate.simulated_aws` runs, a boto3 ``rbin`` client made from any session of the simulation
(the management account's, or a member role assumed) gets the rules of the account and region it calls: the account
as moto decides it, from the request's access key (``_moto_internals.account_of``), the region from the endpoint.

Served, as in botocore's rbin model (rest-json):

- ``ListRules`` (``POST /list-rules``): ``ResourceType`` (required), ``LockState``, ``MaxResults`` (1-1,000) and
  ``NextToken``; ``Rules`` of ``Identifier``, ``Description``, ``RetentionPeriod``, ``LockState``, ``RuleArn``.
- ``GetRule`` (``GET /rules/{identifier}``): the rule, ``Status`` ``available``; 404 ``ResourceNotFoundException``
  (``RULE_NOT_FOUND``) for an identifier this account and region do not have.

Limits: the ``ResourceTags`` and ``ExcludeResourceTags`` filters of ListRules are refused (501 ``NotImplemented``),
as is every other operation (CreateRule, UpdateRule, DeleteRule, LockRule, UnlockRule, the tagging calls): rules come
from the estate file (``recycle_bin_rules``), or a test adds them with :meth:`RecycleBin.add`. A locked rule reports
``LockState: locked`` and a 7-day unlock delay; a rule that was never locked reports no ``LockState``, as AWS does.
Requests are not authorised (as moto does not authorise), and nothing is retained: deleting a volume or snapshot
deletes it, whatever the rules say. The clean-up reads the rules to decide; the simulation does not enforce them.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import unquote

import boto3
import botocore.session

from tools.sim._moto_internals import Answer, Incoming
from tools.sim.model import RecycleBinRule

HOST = re.compile(r"rbin\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")
RESOURCE_TYPES = ("EBS_VOLUME", "EBS_SNAPSHOT")
UNLOCK_DELAY_DAYS = 7  # reported for a locked rule: the shortest delay AWS allows


@dataclass(frozen=True)
class ServedRule:
    """A rule of the estate, in force in one account and region under its identifier."""

    identifier: str
    account_id: str
    region: str
    rule: RecycleBinRule

    @property
    def lock_state(self) -> str | None:
        """``locked``, or None for a rule never locked (AWS reports no LockState for it)."""
        return "locked" if self.rule.locked else None

    @property
    def arn(self) -> str:
        return f"arn:aws:rbin:{self.region}:{self.account_id}:rule/{self.identifier}"

    def summary(self) -> dict[str, Any]:
        """The rule as ListRules lists it."""
        summary: dict[str, Any] = {
            "Identifier": self.identifier,
            "Description": self.rule.description or None,
            "RetentionPeriod": {"RetentionPeriodValue": self.rule.retention_days, "RetentionPeriodUnit": "DAYS"},
            "LockState": self.lock_state,
            "RuleArn": self.arn,
        }
        return {k: v for k, v in summary.items() if v is not None}

    def described(self) -> dict[str, Any]:
        """The rule as GetRule returns it."""
        lock = {"UnlockDelay": {"UnlockDelayValue": UNLOCK_DELAY_DAYS, "UnlockDelayUnit": "DAYS"}}
        return {
            **self.summary(),
            "ResourceType": self.rule.resource_type,
            "ResourceTags": _tag_list(self.rule.resource_tags),
            "ExcludeResourceTags": _tag_list(self.rule.exclude_tags),
            "Status": "available",
            **({"LockConfiguration": lock} if self.rule.locked else {}),
        }


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"ResourceTagKey": k, "ResourceTagValue": v} for k, v in tags.items()]


@dataclass
class RecycleBin:
    """The rules in force, by account and region. Seeding fills it from the estate; a test may add to it."""

    rules: dict[tuple[str, str], list[ServedRule]] = field(default_factory=dict)

    def add(self, account_id: str, region: str, rule: RecycleBinRule) -> ServedRule:
        """Put ``rule`` in force in ``account_id``/``region``, with a new identifier (the same for the same estate)."""
        served = self.rules.setdefault((account_id, region), [])
        digest = hashlib.sha256(f"{account_id}/{region}/{len(served)}".encode()).hexdigest()
        added = ServedRule(digest[:11], account_id, region, rule)
        served.append(added)
        return added

    def rules_in(self, account_id: str, region: str) -> list[ServedRule]:
        return list(self.rules.get((account_id, region), []))

    def answer(self, request: Incoming) -> Answer:
        """A served endpoint's answer (see ``_moto_internals.serve``) to one rbin request."""
        rules = self.rules_in(request.account_id, request.region)
        operation = _operation(request.method, request.path)
        if operation == "ListRules":
            return _list_rules(rules, _json(request.body))
        if operation == "GetRule":
            identifier = unquote(request.path.removeprefix("/rules/"))
            found = next((r for r in rules if r.identifier == identifier), None)
            if found is None:
                return _error(404, "ResourceNotFoundException", f"Rule {identifier} not found", "RULE_NOT_FOUND")
            return _ok(found.described())
        return _not_simulated(f"{operation or f'{request.method} {request.path}'} is not simulated")


def _list_rules(rules: list[ServedRule], body: dict[str, Any] | None) -> Answer:
    if body is None:
        return _invalid("the request body is not a JSON object")
    if body.get("ResourceTags") or body.get("ExcludeResourceTags"):
        return _not_simulated("ListRules with ResourceTags or ExcludeResourceTags is not simulated")
    if body.get("ResourceType") not in RESOURCE_TYPES:
        return _invalid(f"ResourceType must be one of {', '.join(RESOURCE_TYPES)} (got {body.get('ResourceType')!r})")
    size = body.get("MaxResults", 1000)
    if not isinstance(size, int) or not 1 <= size <= 1000:
        return _invalid(f"MaxResults must be 1-1000 (got {size!r})")
    token = body.get("NextToken", "0")
    if not (isinstance(token, str) and token.isdigit()):
        return _error(400, "ValidationException", "The NextToken is not valid", "INVALID_PAGE_TOKEN")
    matching = [
        r
        for r in rules
        if r.rule.resource_type == body["ResourceType"]
        and ("LockState" not in body or body["LockState"] == r.lock_state)
    ]
    start = int(token)
    page = matching[start : start + size]
    more = {"NextToken": str(start + size)} if start + size < len(matching) else {}
    return _ok({"Rules": [r.summary() for r in page], **more})


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _ok(body: dict[str, Any]) -> Answer:
    return 200, _headers(), json.dumps(body)


def _invalid(message: str) -> Answer:
    return _error(400, "ValidationException", message, "INVALID_PARAMETER_VALUE")


def _not_simulated(message: str) -> Answer:
    note = " (the simulated Recycle Bin answers ListRules and GetRule; rules come from the estate file)"
    return _error(501, "NotImplemented", message + note)


def _error(status: int, code: str, message: str, reason: str | None = None) -> Answer:
    body = {"Message": message, **({"Reason": reason} if reason else {})}
    return status, {**_headers(), "x-amzn-ErrorType": code}, json.dumps(body)


def _headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}


def _operation(method: str, path: str) -> str | None:
    """The rbin operation a request is, matched against botocore's model (method and request URI)."""
    return next((name for verb, pattern, name in _routes() if verb == method and pattern.fullmatch(path)), None)


@cache
def _routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    model = botocore.session.get_session().get_service_model("rbin")
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        label = r"\\\{[^}]+\\\}"  # an escaped {label}: one path segment, percent-encoded
        routes.append((http["method"], re.compile(re.sub(label, "[^/]+", re.escape(http["requestUri"]))), name))
    return tuple(routes)


# -- seeding and reading back ------------------------------------------------------------------------------------------


def seed(recycle_bin: RecycleBin, account_id: str, region: str, rules: tuple[RecycleBinRule, ...]) -> None:
    for rule in rules:
        recycle_bin.add(account_id, region, rule.model_copy(update={"id": None}))


def dump(session: boto3.Session, region: str) -> tuple[RecycleBinRule, ...]:
    """The region's rules, read back through ListRules and GetRule as the runtime reads them."""
    rbin = session.client("rbin", region_name=region)
    return tuple(_dump_rule(rbin.get_rule(Identifier=listed["Identifier"])) for listed in _listed(rbin))


def _listed(rbin: Any) -> Iterator[dict[str, Any]]:
    for resource_type in RESOURCE_TYPES:
        for page in rbin.get_paginator("list_rules").paginate(ResourceType=resource_type):
            yield from page["Rules"]


def _dump_rule(described: dict[str, Any]) -> RecycleBinRule:
    return RecycleBinRule(
        id=described["Identifier"],
        resource_type=described["ResourceType"],
        retention_days=described["RetentionPeriod"]["RetentionPeriodValue"],
        description=described.get("Description", ""),
        resource_tags=_tags(described.get("ResourceTags")),
        exclude_tags=_tags(described.get("ExcludeResourceTags")),
        locked=described.get("LockState") == "locked",
    )


def _tags(listed: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["ResourceTagKey"]: t.get("ResourceTagValue", "") for t in listed or []}
