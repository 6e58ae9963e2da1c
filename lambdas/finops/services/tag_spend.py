"""The share of the Organization's spend attributable to a team: Cost Explorer grouped by the team tag.

Cost Explorer answers for the whole Organization only in the management account, so the hub reads it through the
role ``finops-cost-reader`` there (:func:`cost_explorer`), which may call exactly :data:`COST_READER_PERMISSIONS`.

The query (:func:`spend_request`): ``GetCostAndUsage`` over the **last 30 full days** (UTC, ending before the run's
day), ``MONTHLY`` granularity (one or two partial months: the fewest pages), metric ``AmortizedCost``, grouped by
``TAG`` = ``notifications.owner_tag_key``, without credits, refunds and tax (``RECORD_TYPE``).

- 30 days rather than the last calendar month: the run is daily and the digest weekly, and a tag fixed this week
  must show in this week's figure; a calendar month would stay flat for a month and then jump. The last day is
  excluded because Cost Explorer has not finished it.
- ``AmortizedCost`` rather than ``UnblendedCost``: FinOps allocation spreads Savings Plans and Reserved Instances over
  the usage they cover. Unblended, a commitment's fee is one untagged line in the account that bought it, and the
  covered (tagged) usage nets to zero, so buying a Savings Plan would look like losing attribution.
- Credits, refunds and tax carry no resource tags and are no team's doing: left in, they would count as unattributed
  (tax) or shrink the total (credits). Support fees and Marketplace charges stay in: they are spend, untagged.

Cost Explorer names each group ``<key>$<value>``; ``<key>$`` is the spend without the tag: the unattributed spend.
A value the taxonomy does not allow for the key (``team$Payments``, ``team$paymnts``) is tagged but not a known team,
valued apart. ``ListCostAllocationTags`` says whether the key is an active cost allocation tag: until it is, Cost
Explorer groups nothing by it and all spend looks unattributed, and the result says how to activate it.

API shapes, as checked against the references:
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html
(TimePeriod Start inclusive, End exclusive; GroupBy [{Type: TAG, Key}]; NextPageToken),
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_Group.html (Keys, Metrics {Amount, Unit}),
https://docs.aws.amazon.com/goto/WebAPI/ce-2017-10-25/GroupDefinition (Type DIMENSION | TAG | COST_CATEGORY),
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_ListCostAllocationTags.html
(TagKeys, Type UserDefined, Status Active | Inactive, NextToken).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AwsClients
from finops.aws.errors import error_text
from finops.models.config import FinOpsConfig, TagRule, tag_rule_problem

__all__ = [
    "COST_EXPLORER_REGION",
    "COST_READER_PERMISSIONS",
    "COST_READER_ROLE_NAME",
    "HUB_ROLE_PREFIX",
    "METRIC",
    "PERIOD_DAYS",
    "SPEND_READER_ROLE_NAME",
    "cost_explorer",
    "spend_from_groups",
    "spend_kpi",
    "spend_request",
]

# The role in the management account (stacks/constructs/cost_reader_role.py creates it by this name) and what it may
# call: what this module calls, and nothing else.
COST_READER_ROLE_NAME = "finops-cost-reader"
COST_READER_PERMISSIONS: tuple[str, ...] = ("ce:GetCostAndUsage", "ce:ListCostAllocationTags")
# The hub function that calls spend_kpi (finops-engine-aggregate): the one role the cost reader trusts.
SPEND_READER_ROLE_NAME = "finops-engine-aggregate"
HUB_ROLE_PREFIX = "finops-"  # every hub function's role (stacks.naming.NAME_PREFIX)
COST_EXPLORER_REGION = "us-east-1"  # Cost Explorer's one endpoint
SESSION_NAME = "finops-tag-compliance-spend"
PERIOD_DAYS = 30
METRIC = "AmortizedCost"
GRANULARITY = "MONTHLY"
EXCLUDED_RECORD_TYPES = ("Credit", "Refund", "Tax")
MAX_PAGES = 100  # a guard against a token that never ends; 30 days of one tag key is a page or two
CENT = Decimal("0.01")
NOT_CHECKED = "not checked"  # ListCostAllocationTags failed: the tag's status is unknown


def spend_kpi(clients: AwsClients, config: FinOpsConfig, now: datetime) -> dict[str, Any]:
    """The spend KPI for the 30 full days before ``now``'s day; never raises: an AWS error is ``{"error", "notes"}``
    (with the period and tag key), so the run goes on without it."""
    key = config.notifications.owner_tag_key
    request = spend_request(key, now)
    period = {"start": request["TimePeriod"]["Start"], "end": request["TimePeriod"]["End"]}
    management = config.organization.management_account_id
    try:
        ce, via = cost_explorer(clients, config)
        groups, estimated = _groups(ce, request)
    except (ClientError, BotoCoreError) as exc:
        return {
            "error": error_text(exc),
            "period": period,
            "tag_key": key,
            "notes": [_access_note(exc, management)],
        }
    statuses, tag_note = _tag_statuses(ce, key)
    result = spend_from_groups(groups, key=key, rule=_team_rule(config, key), statuses=statuses)
    notes = [*result.pop("notes"), *([tag_note] if tag_note else [])]
    if estimated:
        notes.append("Cost Explorer marks the latest figures as estimated: they may still change a little.")
    return {"period": period, "metric": METRIC, "via": via, **result, "notes": notes}


def spend_request(tag_key: str, now: datetime) -> dict[str, Any]:
    """The GetCostAndUsage request (without its page token): the 30 full days before ``now``'s day (UTC)."""
    end = _utc_day(now)
    start = end - timedelta(days=PERIOD_DAYS)
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},  # End is exclusive
        "Granularity": GRANULARITY,
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "TAG", "Key": tag_key}],
        "Filter": {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(EXCLUDED_RECORD_TYPES)}}},
    }


