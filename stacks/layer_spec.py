"""What the dependency layer is built for and from: the Lambda target, the inputs digest and the marker format.

The stacks read a built layer's marker to refuse one that is stale or built for another runtime;
``tools/build_layer.py`` builds the layer and writes the marker with these same definitions. Infrastructure never
imports developer tools: the tools depend on this module, not the other way round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
# Written last into the layer folder, so a folder with a marker is a complete build.
MARKER = ".built"

# The Lambda target. stacks/constructs/lambda_function.py uses the matching Runtime.PYTHON_3_14 and ARM_64 (a test
# checks the two agree). 3.14 is the newest Python runtime in aws-cdk-lib 2.275 and every pinned wheel exists for it.
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_PLATFORM = "manylinux2014_aarch64"


@dataclass(frozen=True)
class LayerMarker:
    """What a built layer was built for and from; written as JSON to ``<layer>/.built``."""

    platform: str
    python_version: str
    inputs_sha256: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"


def inputs_digest() -> str:
    """A digest of everything that decides the layer's contents: the requirements and the constraints."""
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, CONSTRAINTS):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_marker(layer: Path, marker: LayerMarker) -> None:
    (layer / MARKER).write_text(marker.to_json(), encoding="utf-8")


def read_marker(layer: Path) -> LayerMarker | None:
    """The marker of the layer at ``layer``, or None when it was never (completely) built."""
    try:
        return LayerMarker(**json.loads((layer / MARKER).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
