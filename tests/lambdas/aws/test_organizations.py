"""Targets and account lookups against the simulated Organization, through real boto3 calls to moto."""

from __future__ import annotations

import pytest
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.aws.organizations import AccountDirectory, enumerate_targets
from finops.models.config import FinOpsConfig

MEMBERS = {"222222222222", "333333333333", "444444444444", "555555555555", "666666666666", "777777777777"}


def configured(config: FinOpsConfig, **organization) -> FinOpsConfig:
    defaults = {"regions": ("eu-west-1", "us-east-1")}
    return config.model_copy(update={"organization": config.organization.model_copy(update=defaults | organization)})


def accounts(enumeration) -> set[str]:
    return {t.account for t in enumeration.targets}


@pytest.mark.usefixtures("sim")
def test_every_active_member_times_every_region_minus_the_excluded(config):
    enumeration = enumerate_targets(
        configured(config, excluded_accounts=("666666666666",)), AwsClients().client("organizations")
    )

    assert accounts(enumeration) == MEMBERS - {"666666666666"}
    assert len(enumeration.targets) == 2 * len(accounts(enumeration))
    assert enumeration.targets == sorted(enumeration.targets)
    assert {e["account"]: e["reason"] for e in enumeration.excluded} == {
        "111111111111": "the management account (organization.include_management_account is false)",
        "666666666666": "listed in organization.excluded_accounts",
    }


def test_target_ous_include_nested_ous_and_explicit_accounts(sim, config):
    workloads = sim.ou_ids["Workloads"]

    enumeration = enumerate_targets(
        configured(config, target_ous=(workloads,), target_accounts=("222222222222",), regions=("eu-west-1",)),
        AwsClients().client("organizations"),
    )

    assert [t.account for t in enumeration.targets] == ["222222222222", "333333333333", "444444444444", "555555555555"]


def test_excluded_ous_the_exclude_tag_and_the_management_account_when_included(sim, config):
    org = AwsClients().client("organizations")
    org.tag_resource(ResourceId="555555555555", Tags=[{"Key": "finops:exclude", "Value": " TRUE "}])

    enumeration = enumerate_targets(
        configured(config, excluded_ous=(sim.ou_ids["Sandbox"],), include_management_account=True), org
    )

    reasons = {e["account"]: e["reason"] for e in enumeration.excluded}
    assert "111111111111" in accounts(enumeration)
    assert reasons["555555555555"] == "account tag finops:exclude= TRUE  (organization.exclude_account_tag)"
    sandbox = {a.id for a in sim.estate.accounts if a.ou == "Sandbox"}
    assert sandbox
    assert all(reasons[a].startswith("in excluded OU ou-") for a in sandbox)
    assert not accounts(enumeration) & (sandbox | {"555555555555"})


def test_prod_accounts_by_id_ou_and_account_tag_stay_targets_marked_prod(sim, config):
    enumeration = enumerate_targets(
        configured(config, prod_accounts=("444444444444",), prod_ous=(sim.ou_ids["Infrastructure"],)),
        AwsClients().client("organizations"),
    )

    prod = {t.account: t.prod_reason for t in enumeration.targets if t.prod}
    assert prod["444444444444"] == "listed in organization.prod_accounts"
    assert prod["222222222222"].startswith("in prod OU ou-")
    assert prod["333333333333"] == "account tag environment=prod"  # payments-prod carries environment=prod
    teams = {t.account: t.team for t in enumeration.targets}
    assert teams["333333333333"] == "payments"


def test_without_an_organization_only_listed_accounts_are_targets_and_it_says_so(monkeypatch, config):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        organizations = AwsClients().client("organizations")
        alone = enumerate_targets(configured(config), organizations)
        listed = enumerate_targets(configured(config, target_accounts=("444444444444",)), organizations)

    assert alone.targets == []  # never the caller's own account by default
    assert "no Organizations access (AWSOrganizationsNotInUseException)" in alone.notes[0]
    assert [(t.account, t.region) for t in listed.targets] == [
        ("444444444444", "eu-west-1"),
        ("444444444444", "us-east-1"),
    ]


@pytest.mark.usefixtures("sim")
def test_directory_reads_names_and_tags_once_per_account():
    calls: list[str] = []
    org = AwsClients().client("organizations")
    org.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    directory = AccountDirectory(org)

    first = directory.lookup("333333333333")
    directory.lookup("333333333333")

    assert (first.name, first.tags["team"]) == ("payments-prod", "payments")
    assert calls == ["DescribeAccount", "ListTagsForResource"]
    assert directory.lookup("999999999999").name is None  # unknown account: no crash, just no name
    assert directory.lookup(None).label == "unknown account"


def test_assumed_role_scope_reaches_the_member_account_and_names_it(sim):
    clients = AwsClients()

    scope = clients.assume_role("555555555555", "eu-west-1", role_name=sim.member_role_name, session_name="test")
    identity = scope.client("sts").get_caller_identity()

    assert identity["Account"] == "555555555555"
    assert scope.log_keys() == {"account": "555555555555", "region": "eu-west-1"}
    assert (
        clients.assume_role("555555555555", "us-east-1", role_name=sim.member_role_name, session_name="t").session
        is scope.session
    )  # one AssumeRole per account, reused across regions
