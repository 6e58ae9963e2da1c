"""The hub refuses a dependency layer that was never built, is stale, or targets another runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from stacks.constructs.layers import DependencyLayer, LayerNotBuiltError
from stacks.layer_spec import MARKER

pytestmark = pytest.mark.slow  # builds the arm64 layer if `make layer` has not


def layer_with_marker(folder: Path, **marker: str) -> Path:
    (folder / "python").mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps(marker))
    return folder


def build(layer_dir: Path) -> DependencyLayer:
    return DependencyLayer(Stack(App(), "Hub"), "Dependencies", layer_dir=layer_dir)


def test_a_missing_layer_says_to_run_make_layer(tmp_path: Path) -> None:
    with pytest.raises(LayerNotBuiltError, match=r"no built layer .* run `make layer`"):
        build(tmp_path / "nothing-here")


def test_a_layer_for_another_python_or_platform_is_refused(tmp_path: Path, layer_dir: Path) -> None:
    marker = json.loads((layer_dir / MARKER).read_text())
    folder = layer_with_marker(tmp_path, **{**marker, "platform": "manylinux2014_x86_64"})

    with pytest.raises(LayerNotBuiltError, match=r"is for Python 3\.14 on manylinux2014_x86_64"):
        build(folder)


def test_a_layer_built_from_other_requirements_is_refused(tmp_path: Path, layer_dir: Path) -> None:
    marker = json.loads((layer_dir / MARKER).read_text())
    folder = layer_with_marker(tmp_path, **{**marker, "inputs_sha256": "0" * 64})

    with pytest.raises(LayerNotBuiltError, match="other requirements"):
        build(folder)


def test_the_built_layer_is_accepted(tmp_path: Path, layer_dir: Path) -> None:
    copy = tmp_path / "layer"
    shutil.copytree(layer_dir, copy, symlinks=True)

    assert build(copy).layer is not None
