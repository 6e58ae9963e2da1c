"""The share of spend attributable to a team: what the platform team reads in the KPIs, from Cost Explorer as it
answers (recorded responses, checked against botocore's model by Stubber), and the exact requests sent.

moto has no ListCostAllocationTags and returns nothing for GetCostAndUsage, so the figures are tested through
Stubber; one test runs the real path in moto (STS, the assumed role, CE) to show what `make invoke` prints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.models.config import FinOpsConfig
from finops.services.tag_spend import (
    COST_READER_PERMISSIONS,
    COST_READER_ROLE_NAME,
    METRIC,
    spend_from_groups,
    spend_kpi,
    spend_request,
)
from tests.stacks.template_helpers import config_with

RECORDED = Path(__file__).parent / "recorded"
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # the run's clock: a Monday, 05:00 UTC
MANAGEMENT, HUB = "111111111111", "222222222222"
AGGREGATE_CALLER = {
    "UserId": "AROAEXAMPLE:finops-engine-aggregate",
    "Account": HUB,
    "Arn": f"arn:aws:sts::{HUB}:assumed-role/finops-engine-aggregate/finops-engine-aggregate",
}
# The request the KPI is computed from: the 30 full days before the run's day, end excluded.
EXPECTED_REQUEST = {
    "TimePeriod": {"Start": "2026-10-31", "End": "2026-11-30"},
    "Granularity": "MONTHLY",
    "Metrics": ["AmortizedCost"],
    "GroupBy": [{"Type": "TAG", "Key": "team"}],
    "Filter": {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund", "Tax"]}}},
}
EXPECTED_TAGS_REQUEST = {"TagKeys": ["team"], "Type": "UserDefined"}


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return data


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


class StubbedClients(AwsClients):
    """The hub's clients: STS says who we are, every CE client is the one stubbed, assume_role is recorded."""

    def __init__(self, caller: dict[str, str], ce: Any) -> None:
        super().__init__(boto3.Session(region_name="us-east-1"))
        self.sts = client("sts")
        self.sts_stub = Stubber(self.sts)
        self.sts_stub.add_response("get_caller_identity", caller, {})
        self.sts_stub.activate()
        self.ce = ce
        self.direct: list[tuple[str, str | None]] = []
        self.assumed: list[dict[str, str]] = []
        self.assume_error: Exception | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        if service == "sts":
            return self.sts
        assert service == "ce"
        self.direct.append((service, region))
        return self.ce

    def assume_role(self, account: str, region: str, *, role_name: str, session_name: str) -> Any:
        self.assumed.append({"account": account, "region": region, "role_name": role_name})
        if self.assume_error is not None:
            raise self.assume_error
        ce = self.ce

        class Scope:
            def client(self, service: str) -> Any:
                assert service == "ce"
                return ce

        return Scope()


@pytest.fixture
def ce() -> Any:
    return client("ce")


def answering(ce: Any, *, tags: str = "ce_list_cost_allocation_tags_active") -> Stubber:
    """Cost Explorer answering two pages of spend by team and the tag's status, for exactly the expected requests."""
    stub = Stubber(ce)
    page1 = recorded("ce_get_cost_and_usage_by_team_page1")
    stub.add_response("get_cost_and_usage", page1, EXPECTED_REQUEST)
    stub.add_response(
        "get_cost_and_usage",
        recorded("ce_get_cost_and_usage_by_team_page2"),
        {**EXPECTED_REQUEST, "NextPageToken": page1["NextPageToken"]},
    )
    stub.add_response("list_cost_allocation_tags", recorded(tags), EXPECTED_TAGS_REQUEST)
    stub.activate()
    return stub


