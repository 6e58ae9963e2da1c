"""Routing decisions of the alert service: who owns it, which channel, what the message says when lookups fail."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from finops.aws.organizations import AccountDirectory
from finops.models.accounts import AccountRef
from finops.models.alerts import CostAnomaly
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

    [rendered] = render(alert("anomaly_sns"), config=config, directory=directory)

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

    [rendered] = render(alert("budget_actual_sns"), config=config, directory=directory)

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


class Directory:
    """Accounts by id, as Organizations would answer (no AWS)."""

    def __init__(self, accounts: dict[str, AccountRef]) -> None:
        self._accounts = accounts

    def lookup(self, account_id: str | None) -> AccountRef:
        return self._accounts.get(account_id or "", AccountRef(account_id))


ORG = Directory(
    {
        "333333333333": AccountRef(
            "333333333333", "payments-prod", {"team": "payments", "owner": "maria@acme.example"}
        ),
        "555555555555": AccountRef("555555555555", "data-dev", {"team": "data"}),
        "666666666666": AccountRef("666666666666", "sandbox", {"team": "growth"}),  # a team with no route
        "111111111111": AccountRef("111111111111", "acme-management"),
    }
)


def shared_anomaly(*causes: tuple[str, float]) -> CostAnomaly:
    return CostAnomaly.model_validate(
        {
            "anomalyId": "shared-1",
            "accountId": "111111111111",
            "impact": {"totalImpact": sum(c for _, c in causes), "totalImpactPercentage": 300},
            "rootCauses": [
                {"linkedAccount": a, "service": "Amazon EC2", "usageType": f"use-{a}", "impactContribution": c}
                for a, c in causes
            ],
        }
    )


def test_an_anomaly_across_two_teams_tells_each_team_its_own_part(config):
    parts = render(shared_anomaly(("333333333333", 1200), ("555555555555", 300)), config=config, directory=ORG)

    assert [(p.message.channel, p.owner.team, p.severity) for p in parts] == [
        ("#payments-oncall", "payments", "critical"),  # its own $1,200 part
        ("#data-oncall", "data", "low"),  # data's own tiers: its $300 part is low
    ]
    assert parts[0].key != parts[1].key  # each posted once, independently
    assert "use-555555555555" not in parts[0].message.blocks[3]["text"]["text"]
    assert "…and 1 in other teams' accounts (sent to data)" in parts[0].message.blocks[3]["text"]["text"]
    assert "<!here>" not in parts[1].message.text  # data is not paged for payments' $1,200


def test_the_account_owner_tag_is_who_to_contact(config):
    [part] = render(shared_anomaly(("333333333333", 1200)), config=config, directory=ORG)

    assert part.owner.contact == "maria@acme.example"


def test_a_team_without_a_route_goes_to_the_default_channel_without_paging_it(config):
    [part] = render(shared_anomaly(("666666666666", 5000)), config=config, directory=ORG)

    assert part.message.channel == "#finops-alerts"
    assert part.unrouted == "growth"
    assert "<!here>" not in part.message.text
    assert part.message.blocks[0]["elements"][0]["text"] == (
        ":warning: Team growth has no channel in notifications.teams, so this came to the default channel without "
        "paging anyone; add notifications.teams.growth to send it to them."
    )


def test_an_anomaly_below_the_least_severe_tier_is_not_posted(config):
    small = CostAnomaly.model_validate(
        {"anomalyId": "tiny", "impact": {"totalImpact": 6, "totalImpactPercentage": 20}, "rootCauses": []}
    )

    [part] = render(small, config=config, directory=ORG)

    assert part.tier is None
