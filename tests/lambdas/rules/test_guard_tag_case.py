"""The guards with the environment or protect key in two casings on one resource (EC2 tag keys are case-sensitive):
whichever casing says prod or protect wins, in the scheduler as in the clean-up (test_cleanup_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from finops.engine.model import RunContext, Skip, Target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.models.inventory import Resource
from finops.rules.scheduler_plan import plan_resource

STOP = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # office-hours stops (Friday, Berlin 19:00)
DEV = Target("555555555555", "eu-west-1", name="data-dev", team="data")


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"environment": "dev", "Environment": "prod"}, "prod (environment=prod)"),
        ({"Environment": "prod", "environment": "dev"}, "prod (environment=prod)"),
        (
            {"environment": "dev", "finops:protect": "false", "FinOps:Protect": "true"},
            "protected (finops:protect=true)",
        ),
        ({"environment": "dev", "finops:protect": "no", "FINOPS:PROTECT": "1"}, "protected (finops:protect=1)"),
    ],
)
def test_the_scheduler_never_stops_an_instance_a_case_variant_tag_guards(
    config: FinOpsConfig, tags: dict[str, str], reason: str
) -> None:
    instance = Resource("ec2:instance", "i-1", "running", {"schedule": "office-hours", **tags}, raw_state="running")
    decided = plan_resource(instance, DEV, _tick(), config)
    assert isinstance(decided, Skip)
    assert decided.reason == reason  # names the value that guards, not the other casing's


def _tick() -> RunContext:
    since = STOP - timedelta(minutes=15)
    return RunContext("r1", "scheduler", "tick", STOP, Mode.ENFORCE, since=since, params={"due": ["office-hours"]})


def test_without_a_guarding_variant_the_same_instance_is_stopped(config: FinOpsConfig) -> None:
    tags = {"schedule": "office-hours", "environment": "dev", "Environment": "staging", "FinOps:Protect": "false"}
    instance = Resource("ec2:instance", "i-1", "running", tags, raw_state="running")
    decided = plan_resource(instance, DEV, _tick(), config)
    assert not isinstance(decided, Skip)
    assert decided is not None
    assert decided.action == "stop"


@pytest.mark.parametrize(
    ("tags", "prod", "protected"),
    [
        ({"environment": "dev", "ENVIRONMENT": "Production"}, True, False),
        ({"environment": "dev"}, False, False),
        ({"finops:protect": "false", "Finops:protect": "off"}, False, False),
        ({"finops:protect": "false", "Finops:protect": "keep"}, False, True),  # any value but an explicit no
    ],
)
def test_the_safety_helpers_consider_every_casing(
    config: FinOpsConfig, tags: dict[str, str], prod: bool, protected: bool
) -> None:
    assert (config.safety.is_prod(tags), config.safety.is_protected(tags)) == (prod, protected)
