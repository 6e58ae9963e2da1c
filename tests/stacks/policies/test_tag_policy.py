"""The Tag Policy: each taxonomy key's casing, its allowed values where the rule lists them, and enforced_for only for
policies.enforced_for, each entry checked against the types Tag Policies can enforce."""

from __future__ import annotations

import pytest

from finops.models.config import ConfigError, FinOpsConfig
from stacks.policies import Policy, PolicyType, build_bundle
from stacks.policies.tag_policy import tag_policy
from tests.stacks.template_helpers import config_with


def test_each_key_keeps_the_taxonomys_casing_and_allowed_values(config: FinOpsConfig) -> None:
    policy = tag_policy(config)

    assert policy.type is PolicyType.TAG_POLICY
    assert policy.document == {
        "tags": {
            "cost-center": {"tag_key": {"@@assign": "cost-center"}},  # a pattern rule: no tag_value (no regex)
            "environment": {
                "tag_key": {"@@assign": "environment"},
                "tag_value": {"@@assign": ["dev", "prod", "staging"]},
            },
            "owner": {"tag_key": {"@@assign": "owner"}},
            "team": {"tag_key": {"@@assign": "team"}, "tag_value": {"@@assign": ["data", "payments", "platform"]}},
        }
    }


def test_a_mixed_case_key_is_assigned_its_casing_under_its_lower_case_policy_key(config: FinOpsConfig) -> None:
    variant = config_with(
        config,
        taxonomy={"tags": [{"key": "CostCenter", "allowed_values": ["A1", "B2"]}]},
        own_tags={"CostCenter": "A1"},
    )

    assert tag_policy(variant).document["tags"] == {
        "costcenter": {"tag_key": {"@@assign": "CostCenter"}, "tag_value": {"@@assign": ["A1", "B2"]}}
    }


def test_enforced_for_only_when_configured(config: FinOpsConfig) -> None:
    assert not any("enforced_for" in entry for entry in tag_policy(config).document["tags"].values())

    enforced = tag_policy(config_with(config, policies={"enforced_for": ["rds:db", "ec2:instance"]}))

    for entry in enforced.document["tags"].values():
        assert entry["enforced_for"] == {"@@assign": ["ec2:instance", "rds:db"]}
    assert "enforced for ec2:instance, rds:db" in enforced.description


def test_an_unsupported_enforced_for_type_fails_naming_its_index(config: FinOpsConfig) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(config, policies={"enforced_for": ["ec2:instance", "ec2:instances", "s3:bucket"]})

    problems = raised.value.problems
    assert any(p.startswith("policies.enforced_for[1]: ec2:instances is not a resource type") for p in problems)
    assert any("did you mean ec2:instance?" in p for p in problems)
    assert any(p.startswith("policies.enforced_for[2]: s3:bucket") for p in problems)
    assert not any("enforced_for[0]" in p for p in problems)


def test_all_supported_is_accepted_for_a_listed_service(config: FinOpsConfig) -> None:
    enforced = tag_policy(config_with(config, policies={"enforced_for": ["ec2:ALL_SUPPORTED"]}))

    assert enforced.document["tags"]["team"]["enforced_for"] == {"@@assign": ["ec2:ALL_SUPPORTED"]}


def test_the_reviewer_is_told_what_the_tag_policy_cannot_check(config: FinOpsConfig) -> None:
    [policy] = [p for p in build_bundle(config).policies if isinstance(p, Policy) and p.type is PolicyType.TAG_POLICY]
    cost_center = policy.explanation("cost-center")

    assert cost_center is not None
    assert "the pattern `^CC-[0-9]{4}$`" in cost_center.denied
    assert "tag_compliance" in cost_center.denied
    assert "reported only" in cost_center.denied
