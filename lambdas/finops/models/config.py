"""The one typed model of ``finops.yaml``.

The same model validates the file at synth time (``app.py``), in ``make demo``/``make invoke`` and in every Lambda at
cold start, so a bad file fails the same way everywhere: with the key path and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from finops.models.base import AccountId, Mode, StrictModel
from finops.models.cleanup_config import EbsCleanupConfig
from finops.models.governance_config import (
    AutoTaggerConfig,
    PoliciesConfig,
    TagComplianceConfig,
    TagEnforcementConfig,
)
from finops.models.problems import Loc, Mark, ProblemsError, problems, read_document
from finops.models.scheduler_config import SchedulerConfig

__all__ = ["ConfigError", "FinOpsConfig", "Mode", "load_config", "parse_config"]

# The descriptions are what a pattern mismatch says ("expected an AWS region name, e.g. eu-west-1 (got 'eu-west')").
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="an AWS region name, e.g. eu-west-1")]
OuId = Annotated[
    str,
    Field(
        pattern=r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$",
        description="an OU id such as ou-ab12-cd34ef56, or the root's id such as r-ab12",
    ),
]
Channel = Annotated[
    str,
    Field(
        pattern=r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,})$",
        description="a Slack channel: #name in lower case without spaces, or a channel id such as C0123ABCD",
    ),
]


class ConfigError(ProblemsError):
    """The config file is unreadable or invalid; ``str()`` lists every problem with its key path."""

    what = "FinOps config"


class TagMatch(StrictModel):
    """A tag and the values that make it match: values compare case-insensitively, trimmed."""

    key: str = Field(min_length=1, max_length=128)
    values: tuple[str, ...] = Field(min_length=1)

    def value_in(self, tags: Mapping[str, str]) -> str | None:
        """The tag's value; its key is compared case-insensitively and trimmed (``Finops:Protect`` counts)."""
        return tag_value(tags, self.key)

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Any key matching case-insensitively with one of the values (``finops:protect=false`` beside
        ``FinOps:Protect=true`` matches)."""
        wanted = {v.strip().lower() for v in self.values}
        return any(value.strip().lower() in wanted for _, value in tag_items(tags, self.key))


def tag_value(tags: Mapping[str, str], key: str) -> str | None:
    """``tags[key]``, the key compared case-insensitively and trimmed: a guard must not miss ``Environment``.
    For a guard, use :func:`tag_items`: EC2 keys are case-sensitive, so one resource can carry both ``environment``
    and ``Environment``, and this returns only one of them."""
    if key in tags:
        return tags[key]
    wanted = key.strip().lower()
    return next((value for name, value in tags.items() if name.strip().lower() == wanted), None)


def tag_items(tags: Mapping[str, str], key: str) -> list[tuple[str, str]]:
    """Every ``(key, value)`` whose key matches ``key`` case-insensitively and trimmed, the exact key first."""
    wanted = key.strip().lower()
    found = [(name, value) for name, value in tags.items() if name.strip().lower() == wanted]
    return sorted(found, key=lambda item: item[0] != key)


# A protect tag with one of these values is not a protection; any other value is (a typo must not unprotect).
NOT_PROTECTED = frozenset({"false", "no", "0", "off", ""})

RootId = Annotated[str, Field(pattern=r"^r-[0-9a-z]{4,32}$", description="the Organization root's id, e.g. r-ab12")]


class StackSetAdministrator(StrEnum):
    """Where the member StackSets are administered: the management account, or a registered delegated admin."""

    MANAGEMENT = "management"
    DELEGATED = "delegated"


class StackSetsConfig(StrictModel):
    """The service-managed StackSets that deploy ``FinOpsMember`` (one region) and ``FinOpsMemberRegional`` (every
    region of ``organization.regions``) to the deployment OUs, with auto-deployment (docs/deploy.md).

    Failure tolerance and concurrency are each a percentage or a count, not both; a count given replaces the default
    percentage. They apply per region to each StackSet operation (create, update, delete), never to the auto-deployment
    of an account that joins an OU.
    """

    enabled: bool = True
    administrator: StackSetAdministrator = StackSetAdministrator.MANAGEMENT
    delegated_admin_account_id: AccountId | None = None
    deployment_ous: tuple[OuId, ...] = Field(
        default=(), description="the OUs (or the root) the StackSets target; empty: target_ous, else root_id"
    )
    member_region: Region = "us-east-1"  # the one region of the member role's stack (IAM is global)
    failure_tolerance_percentage: int | None = Field(default=10, ge=0, le=100)
    failure_tolerance_count: int | None = Field(default=None, ge=0)
    max_concurrent_percentage: int | None = Field(default=25, ge=1, le=100)
    max_concurrent_count: int | None = Field(default=None, ge=1)
    concurrency_mode: Literal["strict", "soft"] = "strict"
    region_concurrency: Literal["parallel", "sequential"] = "parallel"
    retain_stacks_on_account_removal: bool = False

    @model_validator(mode="before")
    @classmethod
    def _a_count_replaces_the_default_percentage(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        defaults: dict[str, None] = {}
        for setting in ("failure_tolerance", "max_concurrent"):
            if data.get(f"{setting}_count") is not None and f"{setting}_percentage" not in data:
                defaults[f"{setting}_percentage"] = None
        return {**defaults, **data}

    @model_validator(mode="after")
    def _one_form_of_each_preference(self) -> StackSetsConfig:
        found = []
        twice = sorted({ou for ou in self.deployment_ous if self.deployment_ous.count(ou) > 1})
        if twice:
            found.append(f"deployment_ous {twice} are listed twice")
        for setting in ("failure_tolerance", "max_concurrent"):
            percentage, count = getattr(self, f"{setting}_percentage"), getattr(self, f"{setting}_count")
            if percentage is not None and count is not None:
                found.append(
                    f"{setting}_percentage ({percentage}) and {setting}_count ({count}) are both set: CloudFormation "
                    "takes one of the two, remove the other"
                )
            elif percentage is None and count is None:
                found.append(f"set {setting}_percentage or {setting}_count")
        if found:
            raise ValueError("; ".join(found))
        return self


class OrganizationConfig(StrictModel):
    management_account_id: AccountId
    automation_account_id: AccountId
    member_role_name: str = Field(default="FinOpsMemberRole", pattern=r"^[\w+=,.@-]{1,64}$")
    organization_id: str | None = Field(
        default=None,
        pattern=r"^o-[a-z0-9]{10,32}$",
        description="the Organization's id; the member role's trust requires it (aws:PrincipalOrgID)",
    )
    target_ous: tuple[OuId, ...] = ()
    target_accounts: tuple[AccountId, ...] = ()
    excluded_accounts: tuple[AccountId, ...] = ()
    excluded_ous: tuple[OuId, ...] = ()
    exclude_account_tag: TagMatch = TagMatch(key="finops:exclude", values=("true",))
    prod_accounts: tuple[AccountId, ...] = ()
    prod_ous: tuple[OuId, ...] = ()
    include_management_account: bool = False
    regions: tuple[Region, ...] = Field(min_length=1)
    manage_resource_policy: bool = Field(
        default=True,
        description=(
            "true: the management stack creates the Organizations resource policy that delegates the hub's reads; "
            "false: the Organization already has one (it may have only one), so the stack creates none and "
            "`make org-resource-policy` prints the statement to merge into it"
        ),
    )
    root_id: RootId | None = Field(
        default=None, description="the Organization root's id: the StackSets' target when no OU is named"
    )
    stacksets: StackSetsConfig = StackSetsConfig()

    @field_validator("regions")
    @classmethod
    def _regions_once(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({r for r in regions if regions.count(r) > 1})
        if twice:
            raise ValueError(f"regions {twice} are listed twice: each would be a target twice")
        return regions

    @model_validator(mode="after")
    def _no_account_both_targeted_and_excluded(self) -> OrganizationConfig:
        both = sorted(set(self.target_accounts) & set(self.excluded_accounts))
        if both:
            raise ValueError(f"accounts {both} are in both target_accounts and excluded_accounts")
        return self

    @model_validator(mode="after")
    def _stacksets_agree_with_the_organization(self) -> OrganizationConfig:
        stacksets = self.stacksets
        if not stacksets.enabled:
            return self
        found = []
        delegated = stacksets.delegated_admin_account_id
        if stacksets.administrator is StackSetAdministrator.DELEGATED:
            if delegated is None:
                found.append(
                    "stacksets.delegated_admin_account_id: required with stacksets.administrator: delegated (the "
                    "account registered as the StackSets delegated administrator, docs/deploy.md)"
                )
            elif delegated == self.management_account_id:
                found.append(
                    f"stacksets.delegated_admin_account_id: {delegated} is the management account, which cannot be "
                    "its own delegated administrator: set stacksets.administrator: management instead"
                )
        elif delegated is not None:
            found.append(
                f"stacksets.administrator: management, but stacksets.delegated_admin_account_id names {delegated}: "
                "set administrator: delegated to administer the StackSets there, or remove delegated_admin_account_id"
            )
        if not self.stackset_ous():
            found.append(
                "stacksets.deployment_ous: the StackSets need an OU or the root to deploy to, and neither "
                "stacksets.deployment_ous nor target_ous names one: set organization.root_id (aws organizations "
                "list-roots --query 'Roots[0].Id') to reach every account, or name the OUs"
            )
        excluded = sorted(set(self.stackset_ous()) & set(self.excluded_ous))
        if excluded:
            source = "stacksets.deployment_ous" if stacksets.deployment_ous else "target_ous"
            found.append(
                f"{source}: {excluded} are in excluded_ous too, so the StackSets would deploy the member role where "
                "the engine never acts: remove them from one of the two"
            )
        if found:
            raise ValueError("; ".join(found))
        return self

    def stackset_ous(self) -> tuple[str, ...]:
        """The OUs (or the root) the member StackSets target: ``stacksets.deployment_ous``, else ``target_ous``, else
        ``root_id``; empty when none is known."""
        if self.stacksets.deployment_ous:
            return self.stacksets.deployment_ous
        if self.target_ous:
            return self.target_ous
        return (self.root_id,) if self.root_id else ()


class SafetyConfig(StrictModel):
    """What no acting capability ever changes, whatever its own settings say."""

    environment_tag_key: str = Field(default="environment", min_length=1, max_length=128)
    prod_values: tuple[str, ...] = ("prod", "production")
    protect_tag: TagMatch = TagMatch(key="finops:protect", values=("true", "yes"))
    kill_switch_parameter: str = Field(default="/finops/kill-switch", pattern=r"^/[A-Za-z0-9_.\-/]{1,1010}$")

    def is_prod_value(self, value: str | None) -> bool:
        return value is not None and value.strip().lower() in {v.strip().lower() for v in self.prod_values}

    def is_prod(self, tags: Mapping[str, str]) -> bool:
        """Tagged with a prod environment value (key and value compared case-insensitively, trimmed); with the key
        in several casings (``environment=dev``, ``Environment=prod``), any prod one makes it prod."""
        return any(self.is_prod_value(value) for _, value in tag_items(tags, self.environment_tag_key))

    def is_protected(self, tags: Mapping[str, str]) -> bool:
        """Carries the protect tag with one of its values, or with any value but an explicit no (false, no, 0, off):
        ``finops:protect=1`` protects too. With the key in several casings, any one that protects protects."""
        protecting = {v.strip().lower() for v in self.protect_tag.values}
        return any(
            value.strip().lower() in protecting or value.strip().lower() not in NOT_PROTECTED
            for _, value in tag_items(tags, self.protect_tag.key)
        )

    def tag_guard(self, tags: Mapping[str, str]) -> str | None:
        """Why these tags forbid any change (``prod (environment=prod)``, ``protected (finops:protect=true)``),
        naming the value that guards when the key is there in several casings; None when nothing guards."""
        prod = next((v for _, v in tag_items(tags, self.environment_tag_key) if self.is_prod_value(v)), None)
        if prod is not None:
            return f"prod ({self.environment_tag_key}={prod})"
        key = self.protect_tag.key
        protecting = next((v for _, v in tag_items(tags, key) if self.is_protected({key: v})), None)
        if protecting is not None:
            return f"protected ({key}={protecting})"
        return None


class EngineConfig(StrictModel):
    """The Distributed Map's fan-out across targets (account x region), and the targets a worker runs at once.

    A target's time is mostly waiting: on API answers (50-150 ms each), on its starts to be running or its final
    snapshots to complete (up to 60 s). A worker runs ``target_concurrency`` targets of its batch at once, so a batch
    of ``targets_per_invocation`` waits about ceil(targets_per_invocation / target_concurrency) x 60 s at worst
    (``stacks.hub_stack.worker_timeout`` refuses a pair whose waits leave a worker less than 2 minutes), and in the
    usual case (no start stuck pending) takes about as long as its slowest target: seconds, well under 60 s.

    The defaults, 10 targets a batch on 10 threads: one wave of waits a batch; half the Map's child executions (and
    their state transitions) of batches of 5. What bounds targets_per_invocation is not the timing but a batch's
    output, at most the 256 KiB a Map child may return: a scheduler action is about 0.9 KB with its outcome, and tag
    compliance's worst batch (rules/tag_compliance.py: each target at least 10 changes, its share of 64 KB of
    findings) measures 184 KB at 10 targets and 196 KB at 12. More threads than a batch has targets do nothing.
    """

    max_concurrency: int = Field(default=40, ge=1, le=10_000)
    tolerated_failure_percent: int = Field(default=100, ge=0, le=100)
    targets_per_invocation: int = Field(
        default=10, ge=1, le=10, description="the Map's ItemBatcher MaxItemsPerBatch: targets per worker invocation"
    )
    target_concurrency: int = Field(
        default=10, ge=1, le=10, description="targets a worker runs at once, each in a thread with its own clients"
    )


class TagCase(StrEnum):
    EXACT = "exact"
    LOWER = "lower"
    UPPER = "upper"


class TagRule(StrictModel):
    key: str = Field(min_length=1, max_length=128)
    required: bool = True
    allowed_values: tuple[str, ...] = ()
    pattern: str | None = None
    case: TagCase = TagCase.EXACT
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression: {exc}") from exc
        return value


class TaxonomyConfig(StrictModel):
    tags: tuple[TagRule, ...] = Field(min_length=1)

    @field_validator("tags")
    @classmethod
    def _unique_keys(cls, tags: tuple[TagRule, ...]) -> tuple[TagRule, ...]:
        seen: set[str] = set()
        for tag in tags:
            folded = tag.key.lower()
            if folded in seen:
                raise ValueError(f"tag key {tag.key!r} is listed twice (keys are compared case-insensitively)")
            seen.add(folded)
        return tags


class SlackConfig(StrictModel):
    secret_name: str = Field(min_length=1, description="Secrets Manager secret holding the webhook(s) or bot token")
    default_channel: Channel


class SeverityTier(StrictModel):
    """An anomaly reaches a tier when its impact reaches both floors (dollars AND percent)."""

    name: str = Field(min_length=1)
    min_impact_usd: float = Field(ge=0)
    min_impact_percent: float = Field(default=0, ge=0)
    mention: str | None = Field(default=None, description="prepended to the alert, e.g. <!here>")


def _most_severe_first(tiers: tuple[SeverityTier, ...] | None) -> tuple[SeverityTier, ...] | None:
    if tiers is None:
        return None
    thresholds = [t.min_impact_usd for t in tiers]
    if thresholds != sorted(thresholds, reverse=True):
        raise ValueError("tiers must be listed most severe first (min_impact_usd decreasing)")
    names = [t.name.lower() for t in tiers]
    if len(set(names)) != len(names):
        raise ValueError(f"tier names {sorted({n for n in names if names.count(n) > 1})} are listed twice")
    return tiers


class TeamRoute(StrictModel):
    channel: Channel
    mention: str | None = Field(default=None, description="e.g. <!subteam^S0123ABC> for a user group")
    severity: tuple[SeverityTier, ...] | None = Field(
        default=None, min_length=1, description="this team's own tiers; notifications.severity when not set"
    )

    _tiers_in_order = field_validator("severity")(_most_severe_first)


_RATE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)$")
_SCHEDULE = re.compile(r"^(rate\([1-9]\d* (minutes?|hours?|days?)\)|cron\(\S+( \S+){5}\))$")
_RATE_HOURS = {"minute": 1 / 60, "hour": 1, "day": 24}


class HeartbeatConfig(StrictModel):
    """A synthetic message the management account's schedule publishes to the anomaly topic; the alert function
    posts it to ``channel`` and counts ``HeartbeatDelivered``, and the hub alarms when none arrived for
    ``max_silence_hours`` (docs/smoke.md)."""

    enabled: bool = False
    channel: Channel = "#finops-heartbeat"
    schedule: str = Field(
        default="rate(1 day)",
        pattern=_SCHEDULE.pattern,
        description="an EventBridge Scheduler expression, e.g. rate(1 day) or cron(0 8 * * ? *)",
    )
    # CloudWatch evaluates at most 7 days of hourly periods.
    max_silence_hours: int = Field(default=26, ge=2, le=168)

    @model_validator(mode="after")
    def _beats_inside_the_silence(self) -> HeartbeatConfig:
        rate = _RATE.fullmatch(self.schedule)
        if rate is not None:
            hours = int(rate["value"]) * _RATE_HOURS[rate["unit"].rstrip("s")]
            if hours >= self.max_silence_hours:
                raise ValueError(
                    f"schedule {self.schedule} beats every {hours:g} h, not inside max_silence_hours "
                    f"({self.max_silence_hours}): the alarm would fire between two heartbeats"
                )
        return self


class NotificationsConfig(StrictModel):
    slack: SlackConfig
    owner_tag_key: str = Field(default="team", description="account tag (in Organizations) naming the owning team")
    contact_tag_key: str = Field(
        default="owner", min_length=1, description="account tag naming a person to ask, shown as 'Owner: ...'"
    )
    teams: dict[str, TeamRoute] = Field(default_factory=dict)
    account_teams: dict[AccountId, str] = Field(default_factory=dict)
    budget_teams: dict[str, str] = Field(default_factory=dict, description="AWS Budgets budget name -> team")
    severity: tuple[SeverityTier, ...] = Field(min_length=1)
    heartbeat: HeartbeatConfig = HeartbeatConfig()

    @field_validator("teams")
    @classmethod
    def _team_names_fold_case(cls, teams: dict[str, TeamRoute]) -> dict[str, TeamRoute]:
        folded = {name.strip().lower(): route for name, route in teams.items()}
        if len(folded) != len(teams):
            raise ValueError("two team names differ only in case; team names compare case-insensitively")
        return folded

    @field_validator("account_teams", "budget_teams")
    @classmethod
    def _team_references_fold_case(cls, mapping: dict[str, str]) -> dict[str, str]:
        return {key: team.strip().lower() for key, team in mapping.items()}

    _tiers_in_order = field_validator("severity")(_most_severe_first)

    def tiers_for(self, team: str | None) -> tuple[SeverityTier, ...]:
        """The team's own tiers (``teams.<team>.severity``), else ``severity``."""
        route = self.teams.get((team or "").strip().lower())
        return route.severity if route is not None and route.severity else self.severity

    @model_validator(mode="after")
    def _mapped_teams_are_routed(self) -> NotificationsConfig:
        unknown = [
            f"{section}.{key}: team {team!r} has no entry under notifications.teams (known: {sorted(self.teams)})"
            for section, mapping in (("account_teams", self.account_teams), ("budget_teams", self.budget_teams))
            for key, team in mapping.items()
            if team not in self.teams
        ]
        if unknown:
            raise ValueError("; ".join(unknown))
        return self


