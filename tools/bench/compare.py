"""The jobs the bench runs, ours and Cloud Custodian's, on a fresh seeded target each time, judged against the truth.

A job is one piece of work both tools can do (:data:`JOBS`): the clean-up with final snapshots, the clean-up
without, the non-prod stop and the tag-compliance report. Each run starts from a reset server, a new Organization
of one member account and a freshly seeded target (:mod:`tools.bench.estate`), so no run sees another's leftovers.
What a run did is read back from the server's state (not through the API, so reading back costs no counted call) and
judged: how many it acted on of those it should have (misses), and how many it acted on that it must leave alone
(false positives).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench.scale import ROLE, BenchServer, Measured, config_for, organization, run_ours

REGION = "eu-west-1"
FRIDAY_EVENING = "2026-11-27T18:00:00Z"  # 19:00 in Berlin: office-hours stops (the scheduler's clock is the event's)
GRACE_DAYS = 7


@dataclass(frozen=True)
class Judgement:
    should: int  # resources the job should act on
    acted: int  # resources it acted on
    misses: int
    false_positives: int
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v != ""}


def judge(should: Sequence[str], leave: Sequence[str], acted: set[str], note: str = "") -> Judgement:
    return Judgement(
        should=len(should),
        acted=len(acted & {*should, *leave}),
        misses=len(set(should) - acted),
        false_positives=len(acted & set(leave)),
        note=note,
    )


def deleted(truth: Mapping[str, Any], after: Mapping[str, Any]) -> Judgement:
    """The clean-up: which seeded volumes and snapshots are gone."""
    should = [*truth["act"]["volume"], *truth["act"]["snapshot"]]
    leave = [*truth["keep"]["volume"], *truth["keep"]["snapshot"]]
    present = {*after["volume"], *after["snapshot"]}
    return judge(should, leave, {r for r in (*should, *leave) if r not in present})


def marked(truth: Mapping[str, Any], after: Mapping[str, Any]) -> Judgement:
    """The first of two clean-up runs: which seeded volumes and snapshots carry the clean-up's mark."""
    should = [*truth["act"]["volume"], *truth["act"]["snapshot"]]
    leave = [*truth["keep"]["volume"], *truth["keep"]["snapshot"]]
    return judge(should, leave, {r for r, tags in after["tags"].items() if "finops:cleanup-after" in tags})


def stopped(truth: Mapping[str, Any], after: Mapping[str, Any]) -> Judgement:
    states = after["instance"]
    acted = {i for i, state in states.items() if state in ("stopping", "stopped")}
    return judge(truth["act"]["instance"], list(truth["keep"]["instance"]), acted)


def reported(truth: Mapping[str, Any], found: set[str], *, counted: int | None = None) -> Judgement:
    """Tag compliance: the instances and volumes reported non-compliant. ``counted``: a total the tool reports when
    it lists only some ids (ours lists the first ones in its document and counts the rest)."""
    should = set(truth["noncompliant"])
    every = {*truth["act"]["instance"], *truth["keep"]["instance"], *truth["act"]["volume"], *truth["keep"]["volume"]}
    leave = sorted(every - should)
    if counted is None or counted == len(found):
        return judge(sorted(should), leave, found)
    false_positives = len(found - should)
    return Judgement(
        should=len(should),
        acted=counted,
        misses=len(should) - (counted - false_positives),
        false_positives=false_positives,
        note=f"{len(found)} listed by id, {counted} counted",
    )


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    ours: tuple[str, Callable[[], dict[str, Any]]]  # function, event
    custodian: tuple[str, ...]  # its policies, run in one `custodian run`
    judge: Callable[[Mapping[str, Any], Mapping[str, Any]], Judgement]
    config: Mapping[str, Any] = field(default_factory=dict)  # capabilities.ebs_cleanup overrides for ours


def _now() -> dict[str, Any]:
    return {"capability": "ebs_cleanup", "time": datetime.now(UTC).isoformat()}


JOBS: tuple[Job, ...] = (
    Job(
        "cleanup",
        "delete unattached volumes (each snapshotted first) and old snapshots, skipping AMI snapshots",
        ("ebs_cleanup", _now),
        ("ebs-snapshot-and-delete", "ebs-old-snapshot-delete"),
        deleted,
    ),
    Job(
        "cleanup-no-final-snapshot",
        "delete unattached volumes (no snapshot) and old snapshots, skipping AMI snapshots",
        ("ebs_cleanup", _now),
        ("ebs-unattached-delete", "ebs-old-snapshot-delete"),
        deleted,
        {"volumes": {"enabled": True, "min_age_days": 14, "final_snapshot": False}},
    ),
    Job(
        "stop",
        "stop the running non-prod instances on the office-hours schedule, in the evening",
        ("scheduler", lambda: {"capability": "scheduler", "time": FRIDAY_EVENING}),
        ("ec2-nonprod-stop",),
        stopped,
    ),
    Job(
        "tags",
        "report the instances and volumes missing a required tag",
        ("tag_compliance", lambda: {"capability": "tag_compliance", "time": datetime.now(UTC).isoformat()}),
        ("tag-compliance-report",),
        lambda truth, after: Judgement(0, 0, 0, 0),  # judged from the report, not the state: see run_job
    ),
)


def fresh_target(
    server: BenchServer, resources: int, *, accounts: int = 1, regions: Sequence[str] = (REGION,)
) -> tuple[list[str], list[dict[str, Any]]]:
    """A reset server, a new Organization of ``accounts`` members, ``resources`` seeded in each of their regions."""
    server.reset()
    members = organization(server, accounts)
    truths = server.seed([(m, r, resources) for m in members for r in regions])
    return members, truths


