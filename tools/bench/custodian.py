"""Cloud Custodian's side of the bench: its equivalent policies, run by its own CLI against the bench's moto server.

Issue 8 §2 compares us with the tool people would otherwise pick, on the very same seeded estate, server and
latency. Custodian (``c7n``, pinned in ``requirements-c7n.txt``) lives in a virtualenv of its own under
``build/c7n``: its boto3 is not ours and it is no dependency of the product. Each policy runs as a child process
(``custodian run``) with an environment built from nothing but PATH, so that the child's CPU, wall time and peak
memory are its own and every AWS call it makes lands on the bench server, which counts it.

The policies are written as a Custodian user would write them (its documented filters and actions, nothing of
ours), and each names the safety steps of ours it lacks (:data:`LACKS`); those are what the report may cite
where our calls are above Custodian's.

``python -m tools.bench.custodian --endpoint http://127.0.0.1:5123 --region eu-west-1 --policy NAME`` runs one by
hand (``--assume-role`` for a member account, ``--policy`` again for more in the same file) and prints what it did,
with the server's call counts for the run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tools.bench.scale import Measured, ServerControl, measured_run, measured_span

REQUIREMENTS = Path(__file__).with_name("requirements-c7n.txt")
PIP_VERSION = "26.3"  # the Makefile's, for the same resolver behaviour as build/checkov

# The tags the shipped config guards and governs with (finops.yaml: safety.environment_tag_key and prod_values,
# safety.protect_tag, the taxonomy's required keys; tests/tools/test_bench_custodian.py keeps them in step). A
# Custodian user spells them out in each policy.
PROTECT_TAG = "finops:protect"
ENVIRONMENT_TAG = "environment"
PROD_VALUES = ("prod", "production")
REQUIRED_TAGS = ("team", "environment", "cost-center")
SCHEDULE_TAG, SCHEDULE = "schedule", "office-hours"
# The thresholds. The shipped config's are 14 days (volumes.min_age_days) and 90 (snapshots.retention_days);
# the bench's estate (tools/bench/estate.py: volumes 2 or 120 days old, snapshots 10 or 200) falls on the same side of
# either, so both tools judge it alike.
VOLUME_MIN_AGE_DAYS = 7
SNAPSHOT_MIN_AGE_DAYS = 30
ID_KEYS = {"aws.ebs": "VolumeId", "aws.ebs-snapshot": "SnapshotId", "aws.ec2": "InstanceId"}


def _not_prod() -> dict[str, Any]:
    return {"not": [{"type": "value", "key": f"tag:{ENVIRONMENT_TAG}", "op": "in", "value": list(PROD_VALUES)}]}


def _not_guarded() -> list[dict[str, Any]]:
    """What a careful Custodian user adds to every destructive policy: leave protected, prod and AWS Backup / DLM
    managed resources alone. Custodian's ``tag:`` lookup and its ``in`` are exact: ``Environment=Prod`` does not
    guard, where ours match keys and values in any casing. Any value of the protect tag guards (ours: true/yes)."""
    return [
        {f"tag:{PROTECT_TAG}": "absent"},
        _not_prod(),
        # JMESPath over the tag list: no tag key starting aws:backup: / aws:dlm: (the size of nothing is 0)
        {"type": "value", "key": "Tags[?starts_with(Key, 'aws:backup:')]", "value_type": "size", "value": 0},
        {"type": "value", "key": "Tags[?starts_with(Key, 'aws:dlm:')]", "value_type": "size", "value": 0},
    ]


def _unattached_old_volumes(min_age_days: float) -> list[dict[str, Any]]:
    return [
        {"State": "available"},
        {"Attachments": []},
        *_not_guarded(),
        # value_type age compares CreateTime with now - days; op gt: created more than min_age_days ago
        {"type": "value", "key": "CreateTime", "value_type": "age", "op": "gt", "value": min_age_days},
    ]


def policy_documents(
    name: str, *, volume_min_age_days: float = VOLUME_MIN_AGE_DAYS, snapshot_min_age_days: float = SNAPSHOT_MIN_AGE_DAYS
) -> list[dict[str, Any]]:
    """The Custodian policies of the bench policy ``name`` (one of :data:`POLICIES`), as data: Custodian's own
    documented filters and actions (c7n 0.9.53: ``c7n/resources/ebs.py``, ``ec2.py``, ``c7n/filters/core.py``).

    The ages are parameters: through the API moto stamps every volume and snapshot with the moment it was made, so
    an estate seeded that way (not backdated inside the server) is run at 0 days."""
    if name in ("ebs-unattached-delete", "ebs-snapshot-and-delete"):
        # snapshot copies the volume's tags onto its snapshot (copy-volume-tags defaults to true)
        actions: list[Any] = ["delete"] if name == "ebs-unattached-delete" else [{"type": "snapshot"}, "delete"]
        return [
            {
                "name": name,
                "resource": "aws.ebs",
                "filters": _unattached_old_volumes(volume_min_age_days),
                "actions": actions,
            }
        ]
    if name == "ebs-old-snapshot-delete":
        return [
            {
                "name": name,
                "resource": "aws.ebs-snapshot",
                "filters": [
                    {"type": "age", "days": snapshot_min_age_days, "op": "gt"},  # StartTime older than that
                    {"type": "skip-ami-snapshots", "value": True},
                    *_not_guarded(),
                ],
                # its delete action filters out AMI snapshots again by itself (from the cached AMI listing)
                "actions": ["delete"],
            }
        ]
    if name == "ec2-nonprod-stop":
        # Run by cron at the schedule's stop time (Custodian's offhours filter reads its own tag format, not a
        # schedule's name): what carries that schedule, is not prod or protected, and runs.
        return [
            {
                "name": name,
                "resource": "aws.ec2",
                "filters": [
                    {"State.Name": "running"},
                    {f"tag:{SCHEDULE_TAG}": SCHEDULE},
                    _not_prod(),
                    {f"tag:{PROTECT_TAG}": "absent"},
                ],
                "actions": ["stop"],
            }
        ]
    if name == "tag-compliance-report":
        # report only, no action: what each policy matched (its resources.json) is the report
        missing = {"or": [{f"tag:{key}": "absent"} for key in REQUIRED_TAGS]}
        return [{"name": f"{name}-{kind}", "resource": f"aws.{kind}", "filters": [missing]} for kind in ("ec2", "ebs")]
    raise ValueError(f"no bench policy {name!r}; one of {', '.join(POLICIES)}")


# Our safety steps each policy does not take: docs/benchmarks.md names them where our calls exceed Custodian's.
LACKS: dict[str, tuple[str, ...]] = {
    "ebs-unattached-delete": (
        "no grace period (deletes on first sight: no mark, no owner told, nothing to keep it by)",
        "no re-check (no fresh re-read of the volume just before deleting it)",
        "no final snapshot",
        "no Recycle Bin check",
        "no circuit breaker (no cap on deletions per run)",
        "no verification that the deletion happened",
        "no CloudFormation-managed check",
        "exact-case tag matching (Environment=Prod does not guard)",
    ),
    "ebs-snapshot-and-delete": (
        "no grace period (deletes on first sight: no mark, no owner told, nothing to keep it by)",
        "no re-check (no fresh re-read of the volume just before deleting it)",
        "no wait for the final snapshot to complete before the volume is deleted (CreateSnapshot is fired and the"
        " delete follows)",
        "no final snapshot cap (its snapshots carry no retention: nothing ever deletes them)",
        "no Recycle Bin check",
        "no circuit breaker (no cap on deletions per run)",
        "no verification that the deletion happened",
        "no CloudFormation-managed check",
        "exact-case tag matching (Environment=Prod does not guard)",
    ),
    "ebs-old-snapshot-delete": (
        "no grace period (deletes on first sight: no mark, no owner told, nothing to keep it by)",
        "no sharing check (no DescribeSnapshotAttribute: shared snapshots are deleted too)",
        "no re-check (no fresh re-read of the snapshot just before deleting it)",
        "no Recycle Bin check",
        "no circuit breaker (no cap on deletions per run)",
        "no verification that the deletion happened",
        "AMI check from DescribeImages Owners=self without IncludeDisabled (a disabled AMI's snapshots look unused)",
        "no backup-vault / DLM check beyond the tags (no description check)",
        "exact-case tag matching (Environment=Prod does not guard)",
    ),
    "ec2-nonprod-stop": (
        "no schedule evaluation (stops what carries the schedule's name whenever it runs: time zones, holidays,"
        " daylight saving and overrides are the cron's business or nobody's)",
        "no prod account/OU check (one target at a time)",
        "no verification that the instances stopped",
        "no batching (one StopInstances for every matched id)",
        "no Auto Scaling group or RDS handling (instances only)",
        "exact-case tag matching",
    ),
    "tag-compliance-report": (
        "presence only: no check of values against the taxonomy",
        "no KPIs (compliant share per account, team, type) and no spend attribution",
        "instances and volumes only (the product also reads snapshots and RDS databases)",
    ),
}
POLICIES = tuple(LACKS)


def write_policy_file(names: Sequence[str], directory: Path, **ages: float) -> Path:
    """One Custodian policy file holding the bench policies ``names`` (one ``custodian run`` runs them in turn),
    headed by what each lacks, as a reader of the bench's output would open it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{'+'.join(names)}.yml"
    header = "".join(f"# {name} lacks: {step}\n" for name in names for step in LACKS[name])
    documents = [policy for name in names for policy in policy_documents(name, **ages)]
    path.write_text(header + yaml.safe_dump({"policies": documents}, sort_keys=False))
    return path


