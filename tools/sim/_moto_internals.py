"""The only code that reaches into moto's in-memory backends, for what the AWS API cannot express.

Everything else in ``tools.sim`` drives moto through boto3, the way the runtime drives AWS. These few things have no
API, so they are set on moto's objects directly. Written against moto 5.2.5; when moto changes, this file is the one
to fix (``tests/sim`` fails loudly if it drifts):

- the id of an account ``CreateAccount`` makes (AWS picks it; the estate file must be able to say it);
- the management account's name and email (moto calls it ``master`` / ``master@example.com``);
- a resource's age: launch, creation and start times are always "now" through the API;
- an AMI registered from a snapshot: moto ignores ``BlockDeviceMappings`` and invents a snapshot of its own;
- the simulated faults (:func:`simulated_faults`): StartInstances failing for the instances an estate gives a
  ``start_error``, and AssumeRole denied into the accounts the member role never reached. moto checks neither
  capacity nor whether a role exists or trusts the caller, so both are patched in for the length of the simulation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from unittest import mock

from moto.autoscaling.models import autoscaling_backends
from moto.core.exceptions import AccessDeniedError
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import InstanceBackend, StateReason
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


# -- simulated faults --------------------------------------------------------------------------------------------------


@dataclass
class SimulatedFaults:
    """What the patched moto refuses. Seeding fills it from the estate; a test may add to it while the mock runs."""

    start_errors: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (account, region, instance) -> code
    denied_roles: set[str] = field(default_factory=set)  # role ARNs sts:AssumeRole refuses

    def start_errors_in(self, account_id: str, region: str) -> dict[str, str]:
        """The start errors of one account and region, by instance id."""
        return {i: code for (a, r, i), code in self.start_errors.items() if (a, r) == (account_id, region)}


def is_state_reason(code: str) -> bool:
    """``Client.*`` and ``Server.*`` codes are reasons an instance changed state, not errors of the API call."""
    return code.startswith(("Client.", "Server."))


_MESSAGES = {
    "InsufficientInstanceCapacity": (
        "We currently do not have sufficient {type} capacity in the Availability Zone you requested ({zone}). "
        "Our system will be working on provisioning additional capacity."
    ),
    "Client.InvalidKMSKey.InvalidState": "The KMS key provided is in an incorrect state",
}


@contextmanager
def simulated_faults() -> Iterator[SimulatedFaults]:
    """While open, StartInstances and AssumeRole fail as ``faults`` says (inside ``mock_aws``, before seeding).

    - An instance with a start error that is an API error code (``InsufficientInstanceCapacity``): a StartInstances
      call that includes it fails with that code, and no instance of the call starts, as AWS does for capacity.
    - One with a state-change reason (``Client.InvalidKMSKey.InvalidState``): the call succeeds and reports it
      ``pending``, and it is back to ``stopped`` with that ``StateReason``, as on AWS. The others in the call start.
    - AssumeRole of a denied role ARN fails with 403 AccessDenied, naming the caller as AWS does.
    """
    faults = SimulatedFaults()
    with (
        mock.patch.object(
            InstanceBackend, "start_instances", _start_instances(faults, InstanceBackend.start_instances)
        ),
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


def _assume_role(faults: SimulatedFaults, original: Callable[..., Any]) -> Callable[..., Any]:
    """Patched where the request is handled, not in the STS backend, because only the request knows the caller."""

    def assume_role(response: Any) -> Any:
        role_arn = response._get_param("RoleArn")
        if role_arn in faults.denied_roles:
            _, caller, _ = response.backend.get_caller_identity(response.get_access_key(), response.region)
            raise AccessDeniedError(user_arn=caller, action=f"sts:AssumeRole on resource: {role_arn}")
        return original(response)

    return assume_role