def cost_explorer(clients: AwsClients, config: FinOpsConfig) -> tuple[Any, str]:
    """A Cost Explorer client that sees the whole Organization, and how it was obtained (for the result).

    With the management account's own credentials (``make run`` signed in there), call directly; from anywhere else,
    and always from a hub function's role (whose policy grants no ``ce:`` action, even in a one-account set-up),
    through :data:`COST_READER_ROLE_NAME` in the management account. In ``make invoke`` that is moto's STS and CE.
    """
    management = config.organization.management_account_id
    caller = clients.client("sts").get_caller_identity()
    arn = str(caller.get("Arn", ""))
    if str(caller.get("Account")) == management and f":assumed-role/{HUB_ROLE_PREFIX}" not in arn:
        return clients.client("ce", COST_EXPLORER_REGION), f"the management account's own credentials ({arn})"
    scope = clients.assume_role(
        management, COST_EXPLORER_REGION, role_name=COST_READER_ROLE_NAME, session_name=SESSION_NAME
    )
    return scope.client("ce"), f"role {COST_READER_ROLE_NAME} in the management account {management}"


def spend_from_groups(
    groups: Mapping[str, Decimal],
    *,
    key: str,
    rule: TagRule | None,
    statuses: Mapping[str, str],
) -> dict[str, Any]:
    """Pure: the KPI from the spend per Cost Explorer group key (``team$payments``: amount) and the tag's status."""
    by_team: dict[str, Decimal] = {}
    unknown: dict[str, Decimal] = {}
    unattributed = Decimal(0)
    for group, amount in groups.items():
        value = _tag_value(group, key)
        if not value:
            unattributed += amount
        elif rule is None or tag_rule_problem(rule, value) is None:
            by_team[value] = by_team.get(value, Decimal(0)) + amount
        else:
            unknown[value] = unknown.get(value, Decimal(0)) + amount
    attributed = sum(by_team.values(), Decimal(0))
    total = attributed + unattributed + sum(unknown.values(), Decimal(0))
    notes = []
    if not groups:
        notes.append(f"no spend reported for the period: Cost Explorer returned no costs grouped by {key!r}")
    elif total <= 0:
        notes.append("the spend in the period adds up to $0.00: no share to report")
    if unknown:
        listed = ", ".join(f"{v!r} ({_usd(a)})" for v, a in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))
        notes.append(f"tagged {key!r} with values that are not teams in the taxonomy, so not attributed: {listed}")
    if rule is None:
        notes.append(f"the taxonomy has no rule for {key!r}: every value of the tag counts as a team")
    status = statuses.get(key)
    if status not in ("Active", NOT_CHECKED):
        notes.append(_activation_note(key, status))
    percent = float((attributed / total * 100).quantize(Decimal("0.1"))) if total > 0 else None
    return {
        "tag_key": key,
        "total_usd": _money(total),
        "attributed_usd": _money(attributed),
        "unattributed_usd": _money(unattributed),
        "percent_attributable": percent,
        "by_team": {team: _money(amount) for team, amount in sorted(by_team.items())},
        "unknown_teams": {value: _money(amount) for value, amount in sorted(unknown.items())},
        "cost_allocation_tags": {key: status or "not found"},
        "notes": notes,
    }


