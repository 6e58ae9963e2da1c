"""EC2 in one account and region: instances, volumes, snapshots and images, seeded and read back.

Instances launch from the public base image in ``<region>a``; volumes are created there and attached at ``/dev/sdf``,
``/dev/sdg``, ...; a snapshot of a volume since deleted is taken of a temporary volume, and shared with
ModifySnapshotAttribute; an image is made with CreateImage from an instance or registered from a root snapshot, then
disabled (DisableImage), deprecated (``_moto_internals``: moto has no EnableImageDeprecation) or deregistered
(DeregisterImage, which leaves its snapshot behind) as the file says. Reading back leaves out what follows from
something else in the file: root volumes, the instances an Auto Scaling group launched, and the snapshot CreateImage
made for an image whose instance is still there. A deregistered image is gone, so it is not read back.

Images are read with ``IncludeDisabled`` and ``IncludeDeprecated``, which AWS needs to list disabled AMIs (deprecated
ones it lists to their owner anyway). moto 5.2.5 ignores both and always lists an account's disabled and deprecated
AMIs, so code that forgets ``IncludeDisabled`` passes here and misses them on AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import boto3

from tools.sim import _moto_internals
from tools.sim._common import Seeded, by_name, name_and_tags, pages, tag_list, tag_spec
from tools.sim.model import Image, Instance, RegionResources, Snapshot, Volume

_PROVISIONED = ("gp3", "io1", "io2")  # the types CreateVolume takes Iops for (and Throughput, for gp3)

BASE_IMAGE_ID = "ami-0abcdef1234567890"  # the public base image instances launch from; not owned by any account


def seed(member: boto3.Session, account_id: str, region: str, resources: RegionResources, seeded: Seeded) -> None:
    """Create the instances, volumes, snapshots and images, in that order: each may link to the ones before."""
    ec2 = member.client("ec2", region_name=region)
    zone = f"{region}a"

    for instance in resources.instances:
        created = ec2.run_instances(
            ImageId=BASE_IMAGE_ID,
            InstanceType=instance.instance_type,
            MinCount=1,
            MaxCount=1,
            Placement={"AvailabilityZone": zone},
            TagSpecifications=tag_spec("instance", instance.name, instance.tags),
            **({"HibernationOptions": {"Configured": True}} if instance.hibernation else {}),
        )["Instances"][0]
        seeded.add("instance", instance.name, created["InstanceId"], instance.launched_at)
    stopped = [seeded.ids[("instance", i.name)] for i in resources.instances if i.state == "stopped"]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)

    devices: dict[str, int] = {}
    for volume in resources.volumes:
        performance = {"Iops": volume.iops, "Throughput": volume.throughput}
        volume_id = ec2.create_volume(
            AvailabilityZone=zone,
            Size=volume.size_gb,
            VolumeType=volume.volume_type,
            TagSpecifications=tag_spec("volume", volume.name, volume.tags),
            **{k: v for k, v in performance.items() if v is not None},
        )["VolumeId"]
        seeded.add("volume", volume.name, volume_id, volume.created_at)
        if volume.attached_to is not None:
            index = devices[volume.attached_to] = devices.get(volume.attached_to, 0) + 1
            instance_id = seeded.ids[("instance", volume.attached_to)]
            ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=f"/dev/sd{chr(ord('e') + index)}")

    for snapshot in resources.snapshots:
        snapshot_id = _create_snapshot(ec2, zone, snapshot, seeded)
        if snapshot.shared_with:
            users = [s for s in snapshot.shared_with if s != "all"]
            ec2.modify_snapshot_attribute(
                SnapshotId=snapshot_id,
                Attribute="createVolumePermission",
                OperationType="add",
                **({"UserIds": users} if users else {}),
                **({"GroupNames": ["all"]} if "all" in snapshot.shared_with else {}),
            )
        seeded.add("snapshot", snapshot.name, snapshot_id, snapshot.created_at)

    for image in resources.images:
        image_id = _create_image(ec2, image, seeded)
        if image.snapshot is not None:
            snapshot_id = seeded.ids[("snapshot", image.snapshot)]
            _moto_internals.back_image_with_snapshot(account_id, region, image_id, snapshot_id)
        if image.deregistered:  # its snapshot stays, no longer in use
            ec2.deregister_image(ImageId=image_id)
            seeded.ids[("image", image.name)] = image_id
            continue
        if image.disabled:
            ec2.disable_image(ImageId=image_id)
        if image.deprecated_at is not None:
            _moto_internals.deprecate_image(account_id, region, image_id, image.deprecated_at)
        seeded.add("image", image.name, image_id, image.created_at)


def _create_snapshot(ec2: Any, zone: str, snapshot: Snapshot, seeded: Seeded) -> str:
    tags = tag_spec("snapshot", snapshot.name, snapshot.tags)
    if snapshot.volume is not None:
        return str(
            ec2.create_snapshot(
                VolumeId=seeded.ids[("volume", snapshot.volume)],
                Description=snapshot.description,
                TagSpecifications=tags,
            )["SnapshotId"]
        )
    # A snapshot whose volume is gone: snapshot a volume, then delete the volume.
    gone = ec2.create_volume(AvailabilityZone=zone, Size=snapshot.size_gb or 8, VolumeType="gp3")["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=gone, Description=snapshot.description, TagSpecifications=tags)
    ec2.delete_volume(VolumeId=gone)
    return str(snapshot_id["SnapshotId"])


def _create_image(ec2: Any, image: Image, seeded: Seeded) -> str:
    if image.instance is not None:
        return str(
            ec2.create_image(
                InstanceId=seeded.ids[("instance", image.instance)],
                Name=image.name,
                TagSpecifications=tag_spec("image", image.name, image.tags),
            )["ImageId"]
        )
    assert image.snapshot is not None  # the model allows exactly one of instance and snapshot
    root = {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": seeded.ids[("snapshot", image.snapshot)]}}
    image_id = str(
        ec2.register_image(
            Name=image.name,
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[root],
            VirtualizationType="hvm",
            Architecture="x86_64",
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=tag_list(image.name, image.tags))  # RegisterImage takes no tags here
    return image_id


# -- reading back ------------------------------------------------------------------------------------------------------


class Ec2Resources(NamedTuple):
    instances: tuple[Instance, ...]
    volumes: tuple[Volume, ...]
    snapshots: tuple[Snapshot, ...]
    images: tuple[Image, ...]


def dump(
    session: boto3.Session, region: str, start_errors: Mapping[str, str], delete_errors: Mapping[str, str]
) -> Ec2Resources:
    """The region's EC2 resources as the describe calls show them; ``start_errors`` (by instance id) and
    ``delete_errors`` (by volume or snapshot id) are estate data."""
    ec2 = session.client("ec2", region_name=region)
    described = [
        i
        for reservation in pages(ec2, "describe_instances", "Reservations")
        for i in reservation["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    in_groups = {
        i["InstanceId"] for i in described if any(t["Key"] == "aws:autoscaling:groupName" for t in i.get("Tags", []))
    }
    instances = [_dump_instance(i, start_errors) for i in described if i["InstanceId"] not in in_groups]
    instance_names = {i.id: i.name for i in instances}
    root_volumes = {
        mapping["Ebs"]["VolumeId"]
        for i in described
        for mapping in i.get("BlockDeviceMappings", [])
        if mapping["DeviceName"] == i.get("RootDeviceName") and "Ebs" in mapping
    }
    volumes = [
        _dump_volume(v, instance_names, delete_errors)
        for v in pages(ec2, "describe_volumes", "Volumes")
        if v["VolumeId"] not in root_volumes
    ]
    described_images = pages(
        ec2, "describe_images", "Images", Owners=["self"], IncludeDisabled=True, IncludeDeprecated=True
    )
    made_with_instance = {
        mapping["Ebs"]["SnapshotId"]
        for image in described_images
        if image.get("SourceInstanceId") in instance_names
        for mapping in image.get("BlockDeviceMappings", [])
        if "Ebs" in mapping
    }
    volume_names = {v.id: v.name for v in volumes}
    snapshots = [
        _dump_snapshot(s, volume_names, _shared_with(ec2, s["SnapshotId"]), delete_errors)
        for s in pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"])
        if s["SnapshotId"] not in made_with_instance
    ]
    snapshot_names = {s.id: s.name for s in snapshots}
    images = [_dump_image(i, instance_names, snapshot_names) for i in described_images]
    return Ec2Resources(
        instances=by_name(instances, lambda i: i.name),
        volumes=by_name(volumes, lambda v: v.name),
        snapshots=by_name(snapshots, lambda s: s.name),
        images=by_name(images, lambda i: i.name),
    )


def _dump_instance(described: dict[str, Any], start_errors: Mapping[str, str]) -> Instance:
    name, tags = name_and_tags(described.get("Tags"), described["InstanceId"])
    return Instance(
        id=described["InstanceId"],
        name=name,
        instance_type=described["InstanceType"],
        state="running" if described["State"]["Name"] in ("pending", "running") else "stopped",
        hibernation=described.get("HibernationOptions", {}).get("Configured", False),
        tags=tags,
        launched_at=described["LaunchTime"],
        start_error=start_errors.get(described["InstanceId"]),
    )


def _dump_volume(
    described: dict[str, Any], instance_names: Mapping[str | None, str], delete_errors: Mapping[str, str]
) -> Volume:
    name, tags = name_and_tags(described.get("Tags"), described["VolumeId"], keep=Volume.AWS_TAG_KEYS)
    attached = [a["InstanceId"] for a in described.get("Attachments", []) if a["InstanceId"] in instance_names]
    provisioned = described["VolumeType"] in _PROVISIONED  # AWS reports a gp2 volume's baseline IOPS too
    return Volume(
        id=described["VolumeId"],
        name=name,
        size_gb=described["Size"],
        volume_type=described["VolumeType"],
        iops=described.get("Iops") if provisioned else None,
        throughput=described.get("Throughput") if provisioned else None,
        attached_to=instance_names[attached[0]] if attached else None,
        tags=tags,
        created_at=described["CreateTime"],
        delete_error=delete_errors.get(described["VolumeId"]),
    )


def _shared_with(ec2: Any, snapshot_id: str) -> tuple[str, ...]:
    permissions = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    return tuple(p.get("UserId") or p["Group"] for p in permissions.get("CreateVolumePermissions", []))


def _dump_snapshot(
    described: dict[str, Any],
    volume_names: Mapping[str | None, str],
    shared_with: tuple[str, ...],
    delete_errors: Mapping[str, str],
) -> Snapshot:
    name, tags = name_and_tags(described.get("Tags"), described["SnapshotId"], keep=Snapshot.AWS_TAG_KEYS)
    volume = volume_names.get(described.get("VolumeId"))
    return Snapshot(
        id=described["SnapshotId"],
        name=name,
        volume=volume,
        size_gb=None if volume else described.get("VolumeSize"),
        description=described.get("Description", ""),
        shared_with=shared_with,
        tags=tags,
        created_at=described["StartTime"],
        delete_error=delete_errors.get(described["SnapshotId"]),
    )


def _dump_image(
    described: dict[str, Any], instance_names: Mapping[str | None, str], snapshot_names: Mapping[str | None, str]
) -> Image:
    name, tags = name_and_tags(described.get("Tags"), described.get("Name") or described["ImageId"])
    instance = instance_names.get(described.get("SourceInstanceId"))
    root = [m["Ebs"].get("SnapshotId") for m in described.get("BlockDeviceMappings", []) if "Ebs" in m]
    return Image(
        id=described["ImageId"],
        name=name,
        instance=instance,
        snapshot=None if instance else snapshot_names.get(root[0] if root else None),
        disabled=described.get("State") == "disabled",
        deprecated_at=described.get("DeprecationTime"),
        tags=tags,
        created_at=described["CreationDate"],
    )
