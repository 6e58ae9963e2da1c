"""Our runs against the bench's moto server, as a user runs them: `python -m tools.cli run` in a child process.

:class:`BenchServer` starts ``tools.bench.server`` on 127.0.0.1 and drives its control endpoints; :func:`organization`
makes an Organization of ``accounts`` members through the Organizations API; :func:`run_ours` runs one capability
with nothing but credentials and ``AWS_ENDPOINT_URL`` and measures the child: CPU (user + sys, from ``wait4``), wall
and peak memory, beside the calls the server counted for it and the mock's own CPU for the same span.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).parents[2]
MANAGEMENT = "123456789012"  # moto's account for the default credentials: it creates the Organization
ROLE = "BenchFinOpsRole"  # not the shipped default: nothing may depend on it
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
STDERR_TAIL_CHARS = 2000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerControl:
    """The control endpoints of a bench server already running at ``endpoint`` (tools/bench/server.py)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.port = int(urlsplit(endpoint).port or 80)

    def post(self, path: str, data: Mapping[str, Any]) -> Any:
        return self._request("POST", path, json.dumps(dict(data)).encode())

    def calls(self) -> dict[str, Any]:
        return dict(self._request("GET", "/_bench/calls", None))

    def _request(self, method: str, path: str, body: bytes | None) -> Any:
        connection = HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        if answer.status != 200:
            raise RuntimeError(f"bench server: {method} {path}: {answer.status} {data[:500]!r}")
        return json.loads(data)

    def reset(self) -> None:
        self.post("/_bench/reset", {})

    def latency(self, ms: float) -> None:
        self.post("/_bench/latency", {"ms": ms})

    def seed(self, targets: Sequence[tuple[str, str, int]]) -> list[dict[str, Any]]:
        answer = self.post(
            "/_bench/seed", {"targets": [{"account": a, "region": r, "resources": n} for a, r, n in targets]}
        )
        return list(answer["truth"])

    def state(self, account: str, region: str) -> dict[str, Any]:
        return dict(self.post("/_bench/state", {"account": account, "region": region}))

    def client(self, service: str, region: str = "us-east-1") -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, **CREDENTIALS)


class BenchServer(ServerControl):
    """``python -m tools.bench.server`` in a child process on a free port of 127.0.0.1, and its control endpoints."""

    def __init__(self, *, throttle: bool = True) -> None:
        """``throttle``: EC2's documented request token buckets (``tools.bench.server.Throttle``), as on AWS."""
        port = free_port()
        super().__init__(f"http://127.0.0.1:{port}")
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.post("/_bench/throttle", {"ec2": throttle})
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the bench server did not come up on {self.endpoint}") from None
                time.sleep(0.2)

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def organization(server: BenchServer, accounts: int) -> list[str]:
    """An Organization of ``accounts`` members (moto picks their ids) under the management account: the member ids."""
    organizations = server.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    members = []
    for n in range(accounts):
        status = organizations.create_account(AccountName=f"bench-{n:04d}", Email=f"bench-{n:04d}@example.com")
        members.append(str(status["CreateAccountStatus"]["AccountId"]))
    return members


