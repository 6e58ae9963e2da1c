"""Cold-start import time of every Lambda handler module: a fresh interpreter per sample, as Lambda's init does.

``python -m tools.bench.imports [--samples N] [--module finops.handlers.x ...]`` prints JSON, one row per module:
the median, min and max wall time of ``import <module>`` measured inside the child (interpreter start-up excluded),
the top contributors from one ``-X importtime`` run, and which heavy packages the import left loaded.

The child gets the environment a deployed function has (the function factory's POWERTOOLS_* variables, the
settings the hub stack passes, Lambda's own reserved variables with active tracing), so the import takes the code
paths it takes in Lambda: Powertools' Tracer, for one, is enabled only where LAMBDA_TASK_ROOT is set. Nothing is
called: AWS credentials are dummies and the X-Ray daemon address is 127.0.0.1.

Two differences from Lambda stay: this interpreter is the venv's (3.11; the functions run
``stacks.constructs.lambda_function.RUNTIME``, Python 3.14), and the byte-code caches here are warm, while the
function asset and the layer ship no ``.pyc`` (Lambda compiles our modules and the layer's on every cold start).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from finops.handlers import HANDLERS
from finops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"

# Packages worth naming when an import leaves them loaded: what a cold start should not pay for unless it needs it.
HEAVY = ("boto3", "botocore", "aws_xray_sdk", "slack_sdk", "pydantic", "yaml", "wrapt", "jmespath")

# One cold start in the child: ``python -c TIMED <module> [<deferred module> ...]`` times the import, then what the
# first invocation sets up before its own work: the tracer, if the module makes it lazily (``tracer.tracer``), and the
# modules the handler imports in its body. Prints {"ms": ..., "deferred_ms": ..., "loaded": [...]}, ``loaded`` being
# the top-level packages the import alone left loaded.
TIMED = """\
import importlib, json, sys, time
started = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
loaded = sorted({name.split(".")[0] for name in sys.modules})
tracer = getattr(module, "tracer", None)
if isinstance(getattr(type(tracer), "tracer", None), property):
    tracer.tracer
for name in sys.argv[2:]:
    importlib.import_module(name)