class AnomalyThreshold(StrictModel):
    """Maps to the subscription's ThresholdExpression: alert when impact passes either (``any``) or both (``all``)."""

    absolute_usd: float | None = Field(default=100, gt=0)
    percentage: float | None = Field(default=None, gt=0)
    combine: Literal["any", "all"] = "any"

    @model_validator(mode="after")
    def _at_least_one(self) -> AnomalyThreshold:
        if self.absolute_usd is None and self.percentage is None:
            raise ValueError("set absolute_usd, percentage, or both")
        return self


# arn:aws:ce::111111111111:anomalymonitor/12345678-90ab-cdef-1234-567890abcdef (Cost Explorer ARNs have no region).
ANOMALY_MONITOR_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:ce::(?P<account>\d{12}):anomalymonitor/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def _anomaly_monitor_arn(arn: str) -> str:
    if not ANOMALY_MONITOR_ARN.fullmatch(arn):
        raise ValueError(
            "is not a Cost Anomaly monitor ARN of the form arn:aws:ce::<12-digit account id>:anomalymonitor/<monitor "
            "uuid>, as `aws ce get-anomaly-monitors` lists them in the management account"
        )
    return arn


AnomalyMonitorArn = Annotated[str, AfterValidator(_anomaly_monitor_arn)]