def our_config(job: Job, members: Sequence[str], regions: Sequence[str], *, grace_days: int) -> dict[str, Any]:
    config = config_for(members, regions, grace_days=grace_days)
    config["capabilities"]["ebs_cleanup"].update(job.config)
    return config


def run_job(
    server: BenchServer,
    job: Job,
    resources: int,
    latency_ms: float,
    *,
    tool: str,
    custodian: Path | None = None,
    enforce: bool = True,
) -> dict[str, Any]:
    """One run of ``job`` by ``tool`` ("ours" or "custodian") on a fresh target of ``resources``. Without
    ``enforce``, a dry run (our preview, Custodian's ``--dryrun``): judged on what each says it would act on."""
    members, [truth] = fresh_target(server, resources)
    server.latency(latency_ms)
    with tempfile.TemporaryDirectory(prefix=f"bench-{job.name}-") as work:
        workdir = Path(work)
        if tool == "ours":
            function, event = job.ours
            config = our_config(job, members, [REGION], grace_days=0)
            measured = run_ours(server, function, event(), config, workdir, enforce=enforce)
            found = _our_findings(measured, job.name, enforce=enforce)
        else:
            from tools.bench.custodian import run_policies

            assert custodian is not None
            measured, ids = run_policies(
                custodian,
                job.custodian,
                endpoint=server.endpoint,
                region=REGION,
                workdir=workdir,
                assume_role=f"arn:aws:iam::{members[0]}:role/{ROLE}",  # as our runs reach the member account
                dryrun=not enforce,
            )
            found = (set(ids), len(set(ids))) if job.name == "tags" or not enforce else None
        server.latency(0)
        after = server.state(members[0], REGION)
    if job.name == "tags" and found is not None:
        judgement = reported(truth, found[0], counted=found[1])
    elif found is not None:
        judgement = planned(job, truth, found[0])
    else:
        judgement = job.judge(truth, after)
    return {
        "job": job.name,
        "tool": tool,
        "mode": "enforce" if enforce else "dry run",
        "resources": resources,
        "latency_ms": latency_ms,
        **measured.to_json(),
        "judgement": judgement.to_json(),
    }


def planned(job: Job, truth: Mapping[str, Any], found: set[str]) -> Judgement:
    """A dry run: the ids it says it would act on, against those it should."""
    kinds = ("instance",) if job.name == "stop" else ("volume", "snapshot")
    should = [i for k in kinds for i in truth["act"][k]]
    leave = [i for k in kinds for i in truth["keep"][k]]
    return judge(should, leave, found)


def two_runs(server: BenchServer, resources: int, latency_ms: float) -> list[dict[str, Any]]:
    """Ours as shipped: a mark run, ``GRACE_DAYS`` + 1 days, then the sweep that deletes (the clean-up job)."""
    job = JOBS[0]
    members, [truth] = fresh_target(server, resources)
    config = our_config(job, members, [REGION], grace_days=GRACE_DAYS)
    rows = []
    for label, judged in (("mark", marked), ("sweep", deleted)):
        server.latency(latency_ms)
        with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as work:
            measured = run_ours(server, "ebs_cleanup", _now(), config, Path(work))
        server.latency(0)
        after = server.state(members[0], REGION)
        rows.append(
            {
                "job": f"cleanup, {label} run",
                "tool": "ours",
                "resources": resources,
                "latency_ms": latency_ms,
                **measured.to_json(),
                "judgement": judged(truth, after).to_json(),
            }
        )
        if label == "mark":
            server.post("/_bench/advance", {"account": members[0], "region": REGION, "days": GRACE_DAYS + 1})
    return rows


def _our_findings(measured: Measured, job: str, *, enforce: bool) -> tuple[set[str], int] | None:
    """What our run document says: the non-compliant instances and volumes (listed, and counted) for tag
    compliance; for a preview, the resources it would act on (``acted`` of a preview lists the planned actions)."""
    if measured.returncode != 0:
        return None
    document = json.loads(measured.stdout)
    if job == "tags":
        listed = {r["id"] for r in document["noncompliant"] if r["type"] in ("ec2:instance", "ec2:volume")}
        by_type = document["kpis"]["by_type"]
        kinds = ("ec2:instance", "ec2:volume")
        return listed, sum(by_type[t]["total"] - by_type[t]["compliant"] for t in kinds if t in by_type)
    if enforce:
        return None
    acted = {a["resource"] for a in document["result"]["acted"]}
    return acted, len(acted)


def organization_runs(
    server: BenchServer, accounts: int, regions: Sequence[str], resources: int, latency_ms: float
) -> list[dict[str, Any]]:
    """Ours across an Organization: the clean-up and the evening stop over ``accounts`` x ``regions`` targets."""
    rows = []
    for job in (JOBS[0], JOBS[2]):
        members, truths = fresh_target(server, resources, accounts=accounts, regions=regions)
        server.latency(latency_ms)
        function, event = job.ours
        with tempfile.TemporaryDirectory(prefix=f"bench-org-{job.name}-") as work:
            measured = run_ours(server, function, event(), our_config(job, members, regions, grace_days=0), Path(work))
        server.latency(0)
        judgements = [job.judge(t, server.state(t["account"], t["region"])) for t in truths]
        total = Judgement(
            *(sum(getattr(j, k) for j in judgements) for k in ("should", "acted", "misses", "false_positives"))
        )
        document = json.loads(measured.stdout) if measured.returncode == 0 else {"result": {}}
        rows.append(
            {
                "job": job.name,
                "tool": "ours",
                "accounts": accounts,
                "targets": len(truths),
                "resources": resources * len(truths),
                "latency_ms": latency_ms,
                **measured.to_json(),
                "status": document["result"].get("status"),
                "judgement": total.to_json(),
            }
        )
    return rows