def test_the_hub_reads_the_organizations_spend_by_team_through_the_cost_reader_role(
    config: FinOpsConfig, ce: Any
) -> None:
    stub = answering(ce)
    clients = StubbedClients(AGGREGATE_CALLER, ce)

    spend = spend_kpi(clients, config, NOW)

    stub.assert_no_pending_responses()  # both pages and the tag check, with exactly the expected parameters
    assert clients.assumed == [{"account": MANAGEMENT, "region": "us-east-1", "role_name": "finops-cost-reader"}]
    assert clients.direct == []
    assert spend == {
        "period": {"start": "2026-10-31", "end": "2026-11-30"},
        "metric": "AmortizedCost",
        "via": f"role finops-cost-reader in the management account {MANAGEMENT}",
        "tag_key": "team",
        "total_usd": 3000.0,
        "attributed_usd": 1940.0,
        "unattributed_usd": 1000.0,  # team$ over both months
        "percent_attributable": 64.7,
        "by_team": {"data": 500.0, "payments": 1440.0, "platform": 0.0},  # summed over periods and pages
        "unknown_teams": {"Payments": 60.0},  # tagged, but the taxonomy's team values are lower case
        "cost_allocation_tags": {"team": "Active"},
        "notes": [
            "tagged 'team' with values that are not teams in the taxonomy, so not attributed: 'Payments' ($60.00)",
            "Cost Explorer marks the latest figures as estimated: they may still change a little.",
        ],
    }


def test_an_inactive_cost_allocation_tag_is_named_with_where_and_how_to_activate_it(
    config: FinOpsConfig, ce: Any
) -> None:
    answering(ce, tags="ce_list_cost_allocation_tags_inactive")

    spend = spend_kpi(StubbedClients(AGGREGATE_CALLER, ce), config, NOW)

    assert spend["cost_allocation_tags"] == {"team": "Inactive"}
    (note,) = [n for n in spend["notes"] if "cost allocation tag" in n]
    assert note.startswith("cost allocation tag 'team' is Inactive: Cost Explorer groups no spend by it")
    assert "Billing and Cost Management console → Cost allocation tags → tick 'team' → Activate" in note
    assert "`aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey=team,Status=Active`" in note


def test_a_tag_not_in_the_billing_data_yet_is_said_to_be_no_cost_allocation_tag(config: FinOpsConfig, ce: Any) -> None:
    answering(ce, tags="ce_list_cost_allocation_tags_none")

    spend = spend_kpi(StubbedClients(AGGREGATE_CALLER, ce), config, NOW)

    assert spend["cost_allocation_tags"] == {"team": "not found"}
    assert any(n.startswith("'team' is not a cost allocation tag yet") for n in spend["notes"])


def test_signed_in_to_the_management_account_the_spend_is_read_directly(config: FinOpsConfig, ce: Any) -> None:
    """`make run` with the management account's credentials: no role to assume."""
    answering(ce)
    clients = StubbedClients(
        {"UserId": "AIDAEXAMPLE", "Account": MANAGEMENT, "Arn": f"arn:aws:iam::{MANAGEMENT}:user/finops-admin"}, ce
    )

    spend = spend_kpi(clients, config, NOW)

    assert clients.assumed == []
    assert clients.direct == [("ce", "us-east-1")]
    assert spend["via"] == f"the management account's own credentials (arn:aws:iam::{MANAGEMENT}:user/finops-admin)"
    assert spend["percent_attributable"] == 64.7


def test_a_hub_role_in_the_management_account_still_goes_through_the_cost_reader_role(
    config: FinOpsConfig, ce: Any
) -> None:
    """A one-account set-up: the aggregate's own policy grants no ce: action, the cost reader role does."""
    answering(ce)
    caller = {**AGGREGATE_CALLER, "Account": MANAGEMENT, "Arn": AGGREGATE_CALLER["Arn"].replace(HUB, MANAGEMENT)}
    clients = StubbedClients(caller, ce)

    spend_kpi(clients, config, NOW)

    assert [a["role_name"] for a in clients.assumed] == [COST_READER_ROLE_NAME]
    assert clients.direct == []


