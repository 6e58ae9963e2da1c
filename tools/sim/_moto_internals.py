"""The only code that reaches into moto's in-memory backends, for what the AWS API cannot express.

Everything else in ``tools.sim`` drives moto through boto3, the way the runtime drives AWS. These few things have no
API, so they are set on moto's objects directly. Written against moto 5.2.5; when moto changes, this file is the one
to fix (``tests/sim`` fails loudly if it drifts):

- the id of an account ``CreateAccount`` makes (AWS picks it; the estate file must be able to say it);
- the management account's name and email (moto calls it ``master`` / ``master@example.com``);
- a resource's age: launch, creation and start times are always "now" through the API;
- an AMI registered from a snapshot: moto ignores ``BlockDeviceMappings`` and invents a snapshot of its own;
- an AMI's deprecation time: moto has no EnableImageDeprecation;
- the simulated faults (:func:`simulated_faults`): StartInstances failing for the instances an estate gives a
  ``start_error``, DeleteVolume and DeleteSnapshot failing for the volumes and snapshots it gives a ``delete_error``,
  and AssumeRole denied into the accounts the member role never reached. moto checks neither capacity nor whether a
  role exists or trusts the caller, so these are patched in for the length of the simulation;
- a service moto lacks (:func:`serve`, for the Recycle Bin): moto answers every request from botocore's
  ``before-send`` event (its ``botocore_stubber``, in botocore's built-in handlers), and returns 404 for an
  endpoint it does not know. :func:`serve` puts an answer for one endpoint in front of it, with the account of the
  request decided as moto decides it (:func:`account_of`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from unittest import mock
from urllib.parse import urlsplit

from moto.autoscaling.models import autoscaling_backends
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.exceptions import AccessDeniedError
from moto.core.responses import BaseResponse
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.instances import InstanceBackend, StateReason
from moto.iam.models import get_account_id_from
from moto.organizations.models import organizations_backends
from moto.rds.models import rds_backends
from moto.sts.responses import TokenResponse

Dated = Literal["instance", "volume", "snapshot", "image", "db_cluster", "db_instance", "auto_scaling_group"]


@contextmanager
def next_account_id(account_id: str) -> Iterator[None]:
    """While open, ``CreateAccount`` gives the new account ``account_id`` instead of a random one."""
    with mock.patch("moto.organizations.utils.make_random_account_id", return_value=account_id):
        yield


def name_management_account(management_id: str, *, name: str, email: str) -> None:
    backend = organizations_backends[management_id]["aws"]
    assert backend.org is not None, "create the organization first"
    account = backend.get_account_by_id(management_id)
    account.name, account.email = name, email
    backend.org.master_account_email = email


def _naive_utc(when: datetime) -> datetime:
    """moto keeps UTC times as naive datetimes (``moto.core.utils.utcnow``)."""
    return when.astimezone(UTC).replace(tzinfo=None)


def backdate(account_id: str, region: str, kind: Dated, resource_id: str, when: datetime) -> None:
    """Set when a resource was launched / created / started, as DescribeX will report it."""
    if kind == "db_instance":
        database = rds_backends[account_id][region].databases[resource_id]
        database.created = database.instance_create_time = _naive_utc(when)
        return
    if kind == "db_cluster":
        cluster = rds_backends[account_id][region].clusters[resource_id]
        cluster.created = cluster.cluster_create_time = _naive_utc(when)
        return
    if kind == "auto_scaling_group":
        group = autoscaling_backends[account_id][region].autoscaling_groups[resource_id]
        group.created_time = when.astimezone(UTC).isoformat()  # moto keeps this one as a string
        return
    ec2 = ec2_backends[account_id][region]
    if kind == "instance":
        ec2.get_instance(resource_id).launch_time = _naive_utc(when)
    elif kind == "volume":
        ec2.get_volume(resource_id).create_time = _naive_utc(when)
    elif kind == "snapshot":
        ec2.get_snapshot(resource_id).start_time = _naive_utc(when)
    else:
        ec2.amis[resource_id].creation_date = _naive_utc(when)


def back_image_with_snapshot(account_id: str, region: str, image_id: str, snapshot_id: str) -> None:
    """Make ``image_id``'s root device ``snapshot_id``, as RegisterImage does on AWS, and drop moto's stand-in.

    The snapshot is then "in use by" the image: DeleteSnapshot fails with InvalidSnapshot.InUse, as on AWS.
    """
    ec2 = ec2_backends[account_id][region]
    image = ec2.amis[image_id]
    stand_in = image.ebs_snapshot
    image.ebs_snapshot = ec2.get_snapshot(snapshot_id)
    image.ebs_snapshot.from_ami = image_id
    ec2.snapshots.pop(stand_in.id, None)


def deprecate_image(account_id: str, region: str, image_id: str, when: datetime) -> None:
    """Give ``image_id`` a DeprecationTime, as EnableImageDeprecation does (DescribeImages reports it)."""
    image = ec2_backends[account_id][region].amis[image_id]
    # moto's serializer reads DescribeImages' DeprecationTime from this attribute; Ami does not define it
    image.deprecation_time = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # type: ignore[attr-defined]


# -- simulated faults --------------------------------------------------------------------------------------------------


@dataclass
class SimulatedFaults:
    """What the patched moto refuses. Seeding fills it from the estate; a test may add to it while the mock runs."""

    start_errors: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (account, region, instance) -> code
    denied_roles: set[str] = field(default_factory=set)  # role ARNs sts:AssumeRole refuses
    # (account, region, volume or snapshot id) -> code
    delete_errors: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def start_errors_in(self, account_id: str, region: str) -> dict[str, str]:
        """The start errors of one account and region, by instance id."""
        return _in(self.start_errors, account_id, region)

    def delete_errors_in(self, account_id: str, region: str) -> dict[str, str]:
        """The delete errors of one account and region, by volume or snapshot id."""
        return _in(self.delete_errors, account_id, region)


def _in(errors: Mapping[tuple[str, str, str], str], account_id: str, region: str) -> dict[str, str]:
    return {i: code for (a, r, i), code in errors.items() if (a, r) == (account_id, region)}


def is_state_reason(code: str) -> bool:
    """``Client.*`` and ``Server.*`` codes are reasons an instance changed state, not errors of the API call."""
    return code.startswith(("Client.", "Server."))


_MESSAGES = {
    "InsufficientInstanceCapacity": (
        "We currently do not have sufficient {type} capacity in the Availability Zone you requested ({zone}). "
        "Our system will be working on provisioning additional capacity."
    ),
    "Client.InvalidKMSKey.InvalidState": "The KMS key provided is in an incorrect state",
    "UnauthorizedOperation": "You are not authorized to perform this operation.",
    "RequestLimitExceeded": "Request limit exceeded.",
}


@contextmanager
def simulated_faults() -> Iterator[SimulatedFaults]:
    """While open, StartInstances, DeleteVolume, DeleteSnapshot and AssumeRole fail as ``faults`` says (inside
    ``mock_aws``, before seeding).

    - An instance with a start error that is an API error code (``InsufficientInstanceCapacity``): a StartInstances
      call that includes it fails with that code, and no instance of the call starts, as AWS does for capacity.
    - One with a state-change reason (``Client.InvalidKMSKey.InvalidState``): the call succeeds and reports it
      ``pending``, and it is back to ``stopped`` with that ``StateReason``, as on AWS. The others in the call start.
    - A volume or snapshot with a delete error: DeleteVolume / DeleteSnapshot of it fails with that code (HTTP 400)
      and it stays. An unknown id still fails with moto's NotFound first. DryRun calls are answered before this.
    - AssumeRole of a denied role ARN fails with 403 AccessDenied, naming the caller as AWS does.
    """
    faults = SimulatedFaults()
    with (
        mock.patch.object(
            InstanceBackend, "start_instances", _start_instances(faults, InstanceBackend.start_instances)
        ),
        mock.patch.object(EBSBackend, "delete_volume", _deleting(faults, "volume", EBSBackend.delete_volume)),
        mock.patch.object(EBSBackend, "delete_snapshot", _deleting(faults, "snapshot", EBSBackend.delete_snapshot)),
        mock.patch.object(TokenResponse, "assume_role", _assume_role(faults, TokenResponse.assume_role)),
    ):
        yield faults


def _start_instances(faults: SimulatedFaults, original: Callable[..., Any]) -> Callable[..., Any]:
    def start_instances(backend: Any, instance_ids: list[str]) -> Any:
        backend.get_multi_instances_by_id(instance_ids)  # an unknown id fails the call first, as on AWS
        failing = faults.start_errors_in(backend.account_id, backend.region_name)
        failing = {i: failing[i] for i in instance_ids if i in failing}
        for instance_id, code in sorted(failing.items()):
            if not is_state_reason(code):
                raise EC2ClientError(code, _message(code, backend.get_instance(instance_id)))
        started = original(backend, instance_ids)
        for instance, _previous in started:
            if instance.id in failing:  # it went pending, and stopped again
                code = failing[instance.id]
                instance.stop()
                instance.state_reason = StateReason(f"{code}: {_message(code, instance)}", code)
        return started

    return start_instances


def _message(code: str, instance: Any) -> str:
    template = _MESSAGES.get(code, "Simulated fault {code}: the estate gives this instance start_error {code}")
    return template.format(code=code, type=instance.instance_type, zone=instance.placement.zone)


def _deleting(faults: SimulatedFaults, kind: Literal["volume", "snapshot"], original: Callable[..., Any]) -> Any:
    def delete(backend: Any, resource_id: str) -> Any:
        (backend.get_volume if kind == "volume" else backend.get_snapshot)(resource_id)  # NotFound first, as on AWS
        code = faults.delete_errors_in(backend.account_id, backend.region_name).get(resource_id)
        if code is not None:
            default = f"Simulated fault {code}: the estate gives {kind} {resource_id} delete_error {code}"
            raise EC2ClientError(code, _MESSAGES.get(code, default))
        return original(backend, resource_id)

    return delete


def _assume_role(faults: SimulatedFaults, original: Callable[..., Any]) -> Callable[..., Any]:
    """Patched where the request is handled, not in the STS backend, because only the request knows the caller."""

    def assume_role(response: Any) -> Any:
        role_arn = response._get_param("RoleArn")
        if role_arn in faults.denied_roles:
            _, caller, _ = response.backend.get_caller_identity(response.get_access_key(), response.region)
            raise AccessDeniedError(user_arn=caller, action=f"sts:AssumeRole on resource: {role_arn}")
        return original(response)

    return assume_role


# -- services moto lacks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A request to a served endpoint, with the account and region it is for."""

    method: str
    path: str  # as sent: percent-encoded, without the query
    body: bytes
    account_id: str
    region: str


