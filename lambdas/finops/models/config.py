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

from pydantic import Field, ValidationError, field_validator, model_validator

from finops.models.base import Mode, StrictModel
from finops.models.cleanup_config import EbsCleanupConfig
from finops.models.problems import ProblemsError, problems, read_data
from finops.models.scheduler_config import SchedulerConfig

__all__ = ["ConfigError", "FinOpsConfig", "Mode", "load_config", "parse_config"]

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="a 12-digit AWS account id, quoted in YAML")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="an AWS region name")]
OuId = Annotated[str, Field(pattern=r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")]
Channel = Annotated[str, Field(pattern=r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,})$")]


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
        value = self.value_in(tags)
        return value is not None and value.strip().lower() in {v.strip().lower() for v in self.values}


def tag_value(tags: Mapping[str, str], key: str) -> str | None:
    """``tags[key]``, the key compared case-insensitively and trimmed: a guard must not miss ``Environment``."""
    if key in tags:
        return tags[key]
    wanted = key.strip().lower()
    return next((value for name, value in tags.items() if name.strip().lower() == wanted), None)


# A protect tag with one of these values is not a protection; any other value is (a typo must not unprotect).
NOT_PROTECTED = frozenset({"false", "no", "0", "off", ""})


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


class SafetyConfig(StrictModel):
    """What no acting capability ever changes, whatever its own settings say."""

    environment_tag_key: str = Field(default="environment", min_length=1, max_length=128)
    prod_values: tuple[str, ...] = ("prod", "production")
    protect_tag: TagMatch = TagMatch(key="finops:protect", values=("true", "yes"))
    kill_switch_parameter: str = Field(default="/finops/kill-switch", pattern=r"^/[A-Za-z0-9_.\-/]{1,1010}$")

    def is_prod_value(self, value: str | None) -> bool:
        return value is not None and value.strip().lower() in {v.strip().lower() for v in self.prod_values}

    def is_prod(self, tags: Mapping[str, str]) -> bool:
        """Tagged with a prod environment value (key and value compared case-insensitively, trimmed)."""
        return self.is_prod_value(tag_value(tags, self.environment_tag_key))

    def is_protected(self, tags: Mapping[str, str]) -> bool:
        """Carries the protect tag with one of its values, or with any value but an explicit no (false, no, 0, off):
        ``finops:protect=1`` protects too."""
        value = self.protect_tag.value_in(tags)
        if value is None:
            return False
        return self.protect_tag.matches(tags) or value.strip().lower() not in NOT_PROTECTED


class EngineConfig(StrictModel):
    """The Distributed Map's fan-out across targets (account x region)."""

    max_concurrency: int = Field(default=40, ge=1, le=10_000)
    tolerated_failure_percent: int = Field(default=100, ge=0, le=100)
    # At most 8: a worker may wait up to 60 s per target for starts to come up, within its 10-minute timeout.
    targets_per_invocation: int = Field(default=5, ge=1, le=8, description="the Map's ItemBatcher MaxItemsPerBatch")


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


class TeamRoute(StrictModel):
    channel: Channel
    mention: str | None = Field(default=None, description="e.g. <!subteam^S0123ABC> for a user group")


class SeverityTier(StrictModel):
    name: str = Field(min_length=1)
    min_impact_usd: float = Field(ge=0)
    min_impact_percent: float = Field(default=0, ge=0)
    mention: str | None = Field(default=None, description="prepended to the alert, e.g. <!here>")


class NotificationsConfig(StrictModel):
    slack: SlackConfig
    owner_tag_key: str = Field(default="team", description="account tag (in Organizations) naming the owning team")
    teams: dict[str, TeamRoute] = Field(default_factory=dict)
    account_teams: dict[AccountId, str] = Field(default_factory=dict)
    budget_teams: dict[str, str] = Field(default_factory=dict, description="AWS Budgets budget name -> team")
    severity: tuple[SeverityTier, ...] = Field(min_length=1)

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

    @field_validator("severity")
    @classmethod
    def _most_severe_first(cls, tiers: tuple[SeverityTier, ...]) -> tuple[SeverityTier, ...]:
        thresholds = [t.min_impact_usd for t in tiers]
        if thresholds != sorted(thresholds, reverse=True):
            raise ValueError("tiers must be listed most severe first (min_impact_usd decreasing)")
        return tiers

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


class AnomalyMonitors(StrictModel):
    services: bool = True
    linked_accounts: bool = True

    @model_validator(mode="after")
    def _at_least_one(self) -> AnomalyMonitors:
        if not (self.services or self.linked_accounts):
            raise ValueError("enable at least one monitor (services or linked_accounts)")
        return self


class AnomalyAlertsConfig(StrictModel):
    enabled: bool = True
    monitors: AnomalyMonitors = AnomalyMonitors()
    threshold: AnomalyThreshold = AnomalyThreshold()


class BudgetAlertsConfig(StrictModel):
    enabled: bool = True


class PendingCapability(StrictModel):
    """A capability whose automation ships in a later release; only its safety switch is read today."""

    mode: Mode = Mode.REPORT


class CapabilitiesConfig(StrictModel):
    anomaly_alerts: AnomalyAlertsConfig = AnomalyAlertsConfig()
    budget_alerts: BudgetAlertsConfig = BudgetAlertsConfig()
    tag_enforcement: PendingCapability = PendingCapability()
    scheduler: SchedulerConfig = SchedulerConfig()
    ebs_cleanup: EbsCleanupConfig = EbsCleanupConfig()


class FinOpsConfig(StrictModel):
    organization: OrganizationConfig
    taxonomy: TaxonomyConfig
    notifications: NotificationsConfig
    safety: SafetyConfig = SafetyConfig()
    engine: EngineConfig = EngineConfig()
    capabilities: CapabilitiesConfig = CapabilitiesConfig()

    def team_route(self, team: str | None) -> TeamRoute:
        """The route for ``team``, or the default channel when the team is unknown or has no route."""
        route = self.notifications.teams.get((team or "").lower())
        return route or TeamRoute(channel=self.notifications.slack.default_channel)


def parse_config(data: object, *, source: str) -> FinOpsConfig:
    """Validate already-loaded data; raise :class:`ConfigError` naming each bad key path."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return FinOpsConfig.model_validate(data)
    except ValidationError as exc:
        hint = "check the spelling against README.md's config reference"
        raise ConfigError(source, problems(exc, unknown_key_hint=hint)) from None


def load_config(path: str | Path) -> FinOpsConfig:
    """Read ``finops.yaml`` (or the JSON form the Lambdas get) and validate it."""
    return parse_config(read_data(path, ConfigError), source=str(path))
