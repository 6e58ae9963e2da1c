"""The estate file: a YAML description of an AWS Organization and what runs in it, validated by one typed model.

The schema is documented in ``docs/estate-file.md``. In short: a management account, the OUs (as paths such as
``Workloads/Prod``), the member accounts with their tags and, per region, their instances, volumes, snapshots,
images, Aurora clusters, RDS instances and Auto Scaling groups. Resources are linked by name (a volume is
``attached_to`` an instance name, a DB instance is a ``cluster`` member or a replica of another); moto assigns the real
ids, which :func:`tools.sim.estate.dump` writes back as ``id`` and loading ignores. Timestamps are absolute and carry a
timezone, so a resource's age is whatever the file says. A region may also hold Recycle Bin retention rules
(``recycle_bin_rules``), which moto lacks and ``tools.sim.rbin`` serves. Some fields are simulated faults, not AWS
state: ``Instance.start_error``, ``Volume.delete_error``, ``Snapshot.delete_error`` and ``Account.member_role: false``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finops.models.problems import Loc, Mark, ProblemsError, problems, read_document

DEFAULT_ESTATE_PATH = Path(__file__).with_name("default_estate.yaml")

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="a 12-digit AWS account id, quoted in YAML")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
OuPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][\w+=,.@ -]*(/[A-Za-z0-9][\w+=,.@ -]*)*$",
        max_length=1024,
        description="OU names from the root down, joined by '/', e.g. Workloads/Prod",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Timestamp = Annotated[AwareDatetime, Field(description="ISO 8601 with a timezone, e.g. 2026-10-01T09:00:00Z")]
MotoId = Annotated[str | None, Field(description="assigned by moto; written by dump, ignored when seeding")]
ErrorCode = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)*$", description="an EC2 error code")]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]
TagValue = Annotated[str, Field(max_length=256)]


class EstateError(ProblemsError):
    """The estate file is unreadable or invalid; ``str()`` lists every problem with its key path."""

    what = "estate file"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_allowed_aws_key(key: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``key`` is one of the ``allowed`` AWS system tags: an exact key, or a prefix ending in ``:``."""
    return any(key == a or (a.endswith(":") and key.startswith(a)) for a in allowed)


def _check_tags(tags: dict[str, str], *, allow_name: bool, aws_keys: tuple[str, ...] = ()) -> dict[str, str]:
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValueError(f"tag {key!r}: keys are 1-128 characters, values at most 256")
        if key.lower().startswith("aws:") and not is_allowed_aws_key(key, aws_keys):
            allowed = f" (allowed here: {', '.join(k + '*' if k.endswith(':') else k for k in aws_keys)})"
            raise ValueError(f"tag {key!r}: the aws: prefix is reserved for AWS{allowed if aws_keys else ''}")
        if key == "Name" and not allow_name:
            raise ValueError("tag 'Name': set the resource's name with `name:`, not as a tag")
    return tags


class _Resource(_Model):
    """Shared checks. Each kind declares its own fields, so a dump lists them in reading order: id, name, ...

    ``AWS_TAG_KEYS``: the ``aws:`` system tags AWS itself puts on this kind that the estate may give (a key, or a
    prefix ending in ``:``), so that code reading them can be tested; every other ``aws:`` key is refused.
    """

    AWS_TAG_KEYS: ClassVar[tuple[str, ...]] = ()

    @field_validator("tags", check_fields=False)
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _check_tags(tags, allow_name=False, aws_keys=cls.AWS_TAG_KEYS)


