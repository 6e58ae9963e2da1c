"""CloudTrail management events as EventBridge delivers them ("AWS API Call via CloudTrail"), parsed at the edge.

The envelope is Powertools' ``EventBridgeModel``; its ``detail`` is one CloudTrail record. Real records drift (new
fields, fields left out, ``responseElements`` null for a failed call), so every model ignores what it does not know
and says which fields are optional. The part of ``requestParameters`` and ``responseElements`` the auto-tagger reads
is validated per event name (:data:`RESPONSES`), so a malformed record fails here, naming the field
(``detail.responseElements.instancesSet.items[0].instanceId: Field required``), and nothing past the handler indexes
into a raw dict.

Where the shapes come from: the ``userIdentity`` forms (IAMUser, AssumedRole, FederatedUser, Root) from the CloudTrail
User Guide's userIdentity reference; RunInstances (``responseElements.instancesSet.items[].instanceId``,
``requestParameters.tagSpecificationSet.items[].tags[] {key, value}``) from published records; CreateVolume from the
KMS Developer Guide's example record; CreateDBInstance (``responseElements.dBInstanceIdentifier``, ``dBInstanceArn``)
from the RDS User Guide's example record. Not verified against a published record: CreateSnapshots'
``responseElements`` (both the flat ``snapshotSet.items`` and the ``CreateSnapshotsResponse.snapshotSet.item`` form
other newer EC2 calls use are accepted), CreateImage's and CopyImage's ``imageId``, CreateDBCluster's
``dBClusterIdentifier``/``dBClusterArn`` (the API's member names in CloudTrail's lower-camel case, as for instances),
and RDS ``requestParameters.tags`` as ``[{key, value}]``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from finops.models.events import InvalidEvent
from finops.models.problems import key_path

__all__ = [
    "DETAIL_TYPE",
    "RESPONSES",
    "ApiCall",
    "CloudTrailEvent",
    "CloudTrailRecord",
    "Ec2TaggedRequest",
    "InvalidCloudTrailEvent",
    "RdsTaggedRequest",
    "UserIdentity",
    "parse_cloudtrail_event",
]

DETAIL_TYPE = "AWS API Call via CloudTrail"

T = TypeVar("T")


class InvalidCloudTrailEvent(InvalidEvent):
    """The event is not a CloudTrail record the auto-tagger can read; the message names the field. The handler raises
    it, so Lambda retries and then the function's failure queue keeps the event with this reason."""


class _Loose(BaseModel):
    """What CloudTrail adds later is ignored, never an error; nothing here is ever written back."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Items(_Loose, Generic[T]):
    """CloudTrail's list wrapper, ``{"items": [...]}``."""

    items: list[T] = Field(default_factory=list)


class SessionIssuer(_Loose):
    type: str | None = None  # Role, IAMUser, Root
    principalId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    userName: str | None = None  # the role's or the user's name (no path)


class SessionContext(_Loose):
    sessionIssuer: SessionIssuer | None = None


class UserIdentity(_Loose):
    type: str | None = None  # IAMUser, AssumedRole, FederatedUser, Root, AWSService, AWSAccount, ...
    principalId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    userName: str | None = None
    invokedBy: str | None = None  # the AWS service that made the call, e.g. autoscaling.amazonaws.com
    sessionContext: SessionContext | None = None

    @property
    def issuer(self) -> SessionIssuer | None:
        return self.sessionContext.sessionIssuer if self.sessionContext else None


class CloudTrailRecord(_Loose):
    eventVersion: str | None = None
    eventID: str = Field(min_length=1)
    eventTime: AwareDatetime
    eventSource: str = Field(min_length=1)  # ec2.amazonaws.com
    eventName: str = Field(min_length=1)  # RunInstances
    awsRegion: str = Field(min_length=1)
    recipientAccountId: str | None = None  # the account the call was made in (absent in a few service events)
    userIdentity: UserIdentity
    errorCode: str | None = None
    errorMessage: str | None = None
    requestParameters: dict[str, Any] | None = None
    responseElements: dict[str, Any] | None = None