# ---- the virtualenv -------------------------------------------------------------------------------------------------


def requirements_stamp(requirements: Path = REQUIREMENTS) -> str:
    return ".installed-" + hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]


def ensure_venv(root: Path) -> Path:
    """``<root>/build/c7n`` with exactly requirements-c7n.txt installed (once per version of that file: a stamp
    keyed on its hash); the path of its ``custodian``. pip's output goes to stderr, the bench's report is stdout."""
    venv = root.resolve() / "build" / "c7n"
    stamp = venv / requirements_stamp()
    custodian = venv / "bin" / "custodian"
    if stamp.exists() and custodian.exists():
        return custodian
    print(f"setting up {venv} (Cloud Custodian) from {REQUIREMENTS.name} (first run only)", file=sys.stderr)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, stdout=sys.stderr)
    subprocess.run([*pip, "install", "--upgrade", f"pip=={PIP_VERSION}"], check=True, stdout=sys.stderr)
    subprocess.run([*pip, "install", "--no-deps", "-r", str(REQUIREMENTS)], check=True, stdout=sys.stderr)
    subprocess.run([str(python), "-m", "pip", "check"], check=True, stdout=sys.stderr)
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return custodian


# ---- one run --------------------------------------------------------------------------------------------------------


def child_env(
    *, endpoint: str, region: str, workdir: Path, path: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of a Custodian run: nothing of ours but PATH, so no credential, profile, proxy or
    PYTHONPATH of the parent's reaches it, and every client it makes talks to ``endpoint``."""
    nowhere = workdir / "no-such-aws-dir"
    env = {
        "PATH": path,
        "HOME": str(workdir),  # Custodian's resource cache (~/.cache/cloud-custodian.cache) is per run
        "AWS_ENDPOINT_URL": endpoint,  # honoured by botocore since 1.31 (c7n 0.9.53 ships botocore 1.43)
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": str(nowhere / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(nowhere / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # never try 169.254.169.254, whatever the credential chain does
    }
    env.update(extra or {})
    return env


def matched(output_dir: Path, policies: Sequence[Mapping[str, Any]]) -> dict[str, list[str] | None]:
    """The ids each Custodian policy matched (and, with actions, acted on), from its ``resources.json``; None: it
    wrote none, so it did not run to the end."""
    found: dict[str, list[str] | None] = {}
    for policy in policies:
        path = output_dir / policy["name"] / "resources.json"
        key = ID_KEYS[policy["resource"]]
        found[policy["name"]] = [r[key] for r in json.loads(path.read_text())] if path.exists() else None
    return found


def run_policy(
    custodian: Path,
    policy: str | Sequence[str],
    *,
    endpoint: str,
    region: str,
    workdir: Path,
    env_extra: Mapping[str, str] | None = None,
    assume_role: str | None = None,
    volume_min_age_days: float = VOLUME_MIN_AGE_DAYS,
    snapshot_min_age_days: float = SNAPSHOT_MIN_AGE_DAYS,
    dryrun: bool = False,
) -> dict[str, Any]:
    """``custodian run -s <workdir>/out <policy file>`` against ``endpoint``, measured, with what each Custodian
    policy in the file matched (``matched_ids``), summed in ``resources_matched``. ``policy``: one bench policy or
    several, run by one ``custodian run`` in turn, as a user would put them in one file.

    What Custodian calls besides the policy's own: ``sts:GetCallerIdentity`` once at start for the account id (0.9.53
    has no flag to give it), unless ``assume_role`` is given (``--assume``: then ``sts:AssumeRole`` once, the account
    taken from the ARN). The target of a bench run is a member account, as ours is reached through the member role:
    pass its role's ARN. Its resource cache lives in ``workdir`` (HOME), fresh per run."""
    names = [policy] if isinstance(policy, str) else list(policy)
    ages = {"volume_min_age_days": volume_min_age_days, "snapshot_min_age_days": snapshot_min_age_days}
    workdir.mkdir(parents=True, exist_ok=True)
    policy_file = write_policy_file(names, workdir, **ages)
    output_dir = workdir / "out"
    argv = [str(custodian), "run", "--region", region, "-s", str(output_dir)]
    if assume_role:
        argv += ["--assume", assume_role]
    if dryrun:  # filters only: what it would act on, no action taken (as our preview)
        argv.append("--dryrun")
    argv.append(str(policy_file))
    env = child_env(
        endpoint=endpoint, region=region, workdir=workdir, path=os.environ.get("PATH", os.defpath), extra=env_extra
    )
    result = measured_run(argv, env=env, cwd=workdir)
    found = matched(output_dir, [p for name in names for p in policy_documents(name, **ages)])
    return {
        "policy": "+".join(names),
        "resources_matched": sum(len(ids) for ids in found.values() if ids is not None),
        "per_custodian_policy": {name: None if ids is None else len(ids) for name, ids in found.items()},
        "matched_ids": sorted({i for ids in found.values() for i in ids or ()}),
        "command": argv,
        **result,
    }


def run_policies(
    custodian: Path,
    policies: Sequence[str],
    *,
    endpoint: str,
    region: str,
    workdir: Path,
    assume_role: str | None = None,
    volume_min_age_days: float = VOLUME_MIN_AGE_DAYS,
    snapshot_min_age_days: float = SNAPSHOT_MIN_AGE_DAYS,
    dryrun: bool = False,
) -> tuple[Measured, list[str]]:
    """:func:`run_policy` as the bench's comparison wants it (tools/bench/compare.py): measured like our own runs
    (:class:`tools.bench.scale.Measured`, the server's call counts and CPU for the span), with the ids matched."""
    result: dict[str, Any] = {}

    def run() -> dict[str, Any]:
        result.update(
            run_policy(
                custodian,
                policies,
                endpoint=endpoint,
                region=region,
                workdir=workdir,
                assume_role=assume_role,
                volume_min_age_days=volume_min_age_days,
                snapshot_min_age_days=snapshot_min_age_days,
                dryrun=dryrun,
            )
        )
        return result

    measured = measured_span(ServerControl(endpoint), [], run)
    measured.command = result["command"]
    return measured, result["matched_ids"]


# ---- by hand --------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the bench server, e.g. http://127.0.0.1:5123")
    parser.add_argument("--region", required=True)
    parser.add_argument("--policy", required=True, choices=POLICIES, action="append", help="repeat: one file")
    parser.add_argument("--assume-role", help="the target's role ARN (a member account), as Custodian's --assume")
    parser.add_argument("--volume-min-age-days", type=float, default=VOLUME_MIN_AGE_DAYS)
    parser.add_argument("--snapshot-min-age-days", type=float, default=SNAPSHOT_MIN_AGE_DAYS)
    parser.add_argument("--workdir", type=Path, help="keep the policy file and Custodian's output here")
    args = parser.parse_args(argv)
    if urlsplit(args.endpoint).hostname != "127.0.0.1":
        parser.error("--endpoint must be the bench server on 127.0.0.1")
    custodian = ensure_venv(Path(__file__).parents[2])
    with tempfile.TemporaryDirectory(prefix="c7n-") as scratch:
        workdir = args.workdir or Path(scratch)
        server = ServerControl(args.endpoint)
        server.post("/_bench/clear-calls", {})
        result = run_policy(
            custodian,
            args.policy,
            endpoint=args.endpoint,
            region=args.region,
            workdir=workdir,
            assume_role=args.assume_role,
            volume_min_age_days=args.volume_min_age_days,
            snapshot_min_age_days=args.snapshot_min_age_days,
        )
        result["server_calls"] = server.calls()["calls"]
        del result["matched_ids"]  # counted in per_custodian_policy; kept in <workdir>/out
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
