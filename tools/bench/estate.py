"""The bench's estate: one target's EC2 resources in a known mix, seeded inside the bench server, with the truth.

A target of ``size`` resources holds (see :data:`MIX`):

- instances (10 %) with their root volumes (10 %, attached), all running: 40 % of them tagged
  ``schedule=office-hours`` in a dev environment (the ones a non-prod stop must stop), the rest prod, protected,
  opted out (``schedule=always-on``), or staging without a schedule and without ``cost-center`` (non-compliant);
- unattached volumes (35 %): 55 % old orphans (created 120 days ago: the ones to delete), 5 % tagged
  ``Environment=Prod`` (prod, as a person writes it), and 10 % each protected (``finops:protect=true``), tagged
  ``environment=prod``, young (2 days), managed by DLM (an ``aws:dlm:`` tag);
- snapshots (45 %): 45 % old orphans (200 days: to delete), 5 % old but shared with another account (its volumes
  may be in use there), and 10 % each young (10 days), backing an AMI, protected, made by AWS Backup (``aws:backup:``
  tag and its description), tagged ``environment=prod``.

Everything seeded carries a valid ``team``/``environment``/``cost-center`` except the non-compliant group and the
young volumes (no ``team``), so tag compliance has a truth too.

Seeding goes through moto's backends inside the server process (:func:`seed_target`): the API cannot backdate a
resource, AWS tags (``aws:``) cannot be set through it, and 50,000 resources through HTTP would take minutes a run.
The truth is what the API would show: ids and why each is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_IMAGE_ID = "ami-0abcdef1234567890"  # the public base image instances launch from (as tools.sim.ec2)
COMPLIANT = {"team": "data", "environment": "dev", "cost-center": "CC-1234"}
SHARED_WITH = "210987654321"  # an account outside the bench's Organization
BACKUP_DESCRIPTION = "This snapshot is created by the AWS Backup service."


@dataclass(frozen=True)
class Group:
    """A share of a kind: ``tags`` on top of :data:`COMPLIANT` (``None`` values remove a key), its age, and why it
    must be left alone (``None``: it is one the job must act on)."""

    share: float
    tags: dict[str, str | None]
    age_days: float
    kept_because: str | None


# kind -> (share of the target's resources, groups of that kind)
MIX: dict[str, tuple[float, tuple[Group, ...]]] = {
    "instance": (
        0.10,
        (
            Group(0.4, {"schedule": "office-hours"}, 30, None),
            Group(0.1, {"schedule": "office-hours", "environment": "prod"}, 30, "prod"),
            Group(0.1, {"schedule": "office-hours", "finops:protect": "true"}, 30, "protected"),
            Group(0.1, {"schedule": "always-on"}, 30, "opted out"),
            Group(0.3, {"environment": "staging", "cost-center": None}, 30, "no schedule"),
        ),
    ),
    "volume": (
        0.35,
        (
            Group(0.55, {}, 120, None),
            Group(0.05, {"Environment": "Prod", "environment": None}, 120, "prod (Environment=Prod)"),
            Group(0.1, {"finops:protect": "true"}, 120, "protected"),
            Group(0.1, {"environment": "prod"}, 120, "prod"),
            Group(0.1, {"team": None}, 2, "young"),
            Group(0.1, {"aws:dlm:lifecycle-policy-id": "policy-0123456789abcdef0"}, 120, "DLM managed"),
        ),
    ),
    "snapshot": (
        0.45,
        (
            Group(0.45, {}, 200, None),
            Group(0.05, {}, 200, "shared with another account"),
            Group(0.1, {}, 10, "young"),
            Group(0.1, {}, 200, "backs an AMI"),
            Group(0.1, {"finops:protect": "true"}, 200, "protected"),
            Group(0.1, {"aws:backup:source-resource": "arn:aws:ec2:::volume/vol-0"}, 200, "AWS Backup"),
            Group(0.1, {"environment": "prod"}, 200, "prod"),
        ),
    ),
}


def counts(size: int, share: float, groups: Sequence[Group]) -> list[int]:
    """How many of each group a kind gets in a target of ``size`` resources (largest remainders, so they add up)."""
    total = round(size * share)
    exact = [total * g.share for g in groups]
    whole = [int(x) for x in exact]
    by_remainder = sorted(range(len(groups)), key=lambda i: exact[i] - whole[i], reverse=True)
    for i in by_remainder[: total - sum(whole)]:
        whole[i] += 1
    return whole


def tags_of(group: Group) -> dict[str, str]:
    merged = {**COMPLIANT, **group.tags}
    return {k: v for k, v in merged.items() if v is not None}


def noncompliant(tags: dict[str, str]) -> bool:
    """Missing a required tag of the default taxonomy (team, environment, cost-center)."""
    return any(key not in tags for key in COMPLIANT)


@dataclass
class Truth:
    """What the jobs must do in one target: the ids to act on, and every id to leave alone with its reason."""

    account: str
    region: str
    act: dict[str, list[str]]  # kind -> ids the job must stop (instances) or delete (volumes, snapshots)
    keep: dict[str, dict[str, str]]  # kind -> id -> why it must be left alone
    noncompliant: list[str]  # instances and volumes (root volumes included) missing a required tag

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "act": self.act,
            "keep": self.keep,
            "noncompliant": self.noncompliant,
        }


def seed_target(account: str, region: str, size: int, *, now: datetime | None = None) -> Truth:
    """Seed one target of ``size`` resources into moto's backends (call it inside the server process)."""
    from moto.ec2.models import ec2_backends

    from tools.sim._moto_internals import back_image_with_snapshot, backdate

    now = now or datetime.now(UTC)
    ec2 = ec2_backends[account][region]
    zone = f"{region}a"
    truth = Truth(account, region, {k: [] for k in MIX}, {k: {} for k in (*MIX, "image")}, [])

    def record(kind: str, resource_id: str, group: Group, tags: dict[str, str]) -> None:
        if group.kept_because is None:
            truth.act[kind].append(resource_id)
        else:
            truth.keep[kind][resource_id] = group.kept_because
        if kind != "snapshot" and noncompliant(tags):
            truth.noncompliant.append(resource_id)

    share, groups = MIX["instance"]
    instances: list[str] = []
    for group, n in zip(groups, counts(size, share, groups), strict=True):
        if not n:
            continue
        tags = tags_of(group)
        reservation = ec2.run_instances(
            BASE_IMAGE_ID,
            n,
            None,
            [],
            instance_type="t3.micro",
            is_instance_type_default=False,
            placement=zone,
            region_name=region,
            tags={"instance": tags},
        )
        for instance in reservation.instances:
            backdate(account, region, "instance", instance.id, now - timedelta(days=group.age_days))
            record("instance", instance.id, group, tags)
            instances.append(instance.id)
            for device in instance.block_device_mapping.values():  # the root volume: attached, left alone
                ec2.create_tags([device.volume_id], tags)
                truth.keep["volume"][device.volume_id] = "attached"
                if noncompliant(tags):
                    truth.noncompliant.append(device.volume_id)

    share, groups = MIX["volume"]
    for group, n in zip(groups, counts(size, share, groups), strict=True):
        tags = tags_of(group)
        made = [ec2.create_volume(8, zone, volume_type="gp3") for _ in range(n)]
        if made:
            ec2.create_tags([v.id for v in made], tags)
        for volume in made:
            volume.create_time = _naive(now - timedelta(days=group.age_days))
            record("volume", volume.id, group, tags)

    share, groups = MIX["snapshot"]
    source = ec2.create_volume(8, zone, volume_type="gp3")  # snapshots of a volume since deleted: orphans
    for group, n in zip(groups, counts(size, share, groups), strict=True):
        tags = tags_of(group)
        backup = any(k.startswith("aws:backup:") for k in tags)
        snapshots = [ec2.create_snapshot(source.id, BACKUP_DESCRIPTION if backup else "bench") for _ in range(n)]
        if snapshots:
            ec2.create_tags([s.id for s in snapshots], tags)
        for snapshot in snapshots:
            snapshot.start_time = _naive(now - timedelta(days=group.age_days))
            if group.kept_because == "shared with another account":  # ModifySnapshotAttribute's createVolumePermission
                ec2.add_create_volume_permission(snapshot.id, user_ids=[SHARED_WITH], groups=[])
            if group.kept_because == "backs an AMI":
                image = ec2.create_image(instances[len(truth.keep["image"]) % len(instances)], snapshot.id, "bench", [])
                back_image_with_snapshot(account, region, image.id, snapshot.id)
                truth.keep["image"][image.id] = "an AMI"
            record("snapshot", snapshot.id, group, tags)
    ec2.delete_volume(source.id)
    return truth


