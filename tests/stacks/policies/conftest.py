"""Builders for the policy bundle's tests: the shipped config with the roles a reviewer would list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finops.models.config import FinOpsConfig
from stacks.policies import PolicyBundle, build_bundle
from tests.stacks.template_helpers import config_with

EVENTS = Path(__file__).parent / "events"
MEMBER = "333333333333"  # a member account of the simulated Organization (tools/sim/default_estate.yaml)
HUB = "222222222222"
MANAGEMENT = "111111111111"
BACKUP_ROLE = "arn:aws:iam::*:role/service-role/AWSBackupDefaultServiceRole"
DLM_ROLE = "arn:aws:iam::*:role/AWSDataLifecycleManagerDefaultRole*"
ADMIN_ROLE = f"arn:aws:iam::{HUB}:role/FinOpsAdmin"


@pytest.fixture(scope="session")
def reviewed_config(config: FinOpsConfig) -> FinOpsConfig:
    """The shipped config as a reviewer leaves it: AWS Backup and DLM exempt, one admin role."""
    return config_with(config, policies={"exempt_roles": [BACKUP_ROLE, DLM_ROLE], "admin_roles": [ADMIN_ROLE]})


@pytest.fixture(scope="session")
def reviewed(reviewed_config: FinOpsConfig) -> PolicyBundle:
    return build_bundle(reviewed_config)


def load_cloudtrail(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event
