"""Our own resources carry ``own_tags`` from the config, and synth refuses own tags the taxonomy would reject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Template

import app as cdk_app
from finops.models.config import DEFAULT_OWN_TAGS, FinOpsConfig, parse_config
from stacks.app_stacks import FinOpsStacks, create_stacks

pytestmark = pytest.mark.slow  # synthesizes the app


def tags_by_resource(stacks: FinOpsStacks) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(stack, logical id, tags) of every resource that carries tags, in all four stacks."""
    for stack in (stacks.management, stacks.member, stacks.member_regional, stacks.hub):
        for logical_id, resource in Template.from_stack(stack).to_json()["Resources"].items():
            properties: dict[str, Any] = resource.get("Properties", {})
            tags = properties.get("Tags", properties.get("ResourceTags"))
            if isinstance(tags, list):
                yield stack.stack_name, logical_id, {t["Key"]: t["Value"] for t in tags}


def with_project_tag(config: FinOpsConfig, own_tags: dict[str, str] | None) -> dict[str, Any]:
    """The shipped config's data with a taxonomy that also requires ``project`` (one of finops, web)."""
    data = config.model_dump(mode="json")
    data["taxonomy"]["tags"].append({"key": "project", "allowed_values": ["finops", "web"], "case": "lower"})
    if own_tags is None:
        del data["own_tags"]
    else:
        data["own_tags"] = own_tags
    return data


def synth(data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config_file = tmp_path / "finops.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    code = cdk_app.main(["--config", str(config_file)])
    return code, capsys.readouterr().err


def test_a_taxonomy_that_requires_a_new_tag_stops_synth_until_own_tags_has_it(
    config: FinOpsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a taxonomy that adds a required tag, and own_tags as shipped (or left out: the defaults)
    for own_tags in (dict(config.own_tags), None):
        # When synthesizing
        code, err = synth(with_project_tag(config, own_tags), tmp_path, capsys)

        # Then synth stops, naming the key to set and the rule that asks for it
        assert code == 2
        assert "own_tags.project: required by taxonomy.tags[4] (project), and our own resources have no value" in err

    # And a value the rule rejects is named with what it allows
    code, err = synth(with_project_tag(config, {**config.own_tags, "project": "FinOps"}), tmp_path, capsys)
    assert code == 2
    assert "own_tags.project: 'FinOps' is not allowed by taxonomy.tags[4] (project): allowed finops, web" in err


def test_own_tags_from_the_config_are_on_every_tagged_resource(
    config: FinOpsConfig, layer_dir: Path, tmp_path: Path
) -> None:
    # Given own_tags with the new tag, and a team other than the shipped default
    own_tags = {"team": "data", "environment": "prod", "cost-center": "CC-0042", "project": "finops"}
    variant = parse_config(with_project_tag(config, own_tags), source="test variant")

    # When the app is built
    stacks = create_stacks(App(outdir=str(tmp_path / "cdk.out")), variant, layer_dir=layer_dir)

    # Then every resource that carries tags carries exactly these values
    tagged = list(tags_by_resource(stacks))
    assert len(tagged) > 50
    wrong = [(stack, logical_id, tags) for stack, logical_id, tags in tagged if tags != own_tags]
    assert wrong == []


def test_the_shipped_config_tags_our_resources_with_the_defaults_it_writes_out(config: FinOpsConfig) -> None:
    # finops.yaml spells out the defaults, so a user sees what to change
    assert config.own_tags == dict(DEFAULT_OWN_TAGS)


@pytest.mark.parametrize(
    ("own_tags", "problem"),
    [
        (
            {"team": "Platform", "environment": "prod", "cost-center": "CC-0001"},
            "own_tags.team: 'Platform' is not allowed by taxonomy.tags[0] (team): allowed payments, data, platform",
        ),
        (
            {"team": "platform", "environment": "prod", "cost-center": "0001"},
            "own_tags.cost-center: '0001' is not allowed by taxonomy.tags[2] (cost-center): values match ^CC-[0-9]{4}$",
        ),
        (
            {"team": "platform", "Environment": "prod", "cost-center": "CC-0001"},
            "own_tags.Environment: taxonomy.tags[1] (environment) spells the key 'environment'",
        ),
        (
            {"team": "platform", "cost-center": "CC-0001"},
            "own_tags.environment: required by taxonomy.tags[1] (environment), and our own resources have no value",
        ),
    ],
)
def test_own_tags_the_taxonomy_rejects_are_named_with_the_rule(
    config: FinOpsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str], own_tags: dict[str, str], problem: str
) -> None:
    data = config.model_dump(mode="json") | {"own_tags": own_tags}

    code, err = synth(data, tmp_path, capsys)

    assert code == 2
    assert problem in err
