"""Shared builders for the simulator's tests: a seeded default estate, and a small estate to grow per test."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tools.sim.estate import SimulatedOrganization, simulated_aws
from tools.sim.model import DEFAULT_ESTATE_PATH

SMALL_ESTATE: dict[str, Any] = {
    "management": {"id": "111111111111", "name": "acme-management", "email": "aws@acme.example"},
    "regions": ["eu-west-1"],
    "ous": ["Workloads/Prod"],
    "accounts": [
        {
            "id": "333333333333",
            "name": "payments-prod",
            "email": "aws-payments@acme.example",
            "ou": "Workloads/Prod",
            "tags": {"team": "payments"},
            "regions": {
                "eu-west-1": {
                    "instances": [{"name": "api", "launched_at": "2026-09-01T00:00:00Z"}],
                    "volumes": [
                        {"name": "api-data", "size_gb": 10, "attached_to": "api", "created_at": "2026-09-01T00:01:00Z"},
                        {"name": "old-export", "size_gb": 100, "created_at": "2025-09-01T00:00:00Z"},
                    ],
                }
            },
        }
    ],
}


@pytest.fixture
def small_estate() -> dict[str, Any]:
    """A valid estate file's data (one member account, one region) for a test to change."""
    return copy.deepcopy(SMALL_ESTATE)


@pytest.fixture
def default_estate_data() -> dict[str, Any]:
    with DEFAULT_ESTATE_PATH.open(encoding="utf-8") as file:
        data: dict[str, Any] = yaml.safe_load(file)
    return data


@pytest.fixture(scope="module")
def default_sim() -> Iterator[SimulatedOrganization]:
    """The default estate, seeded once per module: tests that use it only read."""
    with simulated_aws() as sim:
        yield sim
