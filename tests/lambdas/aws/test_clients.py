"""Every request our clients send names the release in its User-Agent, so CloudTrail shows which version did what."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from finops import __version__
from finops.aws.clients import AwsClients

ROOT = Path(__file__).parents[3]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def user_agents(client: object) -> list[str]:
    """The User-Agent header of every request ``client`` sends from now on, as it goes on the wire."""
    sent: list[str] = []
    client.meta.events.register(  # type: ignore[attr-defined]
        "before-send", lambda request, **_: sent.append(request.headers["User-Agent"].decode())
    )
    return sent


@pytest.fixture
def clients() -> Iterator[AwsClients]:
    with mock_aws():
        yield AwsClients(boto3.Session(region_name="us-east-1"))


def test_the_hub_clients_send_the_pyproject_version(clients: AwsClients) -> None:
    sts = clients.client("sts")
    sent = user_agents(sts)

    sts.get_caller_identity()

    [agent] = sent
    assert f"finops-operate/{PYPROJECT_VERSION}" in agent.split(" ")
    assert "app/finops-operate" in agent.split(" ")


def test_clients_in_an_assumed_member_account_send_it_too(clients: AwsClients) -> None:
    scope = clients.assume_role("222222222222", "eu-west-1", role_name="FinOpsMemberRole", session_name="test")
    ec2 = scope.client("ec2")
    sent = user_agents(ec2)

    ec2.describe_volumes()

    assert [f"finops-operate/{PYPROJECT_VERSION}" in agent.split(" ") for agent in sent] == [True]


def test_the_runtime_version_is_the_pyproject_version() -> None:
    # The Lambda asset has no pyproject.toml, so lambdas/finops/_version.py carries a copy: bump both (docs/release.md).
    assert __version__ == PYPROJECT_VERSION, (
        f"lambdas/finops/_version.py says {__version__!r}, pyproject.toml [project] version says "
        f"{PYPROJECT_VERSION!r}: set both to the release (docs/release.md)"
    )


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(PYPROJECT_VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M), (
        f"CHANGELOG.md has no '## [{PYPROJECT_VERSION}] - YYYY-MM-DD' section"
    )
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{PYPROJECT_VERSION}]")


def test_aws_max_attempts_sets_the_retries_and_a_bad_value_keeps_eight(monkeypatch) -> None:
    from finops.aws import clients

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    assert clients._max_attempts() == 3
    for bad in ("0", "many", ""):
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", bad)
        assert clients._max_attempts() == 8
