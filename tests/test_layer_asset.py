"""The deployed code imports from the asset alone: lambdas/ + the dependency layer + what the Lambda runtime ships.

The same ``build_layer`` that makes the arm64 layer builds a copy for this machine, and a clean interpreter
(``-I -S``: no site-packages, no PYTHONPATH) imports every handler with nothing else on its path. The real arm64 layer
is then checked for what we cannot run here: every required distribution present, every extension built for it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks.constructs.lambda_function import ARCHITECTURE, HANDLERS, RUNTIME
from stacks.layer_spec import LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, REQUIREMENTS, ROOT, inputs_digest
from tools.build_layer import ensure_layer, host_platform, host_python_version

pytestmark = pytest.mark.slow

# What the Lambda Python runtime puts on sys.path besides the function and its layers (boto3 and its closure).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
ELF_MACHINE_AARCH64 = 183


@pytest.fixture(scope="session")
def host_layer() -> Path:
    """A layer for this interpreter, cached under build/layer-host/ by the digest of requirements + constraints."""
    key = f"{inputs_digest()[:16]}-py{host_python_version()}-{host_platform()}"
    return ensure_layer(ROOT / "build" / "layer-host" / key, host_platform(), host_python_version())


@pytest.fixture(scope="session")
def lambda_layer() -> Path:
    """The real arm64 layer (what `make layer` builds and the hub stack deploys)."""
    return ensure_layer(ROOT / "build" / "layer")


@pytest.fixture
def runtime_provided(tmp_path: Path) -> Path:
    """A folder holding only symlinks to the modules the Lambda runtime provides, taken from this venv."""
    folder = tmp_path / "runtime"
    folder.mkdir()
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} is not installed in the venv"
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


def test_the_layer_targets_the_runtime_and_architecture_the_functions_use() -> None:
    assert RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}"
    assert ARCHITECTURE.name == "arm64"
    assert LAMBDA_PLATFORM.endswith("_aarch64")


def test_every_handler_imports_from_lambdas_the_layer_and_the_runtime_modules_alone(
    host_layer: Path, runtime_provided: Path
) -> None:
    # Given a clean interpreter whose only non-stdlib paths are the function asset, the layer and the runtime's boto3
    paths = [str(ROOT / "lambdas"), str(host_layer / "python"), str(runtime_provided)]
    # the handlers import their config model and runtime on their first call (tests/lambdas/handlers/
    # test_lazy_imports.py): import those too, so the check covers what an invocation loads
    modules = [*sorted(HANDLERS.values()), "finops.models.config", "finops.runtime"]
    script = (
        "import sys; sys.path[:0] = sys.argv[1:]; "
        "assert not any('site-packages' in p for p in sys.path), sys.path; "
        f"import {', '.join(modules)}; "
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'aws_lambda_powertools', "
        "'yaml', 'slack_sdk') and '.' not in m)))"
    )

    # When it imports every handler module the stack deploys, and what their first invocation imports
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *paths], capture_output=True, text=True, check=False, cwd="/"
    )

    # Then they import, and their dependencies came from the layer
    assert result.returncode == 0, result.stderr
    assert {"pydantic", "aws_lambda_powertools"} <= set(result.stdout.split())


def _requirements() -> list[Requirement]:
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [Requirement(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()]


def test_the_lambda_layer_holds_every_required_distribution_at_its_pinned_version(lambda_layer: Path) -> None:
    installed = {}
    for dist_info in (lambda_layer / "python").glob("*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[canonicalize_name(name)] = version

    for requirement in _requirements():
        version = installed.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is missing from the layer"
        assert requirement.specifier.contains(version), f"{requirement.name} {version} is not {requirement.specifier}"
    # boto3 and friends come from the runtime: shipping them would shadow its boto3 with another botocore
    assert not {"boto3", "botocore", "s3transfer", "urllib3"} & installed.keys()


def test_every_compiled_extension_in_the_lambda_layer_is_built_for_arm64_and_the_runtime_python(
    lambda_layer: Path,
) -> None:
    cpython = f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}"
    extensions = sorted((lambda_layer / "python").rglob("*.so"))
    assert extensions, "expected compiled extensions (pydantic-core, pyyaml)"
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, f"{extension} is not aarch64"
        tag = re.search(r"\.(cpython-\d+-[\w-]+|abi3)\.so$", extension.name)
        assert tag is not None, f"{extension.name} carries no ABI tag"
        if tag.group(1) != "abi3":
            assert tag.group(1) == f"{cpython}-aarch64-linux-gnu", extension.name

    for wheel in (lambda_layer / "python").glob("*.dist-info/WHEEL"):
        tags = [line.split(": ", 1)[1] for line in wheel.read_text().splitlines() if line.startswith("Tag: ")]
        platform_tags = [t for t in tags if not t.endswith("-any")]
        for platform_tag in platform_tags:
            assert platform_tag.endswith("aarch64"), f"{wheel.parent.name}: {platform_tag}"
