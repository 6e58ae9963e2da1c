"""Targets and account lookups against the simulated Organization, through real boto3 calls to moto."""

from __future__ import annotations

import pytest
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.aws.organizations import AccountDirectory, Target, list_targets
from finops.models.config import OrganizationConfig

MEMBERS = {"222222222222", "333333333333", "444444444444", "555555555555", "666666666666"}


def org_config(**overrides) -> OrganizationConfig:
    values = {
        "management_account_id": "111111111111",
        "automation_account_id": "222222222222",
        "regions": ("eu-west-1", "us-east-1"),
    } | overrides
    return OrganizationConfig(**values)


@pytest.mark.usefixtures("sim")
def test_every_active_account_times_every_region_minus_the_excluded():
    clients = AwsClients()

    targets = list_targets(
        org_config(excluded_accounts=("666666666666",)), clients.client("organizations"), caller_account="111111111111"
    )

    assert {t.account for t in targets} == (MEMBERS | {"111111111111"}) - {"666666666666"}
    assert len(targets) == 2 * len({t.account for t in targets})
    assert targets == sorted(targets)


def test_target_ous_include_nested_ous_and_explicit_accounts(sim):
    clients = AwsClients()
    workloads = sim.ou_ids["Workloads"]

    targets = list_targets(
        org_config(target_ous=(workloads,), target_accounts=("222222222222",), regions=("eu-west-1",)),
        clients.client("organizations"),
        caller_account="111111111111",
    )

    assert targets == [Target(a, "eu-west-1") for a in ("222222222222", "333333333333", "444444444444", "555555555555")]


def test_without_an_organization_the_callers_account_is_the_target(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        clients = AwsClients()
        targets = list_targets(org_config(), clients.client("organizations"), caller_account=clients.caller_account())

    assert targets == [Target("123456789012", "eu-west-1"), Target("123456789012", "us-east-1")]


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
