"""The config keys for living beside what an Organization already has, for our own tags and for a reinstall:
``capabilities.anomaly_alerts.monitors.existing_arns``, ``organization.manage_resource_policy``, ``own_tags``,
``reinstall``.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from finops.models.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).parents[3]
MONITOR = "arn:aws:ce::111111111111:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def shipped(**sections: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    data.update(sections)
    return data


def with_monitors(monitors: dict[str, Any]) -> dict[str, Any]:
    data = shipped()
    data["capabilities"]["anomaly_alerts"]["monitors"] = monitors
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, source="finops.yaml")
    return raised.value.problems


def test_the_shipped_config_creates_our_monitors_and_the_resource_policy() -> None:
    config = load_config(ROOT / "finops.yaml")

    monitors = config.capabilities.anomaly_alerts.monitors
    assert (monitors.services, monitors.linked_accounts, monitors.existing_arns) == (True, True, ())
    assert config.organization.manage_resource_policy is True
    assert (config.reinstall.audit_table_name, config.reinstall.state_table_name) == (None, None)


def test_existing_monitors_replace_ours_unless_one_of_ours_is_asked_for() -> None:
    alone = parse_config(with_monitors({"existing_arns": [MONITOR]}), source="t").capabilities.anomaly_alerts
    beside = parse_config(with_monitors({"existing_arns": [MONITOR], "linked_accounts": True}), source="t")

    assert (alone.monitors.services, alone.monitors.linked_accounts) == (False, False)
    assert alone.monitors.existing_arns == (MONITOR,)
    monitors = beside.capabilities.anomaly_alerts.monitors
    assert (monitors.services, monitors.linked_accounts) == (False, True)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:ce::11111111111:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789",  # 11 digits
        "arn:aws:ce:us-east-1:111111111111:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789",  # a region
        "arn:aws:ce::111111111111:anomalysubscription/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    ],
)
def test_an_existing_monitor_must_be_a_monitor_arn(arn: str) -> None:
    assert problems_of(with_monitors({"existing_arns": [MONITOR, arn]})) == [
        "capabilities.anomaly_alerts.monitors.existing_arns[1]: is not a Cost Anomaly monitor ARN of the form "
        "arn:aws:ce::<12-digit account id>:anomalymonitor/<monitor uuid>, as `aws ce get-anomaly-monitors` lists "
        f"them in the management account (got {arn!r})"
    ]


def test_an_existing_monitor_must_be_the_management_accounts() -> None:
    elsewhere = MONITOR.replace("111111111111", "333333333333")

    assert problems_of(with_monitors({"existing_arns": [elsewhere]})) == [
        "capabilities.anomaly_alerts.monitors.existing_arns[0]: the monitor is in account 333333333333, but the "
        "subscription is created in the management account 111111111111, and a subscription can name only monitors "
        "of its own account"
    ]


def test_an_existing_monitor_listed_twice_is_one_problem() -> None:
    assert problems_of(with_monitors({"existing_arns": [MONITOR, MONITOR]})) == [
        f"capabilities.anomaly_alerts.monitors.existing_arns: monitors ['{MONITOR}'] are listed twice"
    ]


def test_no_monitor_at_all_is_refused() -> None:
    assert problems_of(with_monitors({"services": False, "linked_accounts": False})) == [
        "capabilities.anomaly_alerts.monitors: enable at least one monitor (services or linked_accounts) or name "
        "existing_arns"
    ]


def test_manage_resource_policy_is_a_boolean() -> None:
    data = shipped()
    data["organization"]["manage_resource_policy"] = "sometimes"

    (problem,) = problems_of(data)
    assert problem.startswith("organization.manage_resource_policy: Input should be a valid boolean")


def test_own_tags_may_add_tags_the_taxonomy_does_not_know() -> None:
    own_tags = {"team": "platform", "environment": "prod", "cost-center": "CC-0001", "project": "finops"}

    assert parse_config(shipped(own_tags=own_tags), source="t").own_tags == own_tags


def test_own_tags_may_not_use_the_aws_prefix() -> None:
    own_tags = {"team": "platform", "environment": "prod", "cost-center": "CC-0001", "aws:project": "finops"}

    assert problems_of(shipped(own_tags=own_tags)) == [
        "own_tags.aws:project: tag keys starting with aws: are reserved for AWS (got 'aws:project')"
    ]


def test_reinstall_names_dynamodb_tables() -> None:
    config = parse_config(shipped(reinstall={"audit_table_name": "FinOpsHub-StateAudit-1A2B"}), source="t")

    assert config.reinstall.audit_table_name == "FinOpsHub-StateAudit-1A2B"
    (problem,) = problems_of(shipped(reinstall={"audit_table_name": "no spaces allowed"}))
    assert problem == (
        "reinstall.audit_table_name: expected a DynamoDB table name: 3 to 255 letters, digits, _ . or - "
        "(got 'no spaces allowed')"
    )
    (problem,) = problems_of(shipped(reinstall={"audit_table": "x"}))
    assert problem.startswith("reinstall.audit_table: unknown key")