class CloudTrailEvent(EventBridgeModel):
    """The EventBridge event: ``account``/``region`` are where the call was made, ``detail`` the CloudTrail record."""

    detail: CloudTrailRecord


# -- what the auto-tagger reads of each call -----------------------------------------------------------------------


class Tag(_Loose):
    """A tag as CloudTrail writes it in a request: ``{"key": ..., "value": ...}``."""

    key: str = Field(min_length=1)
    value: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return "" if value is None else value


class TagSpecification(_Loose):
    resourceType: str = Field(min_length=1)  # instance, volume, snapshot, image, network-interface, ...
    tags: list[Tag] = Field(default_factory=list)


class Ec2TaggedRequest(_Loose):
    """``requestParameters`` of an EC2 create call: the tags the creator asked for, per resource type."""

    tagSpecificationSet: Items[TagSpecification] | None = None

    def tags_for(self, resource_type: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for spec in self.tagSpecificationSet.items if self.tagSpecificationSet else ():
            if spec.resourceType == resource_type:
                found.update({t.key: t.value for t in spec.tags})
        return found


class RdsTaggedRequest(_Loose):
    """``requestParameters`` of an RDS create call: ``tags: [{key, value}]``."""

    tags: list[Tag] = Field(default_factory=list)

    def tags_for(self, resource_type: str) -> dict[str, str]:
        return {t.key: t.value for t in self.tags}


class InstanceItem(_Loose):
    instanceId: str = Field(min_length=1)


class RunInstancesResponse(_Loose):
    instancesSet: Items[InstanceItem]


class VolumeResponse(_Loose):
    volumeId: str = Field(min_length=1)


class SnapshotResponse(_Loose):
    snapshotId: str = Field(min_length=1)


class SnapshotItem(_Loose):
    snapshotId: str = Field(min_length=1)


class _SnapshotSet(_Loose):
    """The XML-shaped form: ``snapshotSet.item`` is one snapshot or a list of them."""

    item: list[SnapshotItem] = Field(default_factory=list)

    @field_validator("item", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value


class _WrappedSnapshots(_Loose):
    snapshotSet: _SnapshotSet


class SnapshotsResponse(_Loose):
    """CreateSnapshots: ``snapshotSet.items[]``, or ``CreateSnapshotsResponse.snapshotSet.item`` (unverified shapes)."""

    snapshotSet: Items[SnapshotItem] | None = None
    CreateSnapshotsResponse: _WrappedSnapshots | None = None

    @property
    def snapshot_ids(self) -> list[str]:
        if self.snapshotSet is not None:
            return [s.snapshotId for s in self.snapshotSet.items]
        if self.CreateSnapshotsResponse is not None:
            return [s.snapshotId for s in self.CreateSnapshotsResponse.snapshotSet.item]
        return []


class ImageResponse(_Loose):
    imageId: str = Field(min_length=1)


class DBInstanceResponse(_Loose):
    dBInstanceIdentifier: str = Field(min_length=1)
    dBInstanceArn: str | None = None


class DBClusterResponse(_Loose):
    dBClusterIdentifier: str = Field(min_length=1)
    dBClusterArn: str | None = None


# The calls whose new resources the auto-tagger tags, by event source, each with the model of its responseElements.
# The member accounts' forwarding rule matches exactly these names (stacks/constructs/cloudtrail_forwarding.py).
RESPONSES: dict[str, dict[str, type[_Loose]]] = {
    "ec2.amazonaws.com": {
        "RunInstances": RunInstancesResponse,
        "CreateVolume": VolumeResponse,
        "CreateSnapshot": SnapshotResponse,
        "CreateSnapshots": SnapshotsResponse,
        "CopySnapshot": SnapshotResponse,
        "CreateImage": ImageResponse,
        "CopyImage": ImageResponse,
    },
    "rds.amazonaws.com": {
        "CreateDBInstance": DBInstanceResponse,
        "CreateDBInstanceReadReplica": DBInstanceResponse,
        "RestoreDBInstanceFromDBSnapshot": DBInstanceResponse,
        "RestoreDBInstanceToPointInTime": DBInstanceResponse,
        "CreateDBCluster": DBClusterResponse,
        "RestoreDBClusterFromSnapshot": DBClusterResponse,
        "RestoreDBClusterToPointInTime": DBClusterResponse,
    },
}
REQUESTS: dict[str, type[Ec2TaggedRequest] | type[RdsTaggedRequest]] = {
    "ec2.amazonaws.com": Ec2TaggedRequest,
    "rds.amazonaws.com": RdsTaggedRequest,
}


class ApiCall(BaseModel):
    """One parsed event: the envelope, and (for a successful call the auto-tagger knows) its typed response and
    request. ``response`` is None for a failed call or one it does not tag."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    event: CloudTrailEvent
    response: _Loose | None = None
    request: Ec2TaggedRequest | RdsTaggedRequest | None = None

    @property
    def record(self) -> CloudTrailRecord:
        return self.event.detail

    @property
    def known(self) -> bool:
        return self.record.eventName in RESPONSES.get(self.record.eventSource, {})


def _field_errors(exc: ValidationError, prefix: tuple[str, ...]) -> str:
    return "; ".join(f"{key_path([*prefix, *error['loc']])}: {error['msg']}" for error in exc.errors())


def _as_eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    """A bare CloudTrail record (as the CloudTrail console's event history shows one) in the envelope EventBridge
    would have given it, so `make run` takes either."""
    if "detail" in event or "userIdentity" not in event or "eventName" not in event:
        return event
    source = str(event.get("eventSource", "")).removesuffix(".amazonaws.com")
    return {
        "version": "0",
        "id": str(event.get("eventID", "")),
        "detail-type": DETAIL_TYPE,
        "source": f"aws.{source}",
        "account": str(event.get("recipientAccountId") or (event.get("userIdentity") or {}).get("accountId") or ""),
        "time": event.get("eventTime"),
        "region": event.get("awsRegion"),
        "resources": [],
        "detail": event,
    }


def parse_cloudtrail_event(event: object) -> ApiCall:
    """The EventBridge event (or a bare CloudTrail record) as an :class:`ApiCall`; raises
    :class:`InvalidCloudTrailEvent` naming the first bad fields."""
    if not isinstance(event, dict):
        raise InvalidCloudTrailEvent(f"(event): expected a JSON object, got {type(event).__name__}")
    event = _as_eventbridge(event)
    if event.get("detail-type") != DETAIL_TYPE:
        raise InvalidCloudTrailEvent(
            f"detail-type: expected {DETAIL_TYPE!r} (a CloudTrail management event forwarded by EventBridge), got "
            f"{event.get('detail-type')!r}"
        )
    try:
        parsed = CloudTrailEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidCloudTrailEvent(_field_errors(exc, ())) from None
    record = parsed.detail
    response_model = RESPONSES.get(record.eventSource, {}).get(record.eventName)
    if response_model is None or record.errorCode or record.responseElements is None:
        return ApiCall(event=parsed)  # not ours, or a failed call: the rules say why it is ignored
    try:
        response = response_model.model_validate(record.responseElements)
    except ValidationError as exc:
        raise InvalidCloudTrailEvent(_field_errors(exc, ("detail", "responseElements"))) from None
    try:
        request = REQUESTS[record.eventSource].model_validate(record.requestParameters or {})
    except ValidationError as exc:
        raise InvalidCloudTrailEvent(_field_errors(exc, ("detail", "requestParameters"))) from None
    return ApiCall(event=parsed, response=response, request=request)
