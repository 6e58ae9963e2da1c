"""organization.stacksets: the member StackSets' administrator, targets and operation preferences; a contradictory
setting is refused with the key path and what to do."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from finops.models.config import ConfigError, OrganizationConfig, StackSetAdministrator, load_config, parse_config

ROOT = Path(__file__).parents[3]
MANAGEMENT = "111111111111"
DELEGATED = "444444444444"
OU = "ou-ab12-cd34ef56"
OTHER_OU = "ou-ab12-99999999"


def organization(**changes: Any) -> dict[str, Any]:
    """The shipped config with ``organization`` keys replaced (``stacksets`` merged into the shipped block)."""
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    stacksets = changes.pop("stacksets", {})
    data["organization"].update(changes)
    data["organization"]["stacksets"].update(stacksets)
    return data


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        parse_config(data, source="finops.yaml")
    return str(error.value)


def parsed(data: dict[str, Any]) -> OrganizationConfig:
    return parse_config(data, source="finops.yaml").organization


def test_the_shipped_config_deploys_the_stacksets_from_the_management_account_to_the_root() -> None:
    stacksets = load_config(ROOT / "finops.yaml").organization

    assert stacksets.stacksets.enabled
    assert stacksets.stacksets.administrator is StackSetAdministrator.MANAGEMENT
    assert stacksets.target_ous == ()
    assert stacksets.stackset_ous() == ("r-a1b2",)
    assert (stacksets.stacksets.failure_tolerance_percentage, stacksets.stacksets.max_concurrent_percentage) == (10, 25)
    assert not stacksets.stacksets.retain_stacks_on_account_removal


@pytest.mark.parametrize(
    ("changes", "targets"),
    [
        ({"target_ous": [OU]}, (OU,)),  # the engine's OUs
        ({"target_ous": [OU], "stacksets": {"deployment_ous": [OTHER_OU]}}, (OTHER_OU,)),  # named for the StackSets
        ({"root_id": None, "target_ous": [OU]}, (OU,)),  # no root needed then
    ],
)
def test_the_stacksets_target_deployment_ous_else_target_ous_else_the_root(
    changes: dict[str, Any], targets: tuple[str, ...]
) -> None:
    assert parsed(organization(**changes)).stackset_ous() == targets


def test_without_an_ou_or_the_root_the_stacksets_have_nowhere_to_go() -> None:
    message = problems(organization(root_id=None))

    assert "organization.stacksets.deployment_ous: the StackSets need an OU or the root to deploy to" in message
    assert "set organization.root_id (aws organizations list-roots --query 'Roots[0].Id')" in message


def test_disabled_stacksets_need_no_target() -> None:
    assert parsed(organization(root_id=None, stacksets={"enabled": False})).stackset_ous() == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"stacksets": {"administrator": "delegated"}},
            "organization.stacksets.delegated_admin_account_id: required with stacksets.administrator: delegated",
        ),
        (
            {"stacksets": {"administrator": "delegated", "delegated_admin_account_id": MANAGEMENT}},
            f"stacksets.delegated_admin_account_id: {MANAGEMENT} is the management account, which cannot be its own "
            "delegated administrator: set stacksets.administrator: management instead",
        ),
        (
            {"stacksets": {"delegated_admin_account_id": DELEGATED}},
            f"stacksets.administrator: management, but stacksets.delegated_admin_account_id names {DELEGATED}",
        ),
        (
            {"target_ous": [OU], "excluded_ous": [OU]},
            f"target_ous: ['{OU}'] are in excluded_ous too, so the StackSets would deploy the member role where the "
            "engine never acts",
        ),
        (
            {"stacksets": {"deployment_ous": [OU]}, "excluded_ous": [OU]},
            f"stacksets.deployment_ous: ['{OU}'] are in excluded_ous too",
        ),
        (
            {"stacksets": {"deployment_ous": [OU, OU]}},
            f"organization.stacksets: deployment_ous ['{OU}'] are listed twice",
        ),
        (
            {"stacksets": {"failure_tolerance_count": 3}},
            "organization.stacksets: failure_tolerance_percentage (10) and failure_tolerance_count (3) are both set: "
            "CloudFormation takes one of the two, remove the other",
        ),
        (
            {"stacksets": {"max_concurrent_percentage": None}},
            "organization.stacksets: set max_concurrent_percentage or max_concurrent_count",
        ),
        ({"stacksets": {"max_concurrent_percentage": 0}}, "organization.stacksets.max_concurrent_percentage: "),
        ({"stacksets": {"failure_tolerance_percentage": 101}}, "organization.stacksets.failure_tolerance_percentage: "),
        ({"stacksets": {"administrator": "hub"}}, "organization.stacksets.administrator: Input should be"),
        ({"stacksets": {"member_region": "us-east"}}, "organization.stacksets.member_region: expected an AWS region"),
        ({"stacksets": {"concurrency_mode": "lenient"}}, "organization.stacksets.concurrency_mode: Input should be"),
        ({"root_id": "root"}, "organization.root_id: expected the Organization root's id, e.g. r-ab12"),
        ({"stacksets": {"regions": ["eu-west-1"]}}, "organization.stacksets.regions: unknown key"),
    ],
)
def test_contradictory_or_bad_stackset_settings_name_the_key_path(changes: dict[str, Any], message: str) -> None:
    assert message in problems(organization(**changes))


def test_a_delegated_administrator_is_a_member_account() -> None:
    config = parsed(organization(stacksets={"administrator": "delegated", "delegated_admin_account_id": DELEGATED}))

    assert config.stacksets.administrator is StackSetAdministrator.DELEGATED
    assert config.stacksets.delegated_admin_account_id == DELEGATED


def test_disabled_stacksets_are_not_checked_for_their_administrator() -> None:
    config = parsed(organization(stacksets={"enabled": False, "administrator": "delegated"}))

    assert not config.stacksets.enabled


@pytest.mark.parametrize("setting", ["failure_tolerance", "max_concurrent"])
def test_a_count_given_alone_replaces_the_default_percentage(setting: str) -> None:
    data = organization()
    del data["organization"]["stacksets"][f"{setting}_percentage"]
    data["organization"]["stacksets"][f"{setting}_count"] = 5

    stacksets = parsed(data).stacksets

    assert (getattr(stacksets, f"{setting}_percentage"), getattr(stacksets, f"{setting}_count")) == (None, 5)
