"""The auto-tagger's decisions, pure: from a parsed CloudTrail call to the resources it created and who created them,
and from what the read step found on each resource to the tags to add.

Never overwritten: a tag the creator set in the call (``tagSpecificationSet`` for EC2, ``tags`` for RDS) or one already
on the resource, keys compared case-insensitively and trimmed (``Team`` counts as ``team``). Never written: the
protect tag. Nothing is changed in a prod account or on a resource tagged prod or protected (README, safety model).

Tag values follow the rules every service accepts (EC2, RDS): at most 256 characters, letters, digits, white space and
``_ . : / = + - @`` only (RDS refuses anything else; EC2's documentation asks for the same set where tags travel between
services), and no ``aws:`` prefix. Other characters become ``_`` and a longer value is cut, so a tagging call never
fails on the value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finops.models.cloudtrail import (
    RESPONSES,
    ApiCall,
    DBClusterResponse,
    DBInstanceResponse,
    ImageResponse,
    RunInstancesResponse,
    SnapshotResponse,
    SnapshotsResponse,
    UserIdentity,
    VolumeResponse,
)
from finops.models.config import SafetyConfig, tag_items
from finops.models.governance_config import AutoTaggerConfig

INSTANCE, VOLUME, SNAPSHOT, IMAGE = "ec2:instance", "ec2:volume", "ec2:snapshot", "ec2:image"
DB, CLUSTER = "rds:db", "rds:cluster"
EC2_TYPES = (INSTANCE, VOLUME, SNAPSHOT, IMAGE)
RDS_TYPES = (DB, CLUSTER)
# EC2's resourceType in a tagSpecificationSet for each of our types (RDS tags apply to the one resource created).
TAG_SPECIFICATION_TYPES: Mapping[str, str] = {
    INSTANCE: "instance",
    VOLUME: "volume",
    SNAPSHOT: "snapshot",
    IMAGE: "image",
}
# The EventBridge sources of the events the member accounts forward, and their CloudTrail event sources.
EVENT_SOURCES: Mapping[str, str] = {"aws.ec2": "ec2.amazonaws.com", "aws.rds": "rds.amazonaws.com"}
MAX_VALUE = 256
MAX_TAGS = 50  # user tags per EC2 or RDS resource
_NOT_ALLOWED = re.compile(r"[^\w\s.:/=+\-@]", re.UNICODE)
_RESERVED_PREFIXES = ("aws:", "rds:")  # RDS refuses both in values; EC2 refuses aws:


def event_names() -> dict[str, tuple[str, ...]]:
    """The event names the auto-tagger reads, by EventBridge source (``aws.ec2``): what the forwarding rule matches."""
    return {source: tuple(sorted(RESPONSES[ct_source])) for source, ct_source in EVENT_SOURCES.items()}


# -- who created it --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Creator:
    """Who made the call, as the tag says it, and whose IAM tags to copy (``iam_role`` or ``iam_user``, in
    ``account``). ``copy_note`` says why nothing can be copied, when that is so."""

    value: str
    kind: str  # userIdentity.type
    account: str | None = None
    iam_role: str | None = None
    iam_user: str | None = None
    copy_note: str | None = None


def creator_of(identity: UserIdentity) -> Creator | None:
    """The creator of a call, or None when the record does not say who it was.

    - IAMUser: the user's ARN; tags copied from the user.
    - AssumedRole: the role's ARN (``sessionIssuer.arn``, with its path) and the session name (the last part of the
      assumed-role ARN): ``arn:aws:iam::111122223333:role/Admin session jane@example.com``; tags from the role.
    - FederatedUser (GetFederationToken): the federated user and the user who issued it:
      ``arn:aws:sts::111122223333:federated-user/bob issued by arn:aws:iam::111122223333:user/alice``; tags from the
      issuing user (a root-issued session has none to copy).
    - Root: ``root of account 111122223333``; nothing to copy.
    - AWSService (a service acting on its own) and anything else: the ARN when there is one, else the service
      (``invokedBy``), else the principal id; nothing to copy.
    """
    kind = identity.type or "Unknown"
    issuer = identity.issuer
    account = identity.accountId
    if kind == "IAMUser" and identity.arn:
        return Creator(identity.arn, kind, account, iam_user=identity.userName or identity.arn.rsplit("/", 1)[-1])
    if kind == "AssumedRole" and identity.arn:
        session = identity.arn.rsplit("/", 1)[-1] if identity.arn.count("/") >= 2 else None
        role_arn = issuer.arn if issuer and issuer.arn else identity.arn
        value = f"{role_arn} session {session}" if session else role_arn
        role = issuer.userName if issuer and issuer.type == "Role" else None
        note = None if role else "the record names no role to read tags from (sessionContext.sessionIssuer)"
        role_account = issuer.accountId if issuer and issuer.accountId else account
        return Creator(value, kind, role_account, iam_role=role, copy_note=note)
    if kind == "FederatedUser" and identity.arn:
        if issuer and issuer.arn:
            user = issuer.userName if issuer.type == "IAMUser" else None
            note = None if user else f"issued by the {issuer.type or 'unknown'} identity, which has no IAM tags"
            return Creator(f"{identity.arn} issued by {issuer.arn}", kind, account, iam_user=user, copy_note=note)
        return Creator(identity.arn, kind, account, copy_note="the record names no issuing user")
    if kind == "Root":
        root_account = account or (identity.arn.split(":")[4] if identity.arn and identity.arn.count(":") >= 5 else "")
        return Creator(f"root of account {root_account}".strip(), kind, account, copy_note="the root user has no tags")
    named = identity.arn or identity.invokedBy or identity.principalId
    if not named:
        return None
    return Creator(named, kind, account, copy_note=f"a {kind} identity has no IAM tags to copy")


# -- what it created -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedResource:
    id: str  # instance, volume, snapshot or image id; DB instance or cluster identifier
    type: str  # ec2:instance, ..., rds:db, rds:cluster
    arn: str | None = None  # RDS: what AddTagsToResource takes


@dataclass(frozen=True, slots=True)
class Creation:
    """A successful create call: its resources, their creator, when, and the tags the creator asked for.

    ``derived`` types are found by the read step: an instance's volumes (RunInstances), an image's snapshots."""

    event_id: str
    event_name: str
    account: str
    region: str
    at: datetime
    creator: Creator
    resources: tuple[CreatedResource, ...]
    creator_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # by our resource type
    derived: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that tags nothing, and why."""

    reason: str
    event_id: str | None = None
    event_name: str | None = None
    account: str | None = None
    region: str | None = None
    creator: str | None = None