class Instance(_Resource):
    id: MotoId = None
    name: Name
    instance_type: str = Field(default="t3.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    state: Literal["running", "stopped"] = "running"
    hibernation: bool = Field(default=False, description="launched with HibernationOptions.Configured")
    tags: dict[str, str] = Field(default_factory=dict)
    launched_at: Timestamp
    start_error: ErrorCode | None = Field(
        default=None, description="SIMULATED FAULT: StartInstances of this instance fails with this EC2 error code"
    )


# The provisioned performance a volume type takes (EC2 CreateVolume): (IOPS range, throughput range in MiB/s).
_IOPS = {"gp3": (3000, 80000), "io1": (100, 64000), "io2": (100, 256000)}
_THROUGHPUT = {"gp3": (125, 2000)}
_GP3_BASELINE = {"iops": 3000, "throughput": 125}  # what a gp3 volume gets when CreateVolume gives neither


class Volume(_Resource):
    AWS_TAG_KEYS = ("aws:cloudformation:stack-name",)  # a volume a CloudFormation stack owns

    id: MotoId = None
    name: Name
    size_gb: int = Field(ge=1, le=65536)
    volume_type: Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"] = "gp3"
    iops: int | None = Field(default=None, description="provisioned IOPS: gp3 (3000 if left out), io1 and io2 (needed)")
    throughput: int | None = Field(default=None, description="MiB/s, gp3 only (125 if left out)")
    attached_to: Name | None = Field(default=None, description="the name of an instance in the same account/region")
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp
    delete_error: ErrorCode | None = Field(
        default=None, description="SIMULATED FAULT: DeleteVolume of this volume fails with this EC2 error code"
    )

    @model_validator(mode="before")
    @classmethod
    def _gp3_baseline(cls, data: Any) -> Any:
        """A gp3 volume left without ``iops``/``throughput`` has the baseline, as DescribeVolumes shows it."""
        if isinstance(data, dict) and data.get("volume_type", "gp3") == "gp3":
            return {**data, **{k: v for k, v in _GP3_BASELINE.items() if data.get(k) is None}}
        return data

    @model_validator(mode="after")
    def _performance_fits_the_type(self) -> Volume:
        problems = []
        for field, ranges in (("iops", _IOPS), ("throughput", _THROUGHPUT)):
            value, limits = getattr(self, field), ranges.get(self.volume_type)
            if limits is None and value is not None:
                problems.append(f"{field}: {self.volume_type} volumes take none (only {', '.join(ranges)} do)")
            elif limits is not None and value is None:
                problems.append(f"{field}: {self.volume_type} volumes need it ({limits[0]}-{limits[1]})")
            elif limits is not None and value is not None and not limits[0] <= value <= limits[1]:
                problems.append(f"{field}: {value} is out of range for {self.volume_type} ({limits[0]}-{limits[1]})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


SharedWith = Annotated[str, Field(pattern=r"^(\d{12}|all)$", description="an account id, or all (public)")]


class Snapshot(_Resource):
    # AWS Backup's and Data Lifecycle Manager's tags on the snapshots they make
    AWS_TAG_KEYS = ("aws:backup:", "aws:dlm:")

    id: MotoId = None
    name: Name
    volume: Name | None = Field(default=None, description="a volume name, or null for a volume since deleted")
    size_gb: int | None = Field(default=None, ge=1, le=65536, description="the volume's size; 8 when volume is null")
    description: str = Field(default="", max_length=255)
    shared_with: tuple[SharedWith, ...] = Field(
        default=(), description="createVolumePermission: account ids, or all for a public snapshot (kept sorted)"
    )
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp
    delete_error: ErrorCode | None = Field(
        default=None, description="SIMULATED FAULT: DeleteSnapshot of this snapshot fails with this EC2 error code"
    )

    @field_validator("shared_with")
    @classmethod
    def _shared_once_each(cls, shared: tuple[str, ...]) -> tuple[str, ...]:
        if twice := _duplicates(shared):
            raise ValueError(f"{', '.join(twice)} listed twice")
        return tuple(sorted(shared))


class Image(_Resource):
    id: MotoId = None
    name: str = Field(pattern=r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$", description="the AMI name (and its Name tag)")
    instance: Name | None = Field(default=None, description="made from this instance (CreateImage)")
    snapshot: Name | None = Field(default=None, description="registered from this root snapshot (RegisterImage)")
    disabled: bool = Field(default=False, description="DisableImage: state disabled, hidden unless IncludeDisabled")
    deprecated_at: Timestamp | None = Field(default=None, description="its DeprecationTime (EnableImageDeprecation)")
    deregistered: bool = Field(
        default=False, description="registered, then DeregisterImage: gone, its snapshot left behind; not dumped back"
    )
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if (self.instance is None) == (self.snapshot is None):
            raise ValueError("give exactly one of `instance` (CreateImage) or `snapshot` (RegisterImage)")
        if self.deregistered and self.instance is not None:
            raise ValueError(
                "deregistered: give the image a `snapshot` (the one it leaves behind), not an `instance`: the "
                "snapshot CreateImage makes would be left unnamed"
            )
        if self.deregistered and (self.disabled or self.deprecated_at is not None):
            raise ValueError("deregistered: a deregistered image is gone, so it is neither disabled nor deprecated")
        return self


_RETENTION_DAYS = {"EBS_VOLUME": 7, "EBS_SNAPSHOT": 365}  # the longest retention a rule of each type may have


class RecycleBinRule(_Model):
    """A Region-level or tag-level Recycle Bin retention rule (moto has no rbin; ``tools.sim.rbin`` serves these)."""

    id: str | None = Field(default=None, description="its Identifier, assigned by the simulation; ignored when seeding")
    resource_type: Literal["EBS_VOLUME", "EBS_SNAPSHOT"]
    retention_days: int = Field(description="EBS_VOLUME: 1-7 days, EBS_SNAPSHOT: 1-365")
    description: str = Field(default="", pattern=r"^[\S ]{0,255}$")
    resource_tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=50, description="a tag-level rule: retains resources with one of these tags"
    )
    exclude_tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=5, description="a Region-level rule: does not retain resources with these"
    )
    locked: bool = Field(default=False, description="LockState locked, with the 7-day unlock delay")

    @model_validator(mode="after")
    def _valid_rule(self) -> RecycleBinRule:
        problems = []
        longest = _RETENTION_DAYS[self.resource_type]
        if not 1 <= self.retention_days <= longest:
            problems.append(f"retention_days: {self.resource_type} rules retain 1-{longest} days")
        if self.resource_tags and self.exclude_tags:
            problems.append("exclude_tags: only a Region-level rule (no resource_tags) takes exclusion tags")
        if self.resource_tags and self.locked:
            problems.append("locked: only a Region-level rule (no resource_tags) can be locked")
        if problems:
            raise ValueError("; ".join(problems))
        return self


DbIdentifier = Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$")]
DbInstanceClass = Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")]
AURORA_ENGINES = ("aurora-postgresql", "aurora-mysql")


class DbCluster(_Resource):
    """An Aurora cluster. Its DB instances are the ``db_instances`` that name it as their ``cluster``."""

    id: MotoId = None
    identifier: DbIdentifier
    engine: Literal["aurora-postgresql", "aurora-mysql"] = "aurora-postgresql"
    instance_class: DbInstanceClass = Field(default="db.r6g.large", description="the class of its DB instances")
    status: Literal["available", "stopped"] = "available"
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp


class DbInstance(_Resource):
    id: MotoId = None
    identifier: DbIdentifier
    engine: str = "postgres"
    instance_class: DbInstanceClass = "db.t3.micro"
    storage_gb: int = Field(default=20, ge=5, le=65536)
    status: Literal["available", "stopped"] = "available"
    cluster: DbIdentifier | None = Field(default=None, description="a member of this Aurora cluster (same region)")
    replica_of: DbIdentifier | None = Field(default=None, description="a read replica of this instance (same region)")
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp


_MEMBER_STORAGE_GB = DbInstance.model_fields["storage_gb"].default


class AutoScalingGroup(_Resource):
    id: MotoId = None
    name: Name
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=1, ge=0)
    desired_capacity: int = Field(default=0, ge=0)
    instance_type: str = Field(default="t3.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp

    @model_validator(mode="after")
    def _capacity_in_bounds(self) -> AutoScalingGroup:
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"need min_size <= desired_capacity <= max_size (got {self.min_size}, "
                f"{self.desired_capacity}, {self.max_size})"
            )
        return self


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


