"""One synth of the shipped config per session, plus builders for config variants and template lookups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, BootstraplessSynthesizer, Environment
from aws_cdk.assertions import Template

from finops.models.config import FinOpsConfig
from stacks.app_stacks import FinOpsStacks, create_organization_stacks, create_stacks
from stacks.hub_stack import FinOpsHubStack
from stacks.member_regional_stack import FinOpsMemberRegionalStack
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import ALERTS_REGION
from tests.stacks.template_helpers import config_with
from tools.build_layer import ROOT, ensure_layer


@pytest.fixture(scope="session")
def layer_dir() -> Path:
    """The arm64 dependency layer the hub deploys (built here only if `make layer` has not)."""
    return ensure_layer(ROOT / "build" / "layer")


@pytest.fixture(scope="session")
def app_and_stacks(
    config: FinOpsConfig, layer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[App, FinOpsStacks]:
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return app, create_stacks(app, config, layer_dir=layer_dir)


@pytest.fixture(scope="session")
def stacks(app_and_stacks: tuple[App, FinOpsStacks]) -> FinOpsStacks:
    return app_and_stacks[1]


@pytest.fixture(scope="session")
def hub_template(stacks: FinOpsStacks) -> Template:
    return Template.from_stack(stacks.hub)


@pytest.fixture(scope="session")
def management_template(stacks: FinOpsStacks) -> Template:
    return Template.from_stack(stacks.management)


@pytest.fixture(scope="session")
def member_template(stacks: FinOpsStacks) -> Template:
    return Template.from_stack(stacks.member)


@pytest.fixture(scope="session")
def member_regional_template(stacks: FinOpsStacks) -> Template:
    return Template.from_stack(stacks.member_regional)


@pytest.fixture
def management_for(config: FinOpsConfig, tmp_path: Path) -> Callable[..., Template]:
    """Synthesize only the management stack (no assets: fast) for a variant of the shipped config."""

    def build(**sections: Any) -> Template:
        variant = config_with(config, **sections)
        app = App(outdir=str(tmp_path / "cdk.out"))
        return Template.from_stack(create_organization_stacks(app, variant).management)

    return build


@pytest.fixture
def member_for(config: FinOpsConfig, tmp_path: Path) -> Callable[..., Template]:
    """Synthesize only the member stack (no assets: fast) for a variant of the shipped config."""

    def build(**sections: Any) -> Template:
        app = App(outdir=str(tmp_path / "cdk.out"))
        stack = FinOpsMemberStack(
            app, "FinOpsMember", config=config_with(config, **sections), synthesizer=BootstraplessSynthesizer()
        )
        return Template.from_stack(stack)

    return build


@pytest.fixture
def member_regional_for(config: FinOpsConfig, tmp_path: Path) -> Callable[..., Template]:
    """Synthesize only the regional member stack (no assets: fast) for a variant of the shipped config."""

    def build(**sections: Any) -> Template:
        app = App(outdir=str(tmp_path / "cdk.out"))
        stack = FinOpsMemberRegionalStack(
            app, "FinOpsMemberRegional", config=config_with(config, **sections), synthesizer=BootstraplessSynthesizer()
        )
        return Template.from_stack(stack)

    return build


@pytest.fixture
def hub_for(config: FinOpsConfig, layer_dir: Path, tmp_path: Path) -> Callable[..., Template]:
    """Synthesize only the hub stack (with its assets: a few seconds) for a variant of the shipped config."""

    def build(**sections: Any) -> Template:
        variant = config_with(config, **sections)
        app = App(outdir=str(tmp_path / "cdk.out"))
        env = Environment(account=variant.organization.automation_account_id, region=ALERTS_REGION)
        stack = FinOpsHubStack(app, "FinOpsHub", config=variant, layer_dir=layer_dir, env=env)
        return Template.from_stack(stack)

    return build