# --- the calls ---------------------------------------------------------------------------------------------------


def _groups(ce: Any, request: Mapping[str, Any]) -> tuple[dict[str, Decimal], bool]:
    """The amount per group key over every period and page, and whether any period is an estimate."""
    groups: dict[str, Decimal] = {}
    estimated = False
    for page in _pages(ce, request):
        for period in page.get("ResultsByTime", []):
            estimated = estimated or bool(period.get("Estimated"))
            for group in period.get("Groups", []):
                keys = group.get("Keys") or [""]
                amount = _amount(group.get("Metrics", {}).get(METRIC, {}))
                groups[keys[0]] = groups.get(keys[0], Decimal(0)) + amount
    return groups, estimated


def _pages(ce: Any, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    token: str | None = None
    for _ in range(MAX_PAGES):
        page: dict[str, Any] = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def _tag_statuses(ce: Any, key: str) -> tuple[dict[str, str], str | None]:
    """The key's status as a cost allocation tag; on an error, none, and a note saying it could not be checked."""
    statuses: dict[str, str] = {}
    token: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = ce.list_cost_allocation_tags(
                TagKeys=[key], Type="UserDefined", **({"NextToken": token} if token else {})
            )
            statuses.update({str(t.get("TagKey")): str(t.get("Status")) for t in page.get("CostAllocationTags", [])})
            token = page.get("NextToken")
            if not token:
                break
    except (ClientError, BotoCoreError, NotImplementedError) as exc:  # moto implements no ListCostAllocationTags
        return {
            key: NOT_CHECKED
        }, f"could not check whether {key!r} is an active cost allocation tag: {error_text(exc)}"
    return statuses, None


# --- the words ---------------------------------------------------------------------------------------------------


def _activation_note(key: str, status: str | None) -> str:
    why = (
        f"{key!r} is not a cost allocation tag yet (no resource carried it in the billing data, or it was never "
        "activated)"
        if status is None
        else f"cost allocation tag {key!r} is {status}"
    )
    return (
        f"{why}: Cost Explorer groups no spend by it, so the spend looks unattributed. Activate it in the management "
        f"account: Billing and Cost Management console → Cost allocation tags → tick {key!r} → Activate, or "
        f"`aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey={key},Status=Active`. "
        "It takes effect within 24 hours; for earlier months request a backfill there, or "
        "`aws ce start-cost-allocation-tag-backfill --backfill-from <first day of a month>T00:00:00Z`."
    )


def _access_note(exc: Exception, management: str) -> str:
    text = error_text(exc)
    if "AccessDenied" in text or "not authorized" in text:
        return (
            f"the spend KPI needs the role {COST_READER_ROLE_NAME} in the management account {management} (the "
            "management stack creates it when capabilities.tag_compliance.enabled is true), assumable only by the "
            f"hub's {SPEND_READER_ROLE_NAME}; outside the hub, run with the management account's credentials"
        )
    return "the spend KPI is missing from this run; the resource KPIs are complete"


# --- values ------------------------------------------------------------------------------------------------------


def _team_rule(config: FinOpsConfig, key: str) -> TagRule | None:
    rules = config.taxonomy.tags
    return next((r for r in rules if r.key == key), None) or next(
        (r for r in rules if r.key.lower() == key.lower()), None
    )


def _tag_value(group: str, key: str) -> str:
    """``team$payments`` -> ``payments``; ``team$`` -> ``""`` (the spend without the tag)."""
    prefix = f"{key}$"
    if group.startswith(prefix):
        return group[len(prefix) :]
    return group.partition("$")[2]


def _amount(metric: Mapping[str, Any]) -> Decimal:
    try:
        amount = Decimal(str(metric.get("Amount", "0")))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


def _money(amount: Decimal) -> float:
    return float(amount.quantize(CENT))


def _usd(amount: Decimal) -> str:
    return f"${amount.quantize(CENT):,}"


def _utc_day(now: datetime) -> date:
    return (now.astimezone(UTC) if now.tzinfo else now).date()