Answer = tuple[int, dict[str, str], str]  # status, headers, body


def account_of(headers: Mapping[str, str | bytes]) -> str:
    """The account a request acts in, decided as moto's ``BaseResponse.get_current_account`` decides it:
    ``MOTO_ACCOUNT_ID``, else the ``x-moto-account-id`` header, else the account whose IAM (or STS, for an assumed
    role) holds the signing access key, else moto's default account."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if account := _header(headers, "x-moto-account-id"):
        return account
    match = BaseResponse.access_key_regex.search(_header(headers, "Authorization"))
    return get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")


def _header(headers: Mapping[str, str | bytes], name: str) -> str:
    value = headers.get(name) or ""  # botocore's signed headers may be bytes
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def serve(host: re.Pattern[str], answer: Callable[[Incoming], Answer]) -> Iterator[None]:
    """While open (and moto is mocking), requests to a host ``host`` matches are answered by ``answer``; the pattern's
    ``region`` group names the region. moto's own answer is the ``before-send`` handler every botocore session gets,
    so this is in front of it for every client, made before or after, and for nothing else."""
    original = BotocoreStubber.process_request

    def process_request(stubber: BotocoreStubber, request: Any) -> Any:
        url = urlsplit(request.url)
        matched = host.fullmatch(url.hostname or "")
        if matched is None:
            return original(stubber, request)
        body = request.body or b""
        incoming = Incoming(
            method=request.method,
            path=url.path,
            body=body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else body.read(),
            account_id=account_of(request.headers),
            region=matched.group("region"),
        )
        return answer(incoming)

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield


def queue_cost_and_usage(account_id: str, result: dict[str, Any]) -> None:
    """The next new GetCostAndUsage request to ``account_id``'s Cost Explorer answers ``result`` (moto tracks no
    costs; this is its documented way to give some, ``moto_api`` ``set_ce_cost_usage``)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_ce_cost_usage(result, account_id)
