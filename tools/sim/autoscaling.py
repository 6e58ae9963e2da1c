"""Auto Scaling groups in one account and region, seeded and read back.

Each group gets a launch template ``<name>-template`` (the base image and the group's instance type) and is created
in ``<region>a`` with its tags propagating at launch; moto then launches ``desired_capacity`` instances, which are
dated when the group was created. Tag values are kept as given, e.g. the sizes the scheduler remembers in
``finops:scheduler-sizes: min=1,desired=2,max=4``.
"""

from __future__ import annotations

from typing import Any

import boto3

from tools.sim._common import Seeded, by_name, pages, tags_of
from tools.sim.ec2 import BASE_IMAGE_ID
from tools.sim.model import AutoScalingGroup, RegionResources


def seed(member: boto3.Session, region: str, resources: RegionResources, seeded: Seeded) -> None:
    if not resources.auto_scaling_groups:
        return
    ec2 = member.client("ec2", region_name=region)
    autoscaling = member.client("autoscaling", region_name=region)
    for group in resources.auto_scaling_groups:
        template = ec2.create_launch_template(
            LaunchTemplateName=f"{group.name}-template",
            LaunchTemplateData={"ImageId": BASE_IMAGE_ID, "InstanceType": group.instance_type},
        )["LaunchTemplate"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group.name,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
            MinSize=group.min_size,
            MaxSize=group.max_size,
            DesiredCapacity=group.desired_capacity,
            AvailabilityZones=[f"{region}a"],
            Tags=[
                {
                    "ResourceId": group.name,
                    "ResourceType": "auto-scaling-group",
                    "Key": key,
                    "Value": value,
                    "PropagateAtLaunch": True,
                }
                for key, value in group.tags.items()
            ],
        )
        seeded.add("auto_scaling_group", group.name, group.name, group.created_at)
        [launched] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group.name])["AutoScalingGroups"]
        seeded.dates += [("instance", i["InstanceId"], group.created_at) for i in launched["Instances"]]


# -- reading back ------------------------------------------------------------------------------------------------------


def dump(session: boto3.Session, region: str) -> tuple[AutoScalingGroup, ...]:
    ec2 = session.client("ec2", region_name=region)
    autoscaling = session.client("autoscaling", region_name=region)
    groups = pages(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups")
    return by_name([_dump_group(ec2, g) for g in groups], lambda g: g.name)


def _dump_group(ec2: Any, described: dict[str, Any]) -> AutoScalingGroup:
    instance_type = "t3.micro"
    template = described.get("LaunchTemplate")
    if template:
        versions = ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=[template.get("Version", "$Latest")]
        )["LaunchTemplateVersions"]
        instance_type = versions[0]["LaunchTemplateData"].get("InstanceType", instance_type)
    return AutoScalingGroup(
        id=described.get("AutoScalingGroupARN"),
        name=described["AutoScalingGroupName"],
        min_size=described["MinSize"],
        max_size=described["MaxSize"],
        desired_capacity=described["DesiredCapacity"],
        instance_type=instance_type,
        tags=tags_of(described.get("Tags")),
        created_at=described["CreatedTime"],
    )
