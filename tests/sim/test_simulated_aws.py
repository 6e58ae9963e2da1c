"""simulated_aws and seed as a test or the CLI uses them: what they set up, refuse, and put back."""

from __future__ import annotations

import os
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from tools.sim.estate import SimulationError, seed, simulated_aws
from tools.sim.model import default_estate, generate_estate, parse_estate


def test_seed_refuses_when_moto_would_load_its_public_images() -> None:
    with (
        mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "true"}),
        mock_aws(),
        pytest.raises(SimulationError, match="MOTO_EC2_LOAD_DEFAULT_AMIS=false"),
    ):
        seed(default_estate())


def test_seeding_twice_in_one_mock_is_refused(small_estate: dict[str, Any]) -> None:
    estate = parse_estate(small_estate, source="small")

    with simulated_aws(estate), pytest.raises(SimulationError, match="already holds a seeded Organization"):
        seed(estate)


def test_simulated_aws_puts_the_environment_back() -> None:
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MOTO_EC2_LOAD_DEFAULT_AMIS")
    before = {k: os.environ.get(k) for k in keys}

    with simulated_aws(generate_estate(2)):
        assert os.environ["AWS_ACCESS_KEY_ID"] != before["AWS_ACCESS_KEY_ID"]

    assert {k: os.environ.get(k) for k in keys} == before


def test_seeding_a_few_hundred_accounts_is_quick() -> None:
    estate = generate_estate(200)

    with simulated_aws(estate) as sim:
        pages = boto3.client("organizations").get_paginator("list_accounts").paginate()
        listed = {a["Id"] for page in pages for a in page["Accounts"]}

    assert listed == {a.id for a in estate.accounts} | {"111111111111"}
    assert sim.organization_id.startswith("o-")