def _naive(when: datetime) -> datetime:
    """moto keeps UTC times as naive datetimes."""
    return when.astimezone(UTC).replace(tzinfo=None)


def state(account: str, region: str) -> dict[str, Any]:
    """What exists in one target now, read off moto's backends (not through the API: reading back is not counted):
    volume and snapshot ids, instance states."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account][region]
    return {
        "volume": sorted(ec2.volumes),
        "snapshot": sorted(ec2.snapshots),
        "instance": {i.id: i._state.name for r in ec2.reservations.values() for i in r.instances},
        "tags": {
            resource: dict(tags) for resource, tags in ec2.tags.items() if resource.startswith(("vol-", "snap-", "i-"))
        },
    }


def advance(account: str, region: str, days: float) -> int:
    """Let ``days`` pass in one target, as far as its resources can tell: every creation, start and launch time and
    every clean-up mark date (``finops:cleanup-after``) moves that much into the past. A sweep run on the wall clock
    then sees the grace period over, as it would ``days`` later on AWS. Returns how many marks moved."""
    from moto.ec2.models import ec2_backends

    from finops.rules.cleanup_tags import AFTER_TAG

    ec2 = ec2_backends[account][region]
    shift = timedelta(days=days)
    for volume in ec2.volumes.values():
        volume.create_time -= shift
    for snapshot in ec2.snapshots.values():
        snapshot.start_time -= shift
    for reservation in ec2.reservations.values():
        for instance in reservation.instances:
            instance.launch_time -= shift
    moved = 0
    for tags in ec2.tags.values():
        if AFTER_TAG in tags:
            after = datetime.fromisoformat(tags[AFTER_TAG].replace("Z", "+00:00")) - shift
            tags[AFTER_TAG] = after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            moved += 1
    return moved