class RegionResources(_Model):
    """What one account runs in one region. Names are unique per kind and link resources of the same region."""

    instances: tuple[Instance, ...] = ()
    volumes: tuple[Volume, ...] = ()
    snapshots: tuple[Snapshot, ...] = ()
    images: tuple[Image, ...] = ()
    db_clusters: tuple[DbCluster, ...] = ()
    db_instances: tuple[DbInstance, ...] = ()
    auto_scaling_groups: tuple[AutoScalingGroup, ...] = ()
    recycle_bin_rules: tuple[RecycleBinRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _databases_inherit(cls, data: Any) -> Any:
        """Defaults a DB instance takes from what it links to, as AWS gives them: a cluster member's engine, class and
        status are its cluster's; a read replica's engine, class and storage are its source's. Given values stay."""
        if not isinstance(data, dict) or not isinstance(data.get("db_instances"), list | tuple):
            return data
        clusters = _by_identifier(data.get("db_clusters"))
        sources = _by_identifier(data["db_instances"])
        inherited = []
        for db in data["db_instances"]:
            if isinstance(db, dict):
                if (cluster := clusters.get(_text(db.get("cluster")))) is not None:
                    db = {**_fields_of(cluster, DbCluster, ("engine", "instance_class", "status")), **db}
                elif (source := sources.get(_text(db.get("replica_of")))) is not None:
                    db = {**_fields_of(source, DbInstance, ("engine", "instance_class", "storage_gb")), **db}
            inherited.append(db)
        return {**data, "db_instances": inherited}

    @model_validator(mode="after")
    def _names_unique_and_links_resolve(self) -> RegionResources:
        problems = [
            f"{kind}: the name {name!r} is used twice"
            for kind, names in (
                ("instances", [i.name for i in self.instances]),
                ("volumes", [v.name for v in self.volumes]),
                ("snapshots", [s.name for s in self.snapshots]),
                ("images", [i.name for i in self.images]),
                ("db_clusters", [c.identifier for c in self.db_clusters]),
                ("db_instances", [d.identifier for d in self.db_instances]),
                ("auto_scaling_groups", [a.name for a in self.auto_scaling_groups]),
            )
            for name in _duplicates(names)
        ]
        instances = {i.name for i in self.instances}
        volumes = {v.name: v for v in self.volumes}
        snapshots = {s.name for s in self.snapshots}
        for index, volume in enumerate(self.volumes):
            if volume.attached_to is not None and volume.attached_to not in instances:
                problems.append(f"volumes[{index}].attached_to: no instance named {volume.attached_to!r} here")
        for index, snapshot in enumerate(self.snapshots):
            if snapshot.volume is None:
                continue
            source = volumes.get(snapshot.volume)
            if source is None:
                problems.append(f"snapshots[{index}].volume: no volume named {snapshot.volume!r} here")
            elif snapshot.size_gb is not None and snapshot.size_gb != source.size_gb:
                problems.append(
                    f"snapshots[{index}].size_gb: {snapshot.size_gb} differs from volume {source.name!r} "
                    f"({source.size_gb}): leave it out for a snapshot of an existing volume"
                )
        for index, image in enumerate(self.images):
            if image.instance is not None and image.instance not in instances:
                problems.append(f"images[{index}].instance: no instance named {image.instance!r} here")
            if image.snapshot is not None and image.snapshot not in snapshots:
                problems.append(f"images[{index}].snapshot: no snapshot named {image.snapshot!r} here")
        problems += _database_problems(self.db_clusters, self.db_instances)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _by_identifier(items: object) -> dict[str | None, dict[str, Any]]:
    """The raw (not yet validated) DB entries of a region by identifier; anything malformed is left to validation."""
    if not isinstance(items, list | tuple):
        return {}
    return {item["identifier"]: item for item in items if isinstance(item, dict) and _text(item.get("identifier"))}


def _fields_of(raw: dict[str, Any], model: type[BaseModel], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: raw.get(name, model.model_fields[name].default) for name in names}


def _database_problems(clusters: tuple[DbCluster, ...], databases: tuple[DbInstance, ...]) -> list[str]:
    """Cluster members and read replicas: each link resolves, and what the link decides is not contradicted."""
    problems = []
    by_cluster = {c.identifier: c for c in clusters}
    by_identifier = {d.identifier: d for d in databases}
    for index, db in enumerate(databases):
        where = f"db_instances[{index}]"
        if db.cluster is not None and db.replica_of is not None:
            problems.append(f"{where}: give at most one of `cluster` (an Aurora member) and `replica_of`")
        elif db.cluster is not None:
            cluster = by_cluster.get(db.cluster)
            if cluster is None:
                problems.append(f"{where}.cluster: no db_cluster named {db.cluster!r} here")
                continue
            for field in ("engine", "instance_class", "status"):
                if getattr(db, field) != getattr(cluster, field):
                    problems.append(
                        f"{where}.{field}: {getattr(db, field)!r} differs from cluster {cluster.identifier!r} "
                        f"({getattr(cluster, field)}): a member takes its cluster's, so leave it out"
                    )
            if db.storage_gb != _MEMBER_STORAGE_GB:
                problems.append(f"{where}.storage_gb: Aurora storage belongs to the cluster, so leave it out")
        elif db.replica_of is not None:
            source = by_identifier.get(db.replica_of)
            if source is None:
                problems.append(f"{where}.replica_of: no db_instance named {db.replica_of!r} here")
            elif source.cluster is not None:
                problems.append(
                    f"{where}.replica_of: {source.identifier!r} is a member of Aurora cluster {source.cluster!r} "
                    "(add a reader to the cluster instead)"
                )
            elif source.replica_of is not None:
                problems.append(
                    f"{where}.replica_of: {source.identifier!r} is itself a read replica (cascading replicas are "
                    "not simulated)"
                )
            else:
                for field in ("engine", "storage_gb"):
                    if getattr(db, field) != getattr(source, field):
                        problems.append(
                            f"{where}.{field}: {getattr(db, field)!r} differs from its source {source.identifier!r} "
                            f"({getattr(source, field)}): a read replica takes its source's, so leave it out"
                        )
            if db.status != "available":
                problems.append(f"{where}.status: a read replica cannot be stopped (StopDBInstance refuses it)")
        elif db.engine in AURORA_ENGINES:
            problems.append(f"{where}.engine: {db.engine!r} runs in an Aurora cluster: give the `cluster`")
    members = {d.cluster for d in databases}
    for index, cluster in enumerate(clusters):
        if cluster.identifier not in members:
            problems.append(
                f"db_clusters[{index}]: no db_instances name it as their `cluster`: give it at least one member"
            )
    return problems


class ManagementAccount(_Model):
    id: AccountId
    name: str = Field(min_length=1, max_length=50)
    email: Email


class Account(_Model):
    id: AccountId
    name: str = Field(min_length=1, max_length=50)
    email: Email
    ou: OuPath | None = Field(default=None, description="OU path; null for the root")
    tags: dict[str, str] = Field(default_factory=dict, description="account tags in Organizations")
    member_role: bool = Field(
        default=True,
        description="false is a SIMULATED FAULT: the StackSet never reached the account, so AssumeRole is denied",
    )
    regions: dict[Region, RegionResources] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _check_tags(tags, allow_name=True)

    @model_validator(mode="after")
    def _not_shared_with_itself(self) -> Account:
        problems = [
            f"regions.{region}.snapshots[{index}].shared_with: {self.id} is the snapshot's own account"
            for region, resources in self.regions.items()
            for index, snapshot in enumerate(resources.snapshots)
            if self.id in snapshot.shared_with
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Estate(_Model):
    management: ManagementAccount
    regions: tuple[Region, ...] = Field(min_length=1)
    ous: tuple[OuPath, ...] = ()
    accounts: tuple[Account, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Estate:
        problems = [f"accounts: the id {d} is used twice" for d in _duplicates(a.id for a in self.accounts)]
        problems += [f"accounts: the name {d!r} is used twice" for d in _duplicates(a.name for a in self.accounts)]
        problems += [f"ous: {d!r} is listed twice" for d in _duplicates(self.ous)]
        known_ous = set(self.all_ou_paths())
        for index, account in enumerate(self.accounts):
            if account.id == self.management.id:
                problems.append(f"accounts[{index}].id: {account.id} is the management account")
            if account.ou is not None and account.ou not in known_ous:
                problems.append(f"accounts[{index}].ou: {account.ou!r} is not listed under ous")
            for region in account.regions:
                if region not in self.regions:
                    problems.append(f"accounts[{index}].regions.{region}: not one of the estate's regions")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def all_ou_paths(self) -> list[str]:
        """Every OU path, parents first: ``Workloads/Prod`` implies ``Workloads``."""
        paths: dict[str, None] = {}
        for path in self.ous:
            parts = path.split("/")
            for depth in range(1, len(parts) + 1):
                paths.setdefault("/".join(parts[:depth]), None)
        return sorted(paths, key=lambda p: (p.count("/"), p))

    def comparable(self) -> dict[str, Any]:
        """The estate without moto's ids, in a canonical order: equal for two files describing the same estate.

        A deregistered image is left out: it describes no resource (only how its snapshot came to be orphaned), so a
        file with it and one without describe the same estate, and ``dump`` cannot see it.
        """
        accounts = []
        for account in sorted(self.accounts, key=lambda a: a.id):
            regions = {
                region: {
                    kind: sorted(
                        (
                            r.model_dump(exclude={"id"})
                            for r in getattr(resources, kind)
                            if not getattr(r, "deregistered", False)
                        ),
                        key=_canonical,
                    )
                    for kind in RegionResources.model_fields
                }
                for region, resources in sorted(account.regions.items())
                if resources != RegionResources()
            }
            accounts.append({**account.model_dump(exclude={"regions"}), "regions": regions})
        return {
            "management": self.management.model_dump(),
            "regions": sorted(self.regions),
            "ous": self.all_ou_paths(),
            "accounts": accounts,
        }

    def account(self, name_or_id: str) -> Account:
        for account in self.accounts:
            if name_or_id in (account.id, account.name):
                return account
        raise KeyError(f"no account named or numbered {name_or_id!r} in the estate")


def _canonical(resource: dict[str, Any]) -> tuple[str, str]:
    """By name (or identifier); a Recycle Bin rule, which has neither, by all it says."""
    return str(resource.get("name") or resource.get("identifier")), json.dumps(resource, sort_keys=True, default=str)


# -- reading ---------------------------------------------------------------------------------------------------------


def parse_estate(data: object, *, source: str, marks: Mapping[Loc, Mark] | None = None) -> Estate:
    """Validate loaded data (a parsed YAML file, or a :func:`tools.sim.estate.dump`); raise :class:`EstateError`
    naming each bad key path (and, given the file's ``marks``, the line it is on)."""
    if not isinstance(data, dict):
        raise EstateError(source, [f"(top level): expected a mapping, got {type(data).__name__}"])
    try:
        return Estate.model_validate(data)
    except ValidationError as exc:
        found = problems(
            exc, unknown_key_hint="see docs/estate-file.md", model=Estate, data=data, marks=marks, source=source
        )
        raise EstateError(source, found) from None


def load_estate(path: str | Path) -> Estate:
    """Read and validate an estate file; errors name the file, the line and each bad key path."""
    document = read_document(path, EstateError)
    return parse_estate(document.data, source=str(path), marks=document.marks)


@cache
def default_estate() -> Estate:
    """The embedded ``default_estate.yaml`` (the Organization ``finops.yaml``'s account ids refer to)."""
    return load_estate(DEFAULT_ESTATE_PATH)


# -- generated estates for scale tests -------------------------------------------------------------------------------

_TEAMS = ("payments", "data", "platform")
_ENVIRONMENTS = ("prod", "staging", "dev")
_OUS = {"prod": "Workloads/Prod", "staging": "Workloads/NonProd", "dev": "Workloads/NonProd"}


def generate_estate(
    n_accounts: int,
    *,
    regions: tuple[str, ...] = ("eu-west-1",),
    instances_per_region: int = 0,
    volumes_per_region: int = 0,
    untagged_every: int = 10,
    now: datetime = datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
) -> Estate:
    """A large, regular estate: ``n_accounts`` members (ids 700000000001...) spread over teams and environments.

    Every ``untagged_every``-th account has no tags (0 for none). Each account gets ``instances_per_region``
    instances (alternately running and stopped) and ``volumes_per_region`` unattached volumes of growing age.
    """
    if not 0 < n_accounts < 100_000_000:
        raise ValueError("n_accounts must be between 1 and 99,999,999")
    accounts = []
    for i in range(1, n_accounts + 1):
        team, environment = _TEAMS[i % len(_TEAMS)], _ENVIRONMENTS[i % len(_ENVIRONMENTS)]
        tags = {"team": team, "environment": environment, "cost-center": f"CC-{1000 + i % 50:04d}"}
        untagged = untagged_every > 0 and i % untagged_every == 0
        per_region = RegionResources(
            instances=tuple(
                Instance(
                    name=f"app-{n}",
                    state="running" if n % 2 else "stopped",
                    tags=tags,
                    launched_at=now - timedelta(days=30 + n),
                )
                for n in range(instances_per_region)
            ),
            volumes=tuple(
                Volume(name=f"data-{n}", size_gb=50, tags=tags, created_at=now - timedelta(days=10 * (n + 1)))
                for n in range(volumes_per_region)
            ),
        )
        accounts.append(
            Account(
                id=f"{700_000_000_000 + i:012d}",
                name=f"{team}-{environment}-{i:05d}",
                email=f"aws+{i:05d}@acme.example",
                ou="Sandbox" if untagged else _OUS[environment],
                tags={} if untagged else {"team": team, "environment": environment},
                regions=dict.fromkeys(regions, per_region) if instances_per_region or volumes_per_region else {},
            )
        )
    return Estate(
        management=ManagementAccount(id="111111111111", name="acme-management", email="aws@acme.example"),
        regions=regions,
        ous=("Workloads/Prod", "Workloads/NonProd", "Sandbox"),
        accounts=tuple(accounts),
    )
