"""Build the Lambda dependency layer without Docker: pip installs the wheels for the Lambda's platform into a folder.

    python -m tools.build_layer --out build/layer [--platform manylinux2014_aarch64 --python-version 3.14]

The result is ``<out>/python/`` (what Lambda puts on ``sys.path`` as ``/opt/python``) and the marker ``<out>/.built``,
which records the target and a digest of the inputs so ``stacks/`` can refuse a layer built for another runtime or
from older requirements. What the Lambda runtime already provides (boto3 and its dependencies) is left out, so the
layer never shadows the runtime's boto3 with a botocore of another release.
"""

from __future__ import annotations

import argparse
import os
import platform as host
import shutil
import subprocess
import sys
from pathlib import Path

# The target, the inputs digest and the marker format live with the stacks, which read them (infrastructure does not
# import tools); re-exported here for the tools and tests that build layers.
from stacks.layer_spec import (
    CONSTRAINTS,
    LAMBDA_PLATFORM,
    LAMBDA_PYTHON_VERSION,
    MARKER,
    REQUIREMENTS,
    ROOT,
    LayerMarker,
    inputs_digest,
    read_marker,
    write_marker,
)

__all__ = [
    "CONSTRAINTS",
    "LAMBDA_PLATFORM",
    "LAMBDA_PYTHON_VERSION",
    "MARKER",
    "REQUIREMENTS",
    "ROOT",
    "LayerMarker",
    "build_layer",
    "ensure_layer",
    "host_platform",
    "host_python_version",
    "inputs_digest",
    "read_marker",
]

# Distributions the Lambda Python runtime ships (boto3 and its dependency closure), by normalized name.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"})


def host_platform() -> str:
    """The pip platform tag of this machine, for a layer that this interpreter can import (tests)."""
    return f"manylinux2014_{host.machine()}"


def host_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _prune_runtime_provided(site: Path) -> list[str]:
    """Delete the runtime-provided distributions (every file their RECORD lists); return their names."""
    pruned: list[str] = []
    for dist_info in sorted(site.glob("*.dist-info")):
        name = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        if _normalize(name) not in RUNTIME_PROVIDED:
            continue
        for line in (dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
            relative = line.split(",", 1)[0]
            if relative:
                (site / relative).unlink(missing_ok=True)
        shutil.rmtree(dist_info, ignore_errors=True)
        pruned.append(name)
    # RECORD lists files only: drop the package folders they leave empty.
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return pruned


def build_layer(out: Path, platform: str = LAMBDA_PLATFORM, python_version: str = LAMBDA_PYTHON_VERSION) -> Path:
    """Install lambdas/requirements.txt for ``platform``/``python_version`` into ``out/python``; return ``out``.

    Built in a staging folder next to ``out`` and moved into place at the end, so a failed or concurrent build never
    leaves a half-filled layer behind a marker.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(site),
        "--platform", platform, "--implementation", "cp", "--python-version", python_version,
        "--only-binary=:all:",
        "-r", str(REQUIREMENTS), "-c", str(CONSTRAINTS),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    _prune_runtime_provided(site)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing in a layer runs them
    marker = LayerMarker(platform=platform, python_version=python_version, inputs_sha256=inputs_digest())
    write_marker(staging, marker)

    retired = out.with_name(f".{out.name}.retired-{os.getpid()}")
    if out.exists():
        out.rename(retired)
    staging.rename(out)
    shutil.rmtree(retired, ignore_errors=True)
    return out


def ensure_layer(out: Path, platform: str = LAMBDA_PLATFORM, python_version: str = LAMBDA_PYTHON_VERSION) -> Path:
    """``out``, built by :func:`build_layer` unless its marker says it already is, for exactly these inputs."""
    wanted = LayerMarker(platform=platform, python_version=python_version, inputs_sha256=inputs_digest())
    if read_marker(out) != wanted:
        build_layer(out, platform, python_version)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build_layer", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "layer", help="layer folder (default: %(default)s)"
    )
    parser.add_argument("--platform", default=LAMBDA_PLATFORM, help="pip platform tag (default: %(default)s)")
    parser.add_argument("--python-version", default=LAMBDA_PYTHON_VERSION, help="target Python (default: %(default)s)")
    args = parser.parse_args(argv)
    out = build_layer(args.out, args.platform, args.python_version)
    count = len(list((out / "python").glob("*.dist-info")))
    print(f"built {out}: {count} distributions for Python {args.python_version} on {args.platform}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
