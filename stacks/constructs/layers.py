"""The two layers every hub function gets: its dependencies (built by tools/build_layer.py) and the config."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Stage
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from finops.models.config import FinOpsConfig
from stacks.constructs.lambda_function import ARCHITECTURE, RUNTIME
from stacks.layer_spec import LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, MARKER, inputs_digest, read_marker

# Lambda extracts a layer under /opt; the config layer holds finops/config.json.
CONFIG_PATH = "/opt/finops/config.json"


class LayerNotBuiltError(RuntimeError):
    """The dependency layer folder is missing, stale, or built for another runtime; the message says what to run."""


class DependencyLayer(Construct):
    """``LayerVersion`` from the folder ``tools/build_layer.py`` wrote (``python/`` + marker); exposes ``layer``.

    Refuses a folder that was never built, was built for another Python or platform than the functions run on, or
    from other requirements than the current ones, so a stale layer never deploys.
    """

    def __init__(self, scope: Construct, construct_id: str, *, layer_dir: Path) -> None:
        super().__init__(scope, construct_id)
        marker = read_marker(layer_dir)
        if marker is None:
            raise LayerNotBuiltError(f"no built layer at {layer_dir}: run `make layer`")
        if (marker.platform, marker.python_version) != (LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION):
            raise LayerNotBuiltError(
                f"the layer at {layer_dir} is for Python {marker.python_version} on {marker.platform}, the functions "
                f"run Python {LAMBDA_PYTHON_VERSION} on {LAMBDA_PLATFORM}: run `make layer`"
            )
        if marker.inputs_sha256 != inputs_digest():
            raise LayerNotBuiltError(
                f"the layer at {layer_dir} was built from other requirements/constraints: run `make layer`"
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(layer_dir), exclude=[MARKER]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="FinOps runtime dependencies (lambdas/requirements.txt)",
        )


def config_json(config: FinOpsConfig) -> str:
    """The validated config as compact, key-sorted JSON: the same config always gives the same bytes (and asset)."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class ConfigLayer(Construct):
    """``LayerVersion`` holding the validated config at :data:`CONFIG_PATH`; exposes ``layer``.

    Written at synth into ``<outdir>/finops-config/`` so each synth packs exactly the config it validated.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: FinOpsConfig) -> None:
        super().__init__(scope, construct_id)
        stage = Stage.of(self)
        if stage is None:  # pragma: no cover - every construct tree has an App at its root
            raise RuntimeError("ConfigLayer must be inside an App")
        root = Path(stage.outdir) / "finops-config"
        target = root / Path(CONFIG_PATH).relative_to("/opt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_json(config), encoding="utf-8")
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(root)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="FinOps config (finops.yaml, validated at synth)",
        )
