"""The alerts we receive, as typed models that tolerate how real messages drift.

Cost Anomaly Detection sends the same anomaly in two shapes: the SNS message (``dimensionalValue``) and the
EventBridge ``Anomaly Detected`` detail (``dimensionValue``). Dates may be date-only, ``impact`` fields and the
subscription may be missing, and a root cause may carry only ``service``. AWS Budgets sends plain text
(see :mod:`finops.rules.budget_text`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator


class _Tolerant(BaseModel):
    """Unknown fields are ignored (AWS adds fields); known ones are typed."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _parse_day_or_time(value: object) -> object:
    """Accept ``2026-11-25``, ``2026-11-25T00:00:00Z`` and the like; date-only means midnight UTC."""
    if isinstance(value, str) and len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    return value


class AnomalyImpact(_Tolerant):
    max_impact: Decimal | None = Field(default=None, alias="maxImpact")
    total_impact: Decimal | None = Field(default=None, alias="totalImpact")
    total_impact_percentage: Decimal | None = Field(default=None, alias="totalImpactPercentage")
    total_expected_spend: Decimal | None = Field(default=None, alias="totalExpectedSpend")
    total_actual_spend: Decimal | None = Field(default=None, alias="totalActualSpend")

    @property
    def impact_usd(self) -> Decimal | None:
        """The total impact, or the daily maximum when the total is not reported."""
        if self.total_impact is not None:
            return self.total_impact
        if self.total_actual_spend is not None and self.total_expected_spend is not None:
            return self.total_actual_spend - self.total_expected_spend
        return self.max_impact

    @property
    def daily_max_only(self) -> bool:
        """True when the only amount reported is ``maxImpact``: the largest single day, not the anomaly's total."""
        spend_known = self.total_actual_spend is not None and self.total_expected_spend is not None
        return self.total_impact is None and not spend_known and self.max_impact is not None

    @property
    def impact_percent(self) -> Decimal | None:
        if self.total_impact_percentage is not None:
            return self.total_impact_percentage
        impact = self.impact_usd
        if impact is not None and self.total_expected_spend:
            return impact / self.total_expected_spend * 100
        return None


class RootCause(_Tolerant):
    service: str | None = None
    region: str | None = None
    usage_type: str | None = Field(default=None, alias="usageType")
    linked_account: str | None = Field(default=None, alias="linkedAccount")
    linked_account_name: str | None = Field(default=None, alias="linkedAccountName")
    impact_contribution: Decimal | None = Field(
        default=None, validation_alias=AliasChoices("impactContribution", "impact")
    )

    @field_validator("impact_contribution", mode="before")
    @classmethod
    def _contribution_amount(cls, value: object) -> object:
        # Newer messages nest it: {"impact": {"contribution": 12.3}}.
        if isinstance(value, dict):
            return value.get("contribution")
        return value


class AnomalyScore(_Tolerant):
    current_score: Decimal | None = Field(default=None, alias="currentScore")
    max_score: Decimal | None = Field(default=None, alias="maxScore")


class CostAnomaly(_Tolerant):
    """One anomaly, from either the SNS message or the EventBridge detail."""

    kind: Literal["anomaly"] = "anomaly"
    anomaly_id: str = Field(alias="anomalyId", min_length=1)
    account_id: str | None = Field(default=None, alias="accountId")
    start: datetime | None = Field(default=None, alias="anomalyStartDate")
    end: datetime | None = Field(default=None, alias="anomalyEndDate")
    dimension_value: str | None = Field(
        default=None, validation_alias=AliasChoices("dimensionalValue", "dimensionValue")
    )
    monitor_arn: str | None = Field(default=None, alias="monitorArn")
    monitor_name: str | None = Field(default=None, alias="monitorName")
    subscription_id: str | None = Field(default=None, alias="subscriptionId")
    subscription_name: str | None = Field(default=None, alias="subscriptionName")
    details_link: str | None = Field(default=None, alias="anomalyDetailsLink")
    impact: AnomalyImpact = Field(default_factory=AnomalyImpact)
    score: AnomalyScore = Field(default_factory=AnomalyScore, alias="anomalyScore")
    root_causes: tuple[RootCause, ...] = Field(default=(), alias="rootCauses")

    _days = field_validator("start", "end", mode="before")(_parse_day_or_time)

    @field_validator("impact", "score", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("root_causes", mode="before")
    @classmethod
    def _null_is_none(cls, value: object) -> object:
        return () if value is None else value

    @property
    def idempotency_key(self) -> str:
        return f"anomaly:{self.anomaly_id}"

    @property
    def console_link(self) -> str:
        """The anomaly in the Cost Anomaly Detection console, built when the message carries no link."""
        if self.details_link:
            return self.details_link
        monitor_id = (self.monitor_arn or "").rsplit("/", 1)[-1]
        if monitor_id:
            return (
                "https://console.aws.amazon.com/cost-management/home#/anomaly-detection/"
                f"monitors/{monitor_id}/anomalies/{self.anomaly_id}"
            )
        return "https://console.aws.amazon.com/cost-management/home#/anomaly-detection/overview"

    def ranked_causes(self) -> list[RootCause]:
        """Root causes, the largest contribution first; unknown contributions last, in message order."""
        return sorted(self.root_causes, key=lambda c: (c.impact_contribution is None, -(c.impact_contribution or 0)))

    @property
    def main_account(self) -> str | None:
        """The account that owns the anomaly: the top root cause's linked account; for a linked-account monitor the
        dimension value (an account id); else the account the anomaly was reported in."""
        for cause in self.ranked_causes():
            if cause.linked_account:
                return cause.linked_account
        if self.dimension_value and self.dimension_value.isdigit() and len(self.dimension_value) == 12:
            return self.dimension_value
        return self.account_id


BUDGET_DETAILS = "https://console.aws.amazon.com/costmanagement/home#/budgets/details"


class BudgetAlert(BaseModel):
    """One AWS Budgets notification, parsed from its plain-text SNS message."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["budget"] = "budget"
    message_id: str
    account_id: str | None
    budget_name: str
    budget_type: str | None = None
    alert_type: Literal["ACTUAL", "FORECASTED"]
    period: str | None = None
    budgeted_amount: str | None = None
    threshold: str | None = None
    amount: str | None = None
    amount_usd: Decimal | None = None
    threshold_usd: Decimal | None = None
    budgeted_usd: Decimal | None = None
    covers: str | None = None  # what the budget's filters select, when the notification says

    @property
    def idempotency_key(self) -> str:
        return f"budget:{self.message_id}"

    @property
    def console_link(self) -> str:
        """The budget itself in the Billing and Cost Management console (of the account that owns the budget)."""
        return f"{BUDGET_DETAILS}?name={quote(self.budget_name, safe='')}"


Alert = CostAnomaly | BudgetAlert