class AnomalyMonitors(StrictModel):
    """The Cost Anomaly monitors the subscription watches: ours (``services``, ``linked_accounts``) and/or monitors
    the management account already has (``existing_arns``).

    AWS allows one dimensional monitor per dimension in an account (and often creates a services monitor itself), so
    an Organization that has one reuses it by ARN: with ``existing_arns``, ``services`` and ``linked_accounts``
    default to false and the stack creates only the subscription. Set one to true as well only when no existing
    monitor has that dimension, or the deploy fails with "already exists".
    """

    services: bool = True
    linked_accounts: bool = True
    existing_arns: tuple[AnomalyMonitorArn, ...] = Field(
        default=(),
        description="ARNs of monitors in the management account to subscribe to instead of creating ours",
    )

    @model_validator(mode="before")
    @classmethod
    def _existing_monitors_replace_ours(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("existing_arns"):
            return {"services": False, "linked_accounts": False, **data}
        return data

    @field_validator("existing_arns")
    @classmethod
    def _monitors_once(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({arn for arn in arns if arns.count(arn) > 1})
        if twice:
            raise ValueError(f"monitors {twice} are listed twice")
        return arns

    @model_validator(mode="after")
    def _at_least_one(self) -> AnomalyMonitors:
        if not (self.services or self.linked_accounts or self.existing_arns):
            raise ValueError("enable at least one monitor (services or linked_accounts) or name existing_arns")
        return self

    def existing_accounts(self) -> dict[int, str]:
        """The account of each existing monitor, by its index in ``existing_arns``."""
        found = {index: ANOMALY_MONITOR_ARN.fullmatch(arn) for index, arn in enumerate(self.existing_arns)}
        return {index: match["account"] for index, match in found.items() if match is not None}


class AnomalyAlertsConfig(StrictModel):
    enabled: bool = True
    monitors: AnomalyMonitors = AnomalyMonitors()
    threshold: AnomalyThreshold = AnomalyThreshold()


class BudgetAlertsConfig(StrictModel):
    enabled: bool = True


class CapabilitiesConfig(StrictModel):
    anomaly_alerts: AnomalyAlertsConfig = AnomalyAlertsConfig()
    budget_alerts: BudgetAlertsConfig = BudgetAlertsConfig()
    tag_enforcement: TagEnforcementConfig = TagEnforcementConfig()
    tag_compliance: TagComplianceConfig = TagComplianceConfig()
    auto_tagger: AutoTaggerConfig = AutoTaggerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    ebs_cleanup: EbsCleanupConfig = EbsCleanupConfig()


# The tags on every resource this app deploys when the config names none (``own_tags``).
DEFAULT_OWN_TAGS: Mapping[str, str] = {"team": "platform", "environment": "prod", "cost-center": "CC-0001"}


def _not_aws_reserved(key: str) -> str:
    if key.lower().startswith("aws:"):
        raise ValueError("tag keys starting with aws: are reserved for AWS")
    return key


TagKey = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_not_aws_reserved)]
TagValue = Annotated[str, Field(max_length=256)]
# DynamoDB's rule for table names.
TableName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$", description="a DynamoDB table name: 3 to 255 letters, digits, _ . or -"),
]


