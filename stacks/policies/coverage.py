"""Which resource creations the SCPs can require tags on, and which they cannot (and why).

An SCP denies a creation without a tag with ``Null {"aws:RequestTag/<key>": "true"}``. IAM evaluates a request once
per resource it authorizes, and a resource type of an action has the request's tags in its context only where the
Service Authorization Reference lists ``aws:RequestTag/${TagKey}`` for that action, on that resource type or on the
action itself. Where it does not (the source volume of ``ec2:CreateSnapshot``, the AMI's snapshots that
``ec2:RunInstances`` reads), the key is absent and a Deny on it would refuse every such call, tags or not. So each
family below names only actions and resources whose every pairing has the key;
``tests/stacks/policies/test_grammar.py`` checks that against the Reference's data (parliament's
``iam_definition.json``), and that every action is one AWS knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.policies.principals import PARTITION

__all__ = ["CREATION_FAMILIES", "NOT_COVERED", "TAG_REMOVAL_ACTIONS", "CreationFamily", "NotCovered"]


@dataclass(frozen=True)
class CreationFamily:
    """Actions that create resources of ``resources``, denied (one statement per required key) without the tag."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    what: str


def _ec2(resource: str) -> str:
    # Snapshots have no account in their ARN (arn:aws:ec2:<region>::snapshot/<id>).
    account = "" if resource.startswith("snapshot/") else "*"
    return f"arn:{PARTITION}:ec2:*:{account}:{resource}"


def _rds(resource: str) -> str:
    return f"arn:{PARTITION}:rds:*:*:{resource}"


CREATION_FAMILIES: tuple[CreationFamily, ...] = (
    CreationFamily(
        sid="Create",
        actions=(
            "ec2:CreateVolume",
            "ec2:RunInstances",
            "rds:CreateDBCluster",
            "rds:CreateDBInstance",
            "rds:CreateDBInstanceReadReplica",
            "rds:RestoreDBClusterFromS3",
            "rds:RestoreDBClusterFromSnapshot",
            "rds:RestoreDBClusterToPointInTime",
            "rds:RestoreDBInstanceFromDBSnapshot",
            "rds:RestoreDBInstanceFromS3",
            "rds:RestoreDBInstanceToPointInTime",
        ),
        resources=(_ec2("instance/*"), _ec2("volume/*"), _rds("cluster:*"), _rds("db:*")),
        what=(
            "launching EC2 instances (ec2:RunInstances, on the instance and on each EBS volume it creates: tag both "
            "in TagSpecifications, ResourceType instance and volume), creating EBS volumes (ec2:CreateVolume), and "
            "creating RDS DB instances and clusters, read replicas and restores included (rds:CreateDBInstance, "
            "CreateDBCluster, CreateDBInstanceReadReplica, RestoreDBInstance*/RestoreDBCluster*)"
        ),
    ),
    CreationFamily(
        sid="Snapshot",
        actions=("ec2:CopySnapshot", "ec2:CreateSnapshot", "ec2:CreateSnapshots"),
        resources=(_ec2("snapshot/*"),),
        what=(
            "creating or copying EBS snapshots (ec2:CreateSnapshot, CreateSnapshots, CopySnapshot; the statement "
            "names only the new snapshot, since the source volume or instance carries no request tags)"
        ),
    ),
)

# Removing one of the required tags; the tag's value stays the Tag Policy's concern, so an owner can still fix it.
TAG_REMOVAL_ACTIONS: tuple[str, ...] = ("ec2:DeleteTags", "rds:RemoveTagsFromResource")


@dataclass(frozen=True)
class NotCovered:
    what: str
    why: str


NOT_COVERED: tuple[NotCovered, ...] = (
    NotCovered(
        "the management account",
        "SCPs never apply to the management account, whatever they are attached to: its resources are covered by "
        "the Tag Policy's reports and the tag_compliance capability only",
    ),
    NotCovered(
        "service-linked roles (e.g. EC2 Auto Scaling launching instances, EC2 Fleet, Spot Fleet)",
        "SCPs never apply to them: instances an Auto Scaling group launches carry the group's propagated tags, which "
        "tag_compliance checks",
    ),
    NotCovered(
        "the tag values, their case and patterns (e.g. cost-center ^CC-[0-9]{4}$)",
        "the SCPs require the keys only; allowed values and key casing are the Tag Policy's (reported, or refused "
        "for the policies.enforced_for types), and case and pattern rules have no Tag Policy form at all: the "
        "tag_compliance capability checks them",
    ),
    NotCovered(
        "S3 buckets (s3:CreateBucket)",
        "the Service Authorization Reference lists no aws:RequestTag for s3:CreateBucket: the creation request's "
        "tags cannot be required",
    ),
    NotCovered(
        "EBS volumes imported with ec2:ImportVolume",
        "its volume resource has no aws:RequestTag in the Service Authorization Reference",
    ),
    NotCovered(
        "EKS clusters (eks:CreateCluster)",
        'the action authorizes no resource type, so a statement would need Resource "*", which the instance and '
        "snapshot statements cannot share (their other resources lack the request's tags): it would cost a statement "
        "per required key",
    ),
    NotCovered(
        "ElastiCache clusters and replication groups",
        "each action has aws:RequestTag only on its own resource type and not on the other's, so they need statements "
        "of their own per required key; not in the capabilities' inventory either",
    ),
    NotCovered(
        "load balancers, NAT gateways, Elastic IPs, DynamoDB tables, Lambda functions, Redshift, OpenSearch and the "
        "rest of AWS",
        "the keys exist for many of them, but tag_compliance does not report on them yet, so a denied owner would get "
        "no digest telling the fix; add them to stacks/policies/coverage.py with the inventory",
    ),
    NotCovered(
        "resources created before the SCPs were attached, and tags changed in value",
        "SCPs act on requests only; tag_compliance and tag_enforcement find and remediate existing resources",
    ),
)