def config_for(members: Sequence[str], regions: Sequence[str], *, grace_days: int) -> dict[str, Any]:
    """The shipped config pointed at the bench's Organization, the clean-up and the scheduler in enforce mode, the
    clean-up's circuit breaker lifted (the bench deletes everything eligible; the caps are the clean-up's own tests'
    business). The Recycle Bin requirement stays on: the bench server serves the rules each seeded target has."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "finops.yaml").read_text())
    config["organization"].update(
        management_account_id=MANAGEMENT, automation_account_id=members[0], member_role_name=ROLE, regions=list(regions)
    )
    config["notifications"]["account_teams"] = {}
    capabilities = config["capabilities"]
    capabilities["ebs_cleanup"].update(
        mode="enforce",
        grace_days=grace_days,
        max_deletions_per_target=100_000,
        max_deletion_percent=100,
    )
    capabilities["scheduler"]["mode"] = "enforce"
    return config


@dataclass
class Measured:
    """One child process: its own resources, and what the server saw while it ran."""

    command: list[str]
    returncode: int
    cpu_seconds: float  # user + sys of the child (and its children)
    wall_seconds: float
    max_rss_mib: float
    calls: dict[str, int]
    server_cpu_seconds: float
    throttled: dict[str, int] = field(default_factory=dict)  # of the calls, refused with RequestLimitExceeded
    stdout: str = field(repr=False, default="")
    stderr_tail: str = field(repr=False, default="")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("stdout")
        return data


# Runs one command and reports its rusage, from a process of its own (see measured_run). Only the standard library,
# no site (-I -S): what it weighs at the moment it spawns is the floor of the peak memory it can report.
LAUNCHER = """
import json, os, sys, time
spec = json.loads(sys.stdin.read())
os.chdir(spec["cwd"])
actions = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, spec["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    (os.POSIX_SPAWN_OPEN, 2, spec["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
]
started = time.perf_counter()
pid = os.posix_spawnp(spec["argv"][0], spec["argv"], spec["env"], file_actions=actions)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
print(json.dumps({
    "returncode": os.waitstatus_to_exitcode(status),
    "cpu_seconds": usage.ru_utime + usage.ru_stime,
    "wall_seconds": wall,
    "max_rss_kib": usage.ru_maxrss,
}))
"""


def measured_run(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``argv`` with exactly ``env`` and measure it alone: its user+sys CPU and peak RSS from ``os.wait4`` (the
    kernel's rusage of that one process and the children it reaped), its wall time with ``perf_counter``.

    The kernel counts into a child's ``ru_maxrss`` the peak RSS of the memory it was started from: the whole parent's,
    for a fork or vfork of ours, so a ``wait4`` on our own Popen of a 10 MiB program reports 300 MiB once the bench
    holds 300 MiB. So a small launcher (:data:`LAUNCHER`, ~10 MiB: the floor of what can be reported) spawns the
    program and waits for it, and hands back its rusage. Output goes to files, so no pipe can fill up meanwhile."""
    stdout_path, stderr_path = cwd / "stdout.txt", cwd / "stderr.txt"
    spec = {
        "argv": list(argv),
        "env": dict(env),
        "cwd": str(cwd),
        "stdout": str(stdout_path),
        "stderr": str(stderr_path),
    }
    launcher = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env={"PATH": env.get("PATH", os.defpath)},  # the launcher's own; the program gets exactly ``env``
        check=False,
    )
    if launcher.returncode:
        raise RuntimeError(f"could not run {argv[0]}: {launcher.stderr.strip()[-STDERR_TAIL_CHARS:]}")
    usage = json.loads(launcher.stdout)
    return {
        "returncode": usage["returncode"],
        "cpu_seconds": usage["cpu_seconds"],
        "wall_seconds": usage["wall_seconds"],
        "max_rss_mib": usage["max_rss_kib"] / 1024,  # KiB on Linux
        "stderr_tail": stderr_path.read_text(errors="replace")[-STDERR_TAIL_CHARS:],
    }


def measure(server: ServerControl, command: Sequence[str], env: Mapping[str, str], cwd: Path) -> Measured:
    """Run ``command`` (:func:`measured_run`), with the server's calls and CPU for the span (:func:`measured_span`)."""
    measured = measured_span(server, list(command), lambda: measured_run(command, env=env, cwd=cwd))
    measured.stdout = (cwd / "stdout.txt").read_text(errors="replace")
    return measured


def measured_span(server: ServerControl, command: list[str], run: Callable[[], Mapping[str, Any]]) -> Measured:
    """``run()`` (a :func:`measured_run`-shaped usage: returncode, cpu and wall seconds, peak MiB, stderr tail) as a
    :class:`Measured`, with the calls the server counted and the CPU the mock spent while it ran."""
    server.post("/_bench/clear-calls", {})
    before = server.calls()["server_cpu_seconds"]
    usage = run()
    seen = server.calls()
    return Measured(
        command=command,
        returncode=usage["returncode"],
        cpu_seconds=round(usage["cpu_seconds"], 3),
        wall_seconds=round(usage["wall_seconds"], 3),
        max_rss_mib=round(usage["max_rss_mib"], 1),
        calls=dict(sorted(seen["calls"].items())),
        server_cpu_seconds=round(seen["server_cpu_seconds"] - before, 3),
        throttled=dict(sorted(seen.get("throttled", {}).items())),
        stderr_tail=usage["stderr_tail"],
    )


def child_env(endpoint: str, home: Path, region: str = "us-east-1") -> dict[str, str]:
    """What the child gets: PATH, credentials and the endpoint, nothing else of ours (no profile, no config file)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


def run_ours(
    server: BenchServer,
    function: str,
    event: Mapping[str, Any],
    config: Mapping[str, Any],
    workdir: Path,
    *,
    enforce: bool = True,
) -> Measured:
    """`python -m tools.cli run --function <function> [--enforce]` as `make run` does it, measured. Without
    ``enforce``, the preview: the same reads and plan, nothing changed."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(dict(config)))
    (workdir / "event.json").write_text(json.dumps(dict(event)))
    command = [
        sys.executable,
        "-m",
        "tools.cli",
        "run",
        "--function",
        function,
        "--event",
        str(workdir / "event.json"),
        "--config",
        str(workdir / "config.yaml"),
        *(["--enforce"] if enforce else []),
    ]
    env = {**child_env(server.endpoint, workdir), "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"}
    return measure(server, command, env, workdir)