def tag_rule_problem(rule: TagRule, value: str) -> str | None:
    """Why ``value`` breaks ``rule`` (its allowed values, its case, its pattern), or None when it passes."""
    if rule.allowed_values and value not in rule.allowed_values:
        return f"allowed {', '.join(rule.allowed_values)}"
    if rule.case is TagCase.LOWER and value != value.lower():
        return "values are written in lower case"
    if rule.case is TagCase.UPPER and value != value.upper():
        return "values are written in upper case"
    if rule.pattern is not None and re.fullmatch(rule.pattern, value) is None:
        return f"values match {rule.pattern}"
    return None


def own_tag_problems(own_tags: Mapping[str, str], taxonomy: TaxonomyConfig) -> list[str]:
    """``own_tags.<key>: what is wrong`` for every taxonomy rule our own tags break: a required key without a value,
    a key spelled differently from the taxonomy's, a value the rule does not allow."""
    found = []
    by_folded_key = {key.lower(): key for key in own_tags}
    for index, rule in enumerate(taxonomy.tags):
        where = f"taxonomy.tags[{index}] ({rule.key})"
        key = by_folded_key.get(rule.key.lower())
        if key is None:
            if rule.required:
                found.append(f"own_tags.{rule.key}: required by {where}, and our own resources have no value for it")
        elif key != rule.key:
            found.append(f"own_tags.{key}: {where} spells the key {rule.key!r}")
        elif (problem := tag_rule_problem(rule, own_tags[key])) is not None:
            found.append(f"own_tags.{key}: {own_tags[key]!r} is not allowed by {where}: {problem}")
    return found


