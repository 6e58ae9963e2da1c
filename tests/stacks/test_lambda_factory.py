"""The factory's IAM contract: it grants what a handler module declares, and refuses what it cannot justify."""

from __future__ import annotations

import sys
import types

import pytest

from stacks.constructs import lambda_function
from stacks.constructs.lambda_function import HANDLERS, handler_permissions, unscoped_reason


def test_each_handler_module_declares_its_permissions_as_a_tuple_of_actions() -> None:
    for name in HANDLERS:
        permissions = handler_permissions(name)
        assert all(action.count(":") == 1 for action in permissions), (name, permissions)


def test_organizations_reads_carry_their_reason_for_resource_star() -> None:
    assert "organization id" in unscoped_reason(("organizations:DescribeAccount",))


def test_an_action_of_a_service_without_a_recorded_reason_stops_the_synth() -> None:
    with pytest.raises(ValueError, match=r"no reason recorded for granting \['ec2'\] actions on every resource"):
        unscoped_reason(("organizations:DescribeAccount", "ec2:StopInstances"))


def test_a_handler_whose_permissions_are_not_a_tuple_of_actions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("finops_test_handler")
    module.PERMISSIONS = ["organizations:DescribeAccount"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(lambda_function, "HANDLERS", {"broken": module.__name__})

    with pytest.raises(TypeError, match=r"finops_test_handler\.PERMISSIONS must be a tuple"):
        handler_permissions("broken")