done = time.perf_counter()
print(json.dumps({"ms": (imported - started) * 1000, "deferred_ms": (done - imported) * 1000, "loaded": loaded}))
"""

# ``-X importtime`` reports the interpreter's start-up imports too; the marker separates them from the module's.
MARK = "-- import of the handler starts --"
TRACED = f"import importlib, sys; sys.stderr.write({MARK!r} + '\\n'); importlib.import_module(sys.argv[1])"
IMPORTTIME_ROW = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def lambda_environment(name: str, lambdas: Path = LAMBDAS) -> dict[str, str]:
    """What Lambda gives the function ``finops-<name>``: the factory's variables, the hub's settings (representative
    names), Lambda's reserved variables with active tracing, and nothing of this shell's but PATH."""
    settings = Settings(
        config_path="/opt/finops/config.json",  # stacks.constructs.layers.CONFIG_PATH; read per invocation only
        audit_table_name="finops-audit",
        idempotency_table_name="finops-idempotency",
        slack_retry_queue_url="https://sqs.us-east-1.amazonaws.com/111111111111/finops-slack-retry",
        engine_bucket_name="finops-engine-111111111111",
        state_table_name="finops-engine-state",
    )
    function_name = f"finops-{name.replace('_', '-')}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(lambdas),
        # stacks/constructs/lambda_function.py: FinOpsFunction's environment
        "POWERTOOLS_SERVICE_NAME": name,
        "POWERTOOLS_METRICS_NAMESPACE": "FinOps",
        **settings.environment(),
        # Lambda's reserved variables (python runtimes, JSON log format, active tracing)
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # dummies: nothing here calls AWS
        "AWS_SESSION_TOKEN": "testing",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",  # Lambda's is 169.254.79.129:2000; nothing is sent here
        "TZ": ":UTC",
    }


def handler_name(module: str) -> str:
    for name, path in HANDLERS.items():
        if path == module:
            return name
    return module.rsplit(".", 1)[-1]


def deferred_imports(module: str, lambdas: Path = LAMBDAS) -> list[str]:
    """The modules the ``handler`` function of ``module`` imports in its own body (on every first call), read from
    the source under ``lambdas``."""
    source = lambdas.joinpath(*module.split(".")).with_suffix(".py")
    if not source.is_file():
        raise FileNotFoundError(f"{module}: no source at {source}")
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    handler = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler"),
        None,
    )
    if handler is None:
        raise ValueError(f"{source} defines no top-level function 'handler'")
    names: list[str] = []
    for node in handler.body:  # what every first call imports, not what one branch (an invalid event) does
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return list(dict.fromkeys(names))


def _child(args: Sequence[str], module: str, lambdas: Path) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=lambdas,
        env=lambda_environment(handler_name(module), lambdas),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {module} in a fresh interpreter failed:\n{completed.stderr[-3000:]}")
    return completed


def cold_start(module: str, lambdas: Path = LAMBDAS) -> dict[str, Any]:
    """One cold start of ``module`` in a fresh interpreter: {"ms": the import's wall time, "deferred_ms": the
    tracer and the handler body's imports after it, "loaded": the top-level packages the import left loaded}."""
    completed = _child(["-c", TIMED, module, *deferred_imports(module, lambdas)], module, lambdas)
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def _is_third_party(name: str) -> bool:
    top = name.split(".")[0]
    return top != "finops" and top not in sys.stdlib_module_names


def contributors(importtime: str) -> Counter[str]:
    """Self time (µs) of every module ``-X importtime`` reports after :data:`MARK`, summed per contributor: the
    outermost third-party package on the chain of imports that loaded the module (so urllib3 loaded by boto3 counts
    for boto3), else the nearest module of ours (a standard-library module counts for the module of ours that
    imported it)."""
    lines = importtime.splitlines()
    if MARK in lines:
        lines = lines[lines.index(MARK) + 1 :]
    rows = [(int(m[1]), len(m[3]) // 2, m[4]) for m in map(IMPORTTIME_ROW.match, lines) if m]
    totals: Counter[str] = Counter()
    chain: list[str] = []  # read in reverse, a module comes after its importer: chain[depth] is its ancestor
    for self_us, depth, name in reversed(rows):
        del chain[depth:]
        chain.append(name)
        third_party = next((n for n in chain if _is_third_party(n)), None)
        ours = next((n for n in reversed(chain) if n.split(".")[0] == "finops"), None)
        totals[third_party.split(".")[0] if third_party else ours or name.split(".")[0]] += self_us
    return totals


def import_times(
    modules: Iterable[str] | None = None, samples: int = 7, *, lambdas: Path = LAMBDAS
) -> list[dict[str, Any]]:
    """Per module (default: every handler in HANDLERS), over ``samples`` fresh interpreters: the median, min and max
    wall ms of the cold import; the median of the import plus what the first invocation then sets up before its own
    work (the tracer when made lazily, the modules the handler imports in its body: where a lazy import's cost
    went); the top 5 contributors (ms of self time in one ``-X importtime`` run, which itself slows imports down:
    compare them with each other, not with the wall times); and the heavy packages the import left loaded.
    ``lambdas`` is the code measured (another copy, e.g. an earlier commit's, for a before/after)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    rows = []
    for module in modules or HANDLERS.values():
        runs = [cold_start(module, lambdas) for _ in range(samples)]
        times = [run["ms"] for run in runs]
        traced = _child(["-X", "importtime", "-c", TRACED, module], module, lambdas)
        top = contributors(traced.stderr).most_common(5)
        rows.append(
            {
                "handler": handler_name(module),
                "module": module,
                "samples": samples,
                "median_ms": round(statistics.median(times), 1),
                "min_ms": round(min(times), 1),
                "max_ms": round(max(times), 1),
                "import_and_first_call_setup_median_ms": round(
                    statistics.median(run["ms"] + run["deferred_ms"] for run in runs), 1
                ),
                "top_self_ms": {name: round(us / 1000, 1) for name, us in top},
                "heavy_loaded": [name for name in HEAVY if name in runs[0]["loaded"]],
            }
        )
    return rows


def machine() -> Mapping[str, Any]:
    """What the numbers were measured on (they are this machine's, under its load at the time)."""
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7, help="fresh interpreters per module (default 7)")
    parser.add_argument("--module", action="append", help="a module to measure (default: every handler)")
    parser.add_argument(
        "--lambdas", type=Path, default=LAMBDAS, help="the Lambda code to measure (default: this tree's lambdas/)"
    )
    args = parser.parse_args(argv)
    lambdas = args.lambdas.resolve()
    report = {
        "machine": machine(),
        "lambdas": str(lambdas),
        "imports": import_times(args.module, samples=args.samples, lambdas=lambdas),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
