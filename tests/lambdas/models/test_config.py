"""finops.yaml validation: the shipped file is valid; a bad one is rejected with the key path and the reason."""

from pathlib import Path

import pytest
import yaml

from finops.models.config import ConfigError, Mode, load_config, parse_config

ROOT = Path(__file__).parents[3]


def shipped() -> dict:
    return yaml.safe_load((ROOT / "finops.yaml").read_text())


def test_the_shipped_config_is_valid_and_report_only():
    config = load_config(ROOT / "finops.yaml")

    assert config.organization.regions == ("eu-west-1", "us-east-1")
    assert {c.mode for c in (config.capabilities.ebs_cleanup, config.capabilities.scheduler)} == {Mode.REPORT}
    assert config.team_route("payments").channel == "#payments-oncall"
    assert config.team_route("nobody").channel == "#finops-alerts"
    assert config.team_route(None).channel == "#finops-alerts"


def _break(path: str, value: object) -> dict:
    data = shipped()
    node = data
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("notifications.severity.1.min_impact_usd", "lots", "notifications.severity[1].min_impact_usd: Input should "),
        (
            "organization.management_account_id",
            "1234",
            "organization.management_account_id: expected a 12-digit account id, quoted, e.g. '012345678901' (got '1234')",
        ),
        ("organization.regions", [], "organization.regions: needs at least 1 item(s)"),
        ("organization.automation_account_id", KeyError, "organization.automation_account_id: required key is missing"),
        (
            "notifications.slack.default_channel",
            "finops alerts",
            "notifications.slack.default_channel: expected a Slack channel: #name in lower case without spaces, or a "
            "channel id such as C0123ABCD (got 'finops alerts')",
        ),
        (
            "capabilities.ebs_cleanup.mode",
            "yolo",
            "capabilities.ebs_cleanup.mode: Input should be 'report' or 'enforce'",
        ),
        ("capabilities.ebs_cleanup.grace", 3, "capabilities.ebs_cleanup.grace: unknown key"),
        ("taxonomy.tags.0.pattern", "([", "taxonomy.tags[0].pattern: is not a valid regular expression"),
        (
            "notifications.account_teams",
            {"222222222222": "ghosts"},
            "team 'ghosts' has no entry under notifications.teams",
        ),
        ("capabilities.anomaly_alerts.threshold", {"absolute_usd": None}, "set absolute_usd, percentage, or both"),
    ],
)
def test_bad_values_name_the_key_path(path, value, message):
    with pytest.raises(ConfigError) as error:
        parse_config(_break(path, value), source="finops.yaml")

    assert message in str(error.value)
    assert str(error.value).startswith("finops.yaml is not a valid FinOps config:")


def test_severity_tiers_must_be_most_severe_first():
    data = shipped()
    data["notifications"]["severity"].reverse()

    with pytest.raises(ConfigError, match=r"notifications\.severity: tiers must be listed most severe first"):
        parse_config(data, source="finops.yaml")


def test_every_problem_is_listed_at_once():
    data = _break("organization.regions", "mars-north-1")
    data["notifications"]["slack"].pop("secret_name")

    with pytest.raises(ConfigError) as error:
        parse_config(data, source="x.yaml")

    assert len(error.value.problems) >= 2


@pytest.mark.parametrize(
    ("text", "message"),
    [("organization: [unclosed", "not valid YAML"), ("- just\n- a list\n", "expected a mapping of sections")],
)
def test_unreadable_files(tmp_path, text, message):
    path = tmp_path / "finops.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")


def test_the_engine_runs_ten_targets_a_batch_ten_at_a_time_unless_told_otherwise():
    engine = load_config(ROOT / "finops.yaml").engine

    assert (engine.targets_per_invocation, engine.target_concurrency) == (10, 10)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("target_concurrency", 0, "engine.target_concurrency: Input should be greater than or equal to 1"),
        ("target_concurrency", 11, "engine.target_concurrency: Input should be less than or equal to 10"),
        ("targets_per_invocation", 11, "engine.targets_per_invocation: Input should be less than or equal to 10"),
        ("target_concurrency", "many", "engine.target_concurrency: Input should be a valid integer"),
    ],
)
def test_the_engine_s_batch_and_its_concurrency_are_bounded(key, value, message):
    data = shipped()
    data.setdefault("engine", {})[key] = value

    with pytest.raises(ConfigError) as error:
        parse_config(data, source="finops.yaml")

    assert message in str(error.value)


def test_a_batch_run_one_target_at_a_time_is_still_a_valid_config():
    data = shipped()
    data["engine"] = {**(data.get("engine") or {}), "targets_per_invocation": 5, "target_concurrency": 1}

    assert parse_config(data, source="finops.yaml").engine.target_concurrency == 1
