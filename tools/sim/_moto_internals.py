"""The only code that reaches into moto's in-memory backends, for what the AWS API cannot express.

Everything else in ``tools.sim`` drives moto through boto3, the way the runtime drives AWS. These few things have no
API, so they are set on moto's objects directly. Written against moto 5.2.5; when moto changes, this file is the one
to fix (``tests/sim`` fails loudly if it drifts):

- the id of an account ``CreateAccount`` makes (AWS picks it; the estate file must be able to say it);
- the management account's name and email (moto calls it ``master`` / ``master@example.com``);
- a resource's age: launch, creation and start times are always "now" through the API;
- an AMI registered from a snapshot: moto ignores ``BlockDeviceMappings`` and invents a snapshot of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal
from unittest import mock

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.organizations.models import organizations_backends
from moto.rds.models import rds_backends

Dated = Literal["instance", "volume", "snapshot", "image", "db_instance", "auto_scaling_group"]


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