def test_a_role_that_cannot_be_assumed_gives_an_error_and_what_to_do_and_never_raises(
    config: FinOpsConfig, ce: Any
) -> None:
    from botocore.exceptions import ClientError

    clients = StubbedClients(AGGREGATE_CALLER, ce)
    clients.assume_error = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}}, "AssumeRole"
    )

    spend = spend_kpi(clients, config, NOW)

    assert spend["error"] == "AccessDenied: not authorized to perform: sts:AssumeRole"
    assert spend["period"] == {"start": "2026-10-31", "end": "2026-11-30"}
    assert spend["notes"] == [
        f"the spend KPI needs the role finops-cost-reader in the management account {MANAGEMENT} (the management "
        "stack creates it when capabilities.tag_compliance.enabled is true), assumable only by the hub's "
        "finops-engine-aggregate; outside the hub, run with the management account's credentials"
    ]


def test_a_cost_explorer_error_gives_an_error_result(config: FinOpsConfig, ce: Any) -> None:
    stub = Stubber(ce)
    stub.add_client_error(
        "get_cost_and_usage", "DataUnavailableException", "Data is not available. Enable Cost Explorer first."
    )
    stub.activate()

    spend = spend_kpi(StubbedClients(AGGREGATE_CALLER, ce), config, NOW)

    assert spend["error"] == "DataUnavailableException: Data is not available. Enable Cost Explorer first."
    assert spend["notes"] == ["the spend KPI is missing from this run; the resource KPIs are complete"]


def test_in_the_simulated_organization_the_kpi_says_no_spend_was_reported(
    config: FinOpsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make invoke`: moto's STS and CE, whose GetCostAndUsage returns nothing and which lacks
    ListCostAllocationTags."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        spend = spend_kpi(AwsClients(), config, NOW)

    assert spend["total_usd"] == 0.0
    assert spend["percent_attributable"] is None
    assert spend["notes"][0] == "no spend reported for the period: Cost Explorer returned no costs grouped by 'team'"
    assert spend["cost_allocation_tags"] == {"team": "not checked"}
    assert spend["notes"][1:] == [
        "could not check whether 'team' is an active cost allocation tag: NotImplementedError: The "
        "list_cost_allocation_tags action has not been implemented"
    ]  # and no advice to activate a tag that may well be active


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (datetime(2026, 11, 30, 5, 0, tzinfo=UTC), "2026-10-31", "2026-11-30"),
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "2026-01-30", "2026-03-01"),  # across February
        (datetime(2026, 1, 1, 23, 59, tzinfo=UTC), "2025-12-02", "2026-01-01"),  # across the year
    ],
)
def test_the_period_is_the_30_full_days_before_the_runs_day(now: datetime, start: str, end: str) -> None:
    assert spend_request("team", now)["TimePeriod"] == {"Start": start, "End": end}


def test_the_groups_of_another_tag_key_are_read_by_that_key(config: FinOpsConfig) -> None:
    variant = config_with(config, notifications={"owner_tag_key": "owner-team"})
    request = spend_request(variant.notifications.owner_tag_key, NOW)
    groups = {"owner-team$payments": Decimal(30), "owner-team$": Decimal(10)}

    spend = spend_from_groups(groups, key="owner-team", rule=None, statuses={"owner-team": "Active"})

    assert request["GroupBy"] == [{"Type": "TAG", "Key": "owner-team"}]
    assert spend["by_team"] == {"payments": 30.0}
    assert spend["percent_attributable"] == 75.0
    assert spend["notes"] == ["the taxonomy has no rule for 'owner-team': every value of the tag counts as a team"]


def test_spend_of_nothing_reports_no_share() -> None:
    spend = spend_from_groups({"team$": Decimal(0)}, key="team", rule=None, statuses={"team": "Active"})

    assert spend["percent_attributable"] is None
    assert "the spend in the period adds up to $0.00: no share to report" in spend["notes"]


def test_the_role_may_call_exactly_what_the_module_calls(config: FinOpsConfig, ce: Any) -> None:
    """STYLE 14: the cost reader role grants COST_READER_PERMISSIONS; these are the operations a run sends."""
    answering(ce)
    sent: set[str] = set()
    ce.meta.events.register("before-parameter-build", lambda model, **_: sent.add(f"ce:{model.name}"))

    spend_kpi(StubbedClients(AGGREGATE_CALLER, ce), config, NOW)

    assert sent == set(COST_READER_PERMISSIONS)
    assert METRIC == "AmortizedCost"