def creation_of(call: ApiCall) -> Creation | Ignored:
    """What ``call`` created, or why it created nothing the auto-tagger tags."""
    record = call.record
    account = record.recipientAccountId or call.event.account
    creator = creator_of(record.userIdentity)
    ids = {
        "event_id": record.eventID,
        "event_name": record.eventName,
        "account": account,
        "region": record.awsRegion,
        "creator": creator.value if creator else None,
    }
    if record.errorCode:
        return Ignored(f"the call failed ({record.errorCode}): it created nothing", **ids)
    if not call.known:
        return Ignored(f"{record.eventSource} {record.eventName} is not a call the auto-tagger reads", **ids)
    if call.response is None:
        return Ignored("the record has no responseElements: nothing says what was created", **ids)
    if creator is None:
        return Ignored("the record's userIdentity names nobody (no arn, service or principal id)", **ids)
    resources, derived = _created(call, record.awsRegion, account)
    if not resources:
        return Ignored(f"{record.eventName} lists no resource it created", **ids)
    types = sorted({*(r.type for r in resources), *derived})
    request = call.request
    creator_tags = {t: request.tags_for(TAG_SPECIFICATION_TYPES.get(t, t)) for t in types} if request else {}
    return Creation(
        event_id=record.eventID,
        event_name=record.eventName,
        account=account,
        region=record.awsRegion,
        at=record.eventTime.astimezone(UTC),
        creator=creator,
        resources=resources,
        creator_tags=creator_tags,
        derived=derived,
    )


def _rds_arn(kind: str, identifier: str, region: str, account: str) -> str:
    return f"arn:aws:rds:{region}:{account}:{kind}:{identifier}"


def _created(call: ApiCall, region: str, account: str) -> tuple[tuple[CreatedResource, ...], tuple[str, ...]]:
    response = call.response
    if isinstance(response, RunInstancesResponse):
        return tuple(CreatedResource(i.instanceId, INSTANCE) for i in response.instancesSet.items), (VOLUME,)
    if isinstance(response, VolumeResponse):
        return (CreatedResource(response.volumeId, VOLUME),), ()
    if isinstance(response, SnapshotResponse):
        return (CreatedResource(response.snapshotId, SNAPSHOT),), ()
    if isinstance(response, SnapshotsResponse):
        return tuple(CreatedResource(s, SNAPSHOT) for s in response.snapshot_ids), ()
    if isinstance(response, ImageResponse):
        # CreateImage makes the image's snapshots at once; CopyImage copies them later (not found then: no tags).
        derived = (SNAPSHOT,) if call.record.eventName == "CreateImage" else ()
        return (CreatedResource(response.imageId, IMAGE),), derived
    if isinstance(response, DBInstanceResponse):
        arn = response.dBInstanceArn or _rds_arn("db", response.dBInstanceIdentifier, region, account)
        return (CreatedResource(response.dBInstanceIdentifier, DB, arn),), ()
    if isinstance(response, DBClusterResponse):
        arn = response.dBClusterArn or _rds_arn("cluster", response.dBClusterIdentifier, region, account)
        return (CreatedResource(response.dBClusterIdentifier, CLUSTER, arn),), ()
    return (), ()


