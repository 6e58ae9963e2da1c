"""Organizations' hard limits, which moto does not enforce: 5,120 characters an SCP, 10,000 a Tag Policy,
policies.max_scp_slots SCPs per target. A bundle that fits is packed into as few SCPs as fit; one that does not stops
with the limit, the excess and the fix."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.models.config import ConfigError, FinOpsConfig
from stacks.policies import SCP_MAX_CHARS, TAG_POLICY_MAX_CHARS, PolicyLimitError, PolicyType, build_bundle
from stacks.policies.limits import pack_statements
from stacks.policies.scp import scp_statements
from tests.stacks.template_helpers import config_with


def many_keys(config: FinOpsConfig, count: int, **policies: object) -> FinOpsConfig:
    keys = [f"cost-allocation-dimension-{i:02d}" for i in range(count)]
    return config_with(
        config,
        taxonomy={"tags": [{"key": k} for k in keys]},
        own_tags=dict.fromkeys(keys, "x"),
        policies=policies,
    )


def test_sizes_are_counted_minified_as_organizations_counts_them(config: FinOpsConfig) -> None:
    for policy in build_bundle(config).policies:
        assert policy.size == len(json.dumps(policy.document, separators=(",", ":")).encode())
        assert policy.size <= policy.limit
        assert policy.limit == (
            SCP_MAX_CHARS if policy.type is PolicyType.SERVICE_CONTROL_POLICY else TAG_POLICY_MAX_CHARS
        )


def test_the_shipped_taxonomy_fits_in_the_shipped_slots(config: FinOpsConfig) -> None:
    bundle = build_bundle(config)

    assert 1 <= len(bundle.scps) <= config.policies.max_scp_slots
    # packed: no two SCPs that would fit in one
    sizes = sorted(p.size for p in bundle.scps)
    assert len(sizes) == 1 or sizes[0] + sizes[1] > SCP_MAX_CHARS


def test_every_statement_is_in_exactly_one_scp(config: FinOpsConfig) -> None:
    bundle = build_bundle(config)
    packed = [s["Sid"] for p in bundle.scps for s in p.document["Statement"]]

    assert sorted(packed) == sorted(s.sid for s in scp_statements(config))


def test_too_many_required_keys_for_the_slots_stop_with_the_limit_the_excess_and_the_fix(config: FinOpsConfig) -> None:
    with pytest.raises(PolicyLimitError) as raised:
        build_bundle(many_keys(config, 9, max_scp_slots=2))

    message = str(raised.value)
    assert "policies.max_scp_slots" in message
    assert "need 3 SCPs" in message or "need 4 SCPs" in message
    assert "of at most 5,120 characters" in message
    assert "characters too many" in message
    assert "raise policies.max_scp_slots" in message
    assert "mark fewer taxonomy keys required" in message
    assert isinstance(raised.value, ConfigError)  # app.py prints it as a config problem and exits 2


def test_more_slots_fit_what_two_do_not(config: FinOpsConfig) -> None:
    bundle = build_bundle(many_keys(config, 9, max_scp_slots=4))

    assert 3 <= len(bundle.scps) <= 4
    assert all(p.size <= SCP_MAX_CHARS for p in bundle.scps)


def test_a_statement_too_big_for_any_scp_is_named(config: FinOpsConfig) -> None:
    exempt = [f"arn:aws:iam::*:role/{'break-glass-role-with-a-long-name-' + str(i):s}" for i in range(90)]

    with pytest.raises(PolicyLimitError, match=r"statement Deny\w+ is [\d,]+ characters: one SCP holds at most 5,120"):
        build_bundle(config_with(config, policies={"exempt_roles": exempt}))


def test_a_tag_policy_past_10000_characters_stops_naming_the_taxonomy(config: FinOpsConfig) -> None:
    values = [f"value-number-{i:04d}-of-a-very-long-list" for i in range(300)]
    variant = config_with(
        config,
        taxonomy={"tags": [{"key": "team", "allowed_values": values}, {"key": "environment"}, {"key": "cost-center"}]},
        own_tags={"team": values[0], "environment": "prod", "cost-center": "CC-0001"},
    )

    with pytest.raises(
        PolicyLimitError, match=r"taxonomy: the Tag Policy finops-tag-policy is [\d,]+ characters, over"
    ):
        build_bundle(variant)


def test_packing_is_deterministic(config: FinOpsConfig) -> None:
    statements = scp_statements(many_keys(config, 8, max_scp_slots=4))

    first = pack_statements(statements, max_policies=4)
    again = pack_statements(list(reversed(statements)), max_policies=4)

    assert [[s.sid for s in b] for b in first] == [[s.sid for s in b] for b in again]


KEY_CHARS = string.ascii_letters + string.digits + "-_.:/=+@"
keys = st.text(KEY_CHARS, min_size=1, max_size=40).filter(lambda k: not k.lower().startswith("aws:"))
rules = st.lists(
    st.tuples(keys, st.booleans(), st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=20), max_size=6)),
    min_size=1,
    max_size=10,
    unique_by=lambda r: r[0].lower(),
)
roles = st.lists(
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40).map(
        lambda name: f"arn:aws:iam::*:role/{name}"
    ),
    max_size=6,
    unique=True,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rules, exempt=roles, admins=roles, slots=st.integers(min_value=1, max_value=4))
def test_every_generated_scp_fits_or_the_generator_says_why(
    config: FinOpsConfig,
    rules: list[tuple[str, bool, list[str]]],
    exempt: list[str],
    admins: list[str],
    slots: int,
) -> None:
    variant = config_with(
        config,
        taxonomy={"tags": [{"key": k, "required": r, "allowed_values": v} for k, r, v in rules]},
        own_tags={k: (v[0] if v else "x") for k, _, v in rules},
        policies={"exempt_roles": exempt, "admin_roles": admins, "max_scp_slots": slots},
    )
    try:
        bundle = build_bundle(variant)
    except PolicyLimitError as error:
        refused = str(error)
    else:
        refused = ""
    if refused:  # the clear error: which limit, and the fix
        assert "Fix:" in refused
        assert "5,120" in refused or "10,000" in refused
        return
    assert 1 <= len(bundle.scps) <= slots
    for policy in bundle.policies:
        assert policy.size <= policy.limit, policy.name
    sids = [s["Sid"] for p in bundle.scps for s in p.document["Statement"]]
    assert len(sids) == len(set(sids))