class ReinstallConfig(StrictModel):
    """Retained hub tables a reinstall adopts instead of creating new ones (docs/uninstall.md).

    Uninstalling keeps the audit trail and the run engine's state (DeletionPolicy Retain); naming them here makes the
    new hub write to them, so the trail continues across the reinstall. Unset: the stack creates fresh tables.
    """

    audit_table_name: TableName | None = None
    state_table_name: TableName | None = None


class FinOpsConfig(StrictModel):
    organization: OrganizationConfig
    taxonomy: TaxonomyConfig
    notifications: NotificationsConfig
    safety: SafetyConfig = SafetyConfig()
    engine: EngineConfig = EngineConfig()
    capabilities: CapabilitiesConfig = CapabilitiesConfig()
    own_tags: dict[TagKey, TagValue] = Field(
        default_factory=lambda: dict(DEFAULT_OWN_TAGS),
        description="the tags on every resource this app deploys; they must pass the taxonomy",
    )
    reinstall: ReinstallConfig = ReinstallConfig()
    policies: PoliciesConfig = PoliciesConfig()

    @model_validator(mode="after")
    def _own_tags_pass_the_taxonomy(self) -> FinOpsConfig:
        problems = own_tag_problems(self.own_tags, self.taxonomy)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _existing_monitors_are_the_management_accounts(self) -> FinOpsConfig:
        management = self.organization.management_account_id
        path = "capabilities.anomaly_alerts.monitors.existing_arns"
        elsewhere = [
            f"{path}[{index}]: the monitor is in account {account}, but the subscription is created in the management "
            f"account {management}, and a subscription can name only monitors of its own account"
            for index, account in self.capabilities.anomaly_alerts.monitors.existing_accounts().items()
            if account != management
        ]
        if elsewhere:
            raise ValueError("; ".join(elsewhere))
        return self

    def team_route(self, team: str | None) -> TeamRoute:
        """The route for ``team``, or the default channel when the team is unknown or has no route."""
        route = self.notifications.teams.get((team or "").lower())
        return route or TeamRoute(channel=self.notifications.slack.default_channel)


def parse_config(data: object, *, source: str, marks: Mapping[Loc, Mark] | None = None) -> FinOpsConfig:
    """Validate already-loaded data; raise :class:`ConfigError` naming each bad key path (and, with the ``marks``
    :func:`~finops.models.problems.read_document` gives, the line it is on: ``finops.yaml:12: key.path: what``)."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return FinOpsConfig.model_validate(data)
    except ValidationError as exc:
        found = problems(exc, unknown_key_hint="", model=FinOpsConfig, data=data, marks=marks, source=source)
        raise ConfigError(source, found) from None


def load_config(path: str | Path) -> FinOpsConfig:
    """Read ``finops.yaml`` (or the JSON form the Lambdas get) and validate it."""
    document = read_document(path, ConfigError)
    return parse_config(document.data, source=str(path), marks=document.marks)