# -- tag values ------------------------------------------------------------------------------------------------------


def tag_value(text: str) -> str:
    """``text`` as a tag value every service accepts: disallowed characters as ``_``, at most 256 characters, never
    starting with ``aws:`` or ``rds:`` (reserved)."""
    cleaned = _NOT_ALLOWED.sub("_", unicodedata.normalize("NFC", text).strip())
    cleaned = " ".join(cleaned.split())  # tabs and newlines are white space to RDS, but not what anyone wants
    if cleaned.lower().startswith(_RESERVED_PREFIXES):
        cleaned = "_" + cleaned[4:]
    return cleaned[:MAX_VALUE]


def created_at_value(at: datetime) -> str:
    """The event's time, ISO 8601 in UTC to the second (``2026-11-27T09:15:02Z``)."""
    if at.tzinfo is None:
        raise ValueError("the creation time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the tags to add -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """A created resource as the read step found it in its account and region, with its tags now."""

    id: str
    type: str
    tags: Mapping[str, str]
    arn: str | None = None
    name: str | None = None  # its Name tag, for a reader


@dataclass(frozen=True, slots=True)
class TagDecision:
    """For one resource: the tags to add (empty: nothing to do), the ones kept as they are, or why it is left alone."""

    resource: Found
    add: Mapping[str, str] = field(default_factory=dict)
    kept: tuple[str, ...] = ()  # our keys it already has (from the creator or anyone), left untouched
    skip: str | None = None  # left alone: prod, protected, too many tags
    notable: bool = True


def wanted_tags(
    creation: Creation, principal_tags: Mapping[str, str] | None, config: AutoTaggerConfig
) -> dict[str, str]:
    """Every tag the auto-tagger would write on a resource of ``creation`` that has none of them yet: the creator,
    the creation time, and each ``copy_tag_keys`` tag the creating principal carries (with a value)."""
    wanted = {
        config.creator_tag_key: tag_value(creation.creator.value),
        config.created_at_tag_key: created_at_value(creation.at),
    }
    for key in config.copy_tag_keys:
        values = [v for _, v in tag_items(principal_tags or {}, key) if tag_value(v)]
        if values:
            wanted[key] = tag_value(values[0])
    return wanted


def decide(
    creation: Creation,
    found: Sequence[Found],
    *,
    principal_tags: Mapping[str, str] | None,
    config: AutoTaggerConfig,
    safety: SafetyConfig,
    prod_account: str | None = None,
) -> list[TagDecision]:
    """One decision per found resource, in the order given. Pure: the same inputs give the same decisions in report and
    enforce mode."""
    wanted = {k: v for k, v in wanted_tags(creation, principal_tags, config).items() if not _is_protect(k, safety)}
    decisions = []
    for resource in found:
        if prod_account:
            decisions.append(TagDecision(resource, skip=f"prod account ({prod_account}): nothing in it is changed"))
            continue
        guard = safety.tag_guard(resource.tags)
        if guard:
            decisions.append(TagDecision(resource, skip=f"{guard}: never changed"))
            continue
        present = {k.strip().lower() for k in (*resource.tags, *creation.creator_tags.get(resource.type, {}))}
        add = {k: v for k, v in wanted.items() if k.strip().lower() not in present}
        kept = tuple(k for k in wanted if k not in add)
        if add and len(resource.tags) + len(add) > MAX_TAGS:
            decisions.append(
                TagDecision(
                    resource,
                    kept=kept,
                    skip=f"it has {len(resource.tags)} tags: {len(add)} more would pass the limit of {MAX_TAGS}",
                )
            )
            continue
        decisions.append(TagDecision(resource, add=add, kept=kept, notable=bool(add)))
    return decisions


def _is_protect(key: str, safety: SafetyConfig) -> bool:
    return key.strip().lower() == safety.protect_tag.key.strip().lower()


def allowed_keys(config: AutoTaggerConfig, safety: SafetyConfig) -> frozenset[str]:
    """The only tag keys the auto-tagger ever writes (the apply refuses any other)."""
    keys = {config.creator_tag_key, config.created_at_tag_key, *config.copy_tag_keys}
    return frozenset(k for k in keys if not _is_protect(k, safety))
