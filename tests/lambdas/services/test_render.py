"""Routing decisions of the alert service: who owns it, which channel, what the message says when lookups fail."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from finops.aws.organizations import AccountDirectory
from finops.models.config import parse_config
from finops.models.events import alerts_from_event
from finops.services.alerts import render
from tests.conftest import load_event


def alert(name: str):
    return alerts_from_event(load_event(name))[0][0]


def directory_answering(stub_setup) -> tuple[AccountDirectory, Stubber]:
    organizations = boto3.client("organizations", region_name="us-east-1")
    stubber = Stubber(organizations)
    stub_setup(stubber)
    stubber.activate()
    return AccountDirectory(organizations), stubber


def test_a_missing_delegation_says_so_instead_of_blaming_the_tags(config):
    def denied(stub: Stubber) -> None:
        stub.add_client_error(
            "describe_account",
            "AccessDeniedException",
            "not delegated",
            400,
            expected_params={"AccountId": "333333333333"},
        )

    directory, stubber = directory_answering(denied)

    rendered = render(alert("anomaly_sns"), config=config, directory=directory)

    stubber.assert_no_pending_responses()
    assert rendered.message.channel == "#finops-alerts"
    assert rendered.owner.source == "lookup failed"
    fields = " ".join(f["text"] for f in rendered.message.blocks[2]["fields"])
    assert "Organizations lookup failed (AccessDeniedException); check the FinOpsManagement delegation" in fields


def test_budgets_route_by_the_budget_map_before_the_account(config):
    def management(stub: Stubber) -> None:
        stub.add_response(
            "describe_account",
            {"Account": {"Id": "111111111111", "Name": "acme-management"}},
            {"AccountId": "111111111111"},
        )
        stub.add_response(
            "list_tags_for_resource", {"Tags": [{"Key": "team", "Value": "platform"}]}, {"ResourceId": "111111111111"}
        )

    directory, _ = directory_answering(management)

    rendered = render(alert("budget_actual_sns"), config=config, directory=directory)

    assert rendered.message.channel == "#payments-oncall"
    assert (rendered.owner.team, rendered.owner.source) == ("payments", "budget map")


def test_team_names_match_whatever_their_case(config):
    data = config.model_dump(mode="json")
    data["notifications"]["teams"] = {"Payments": {"channel": "#payments-oncall"}, "platform": {"channel": "#p"}}
    data["notifications"]["account_teams"] = {"666666666666": "PLATFORM"}
    data["notifications"]["budget_teams"] = {}
    folded = parse_config(data, source="test")

    assert folded.team_route("payments").channel == "#payments-oncall"
    assert folded.team_route("PAYMENTS").channel == "#payments-oncall"
    assert folded.notifications.account_teams["666666666666"] == "platform"
