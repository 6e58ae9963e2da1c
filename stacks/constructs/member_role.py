"""The role the hub's capability workers assume in each member account, and exactly what it may do there."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnParameter, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from finops.handlers import CAPABILITY_WORKERS, EVENT_WORKERS, HANDLERS
from finops.models.config import NOT_PROTECTED, FinOpsConfig
from finops.rules.cleanup_tags import AFTER_TAG, MARK_TAGS
from finops.services.cleanup import DELETING_PERMISSIONS
from finops.services.tag_compliance import MARK_TAGS as TAG_ENFORCEMENT_MARKS
from stacks.nag import acknowledge_checkov
from stacks.naming import resource_name

# The inventory every capability starts from, named one by one. No wildcards: ec2:Describe* would include
# DescribeInstanceAttribute and DescribeLaunchTemplateVersions, which return user data, where secrets often live.
# Each capability adds the exact actions its code declares (MEMBER_PERMISSIONS, next to that code).
READ_ONLY_ACTIONS: tuple[str, ...] = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeSnapshots",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "rds:DescribeDBInstances",
    "rds:ListTagsForResource",
    "tag:GetResources",
)
READ_PREFIXES = ("Describe", "List", "Get")
# Starting an instance whose EBS volumes use a customer managed key makes EC2 create a grant on the caller's behalf.
# Granted only for grants an AWS service creates for its own resources (kms:GrantIsForAWSResource), never directly.
KMS_CREATE_GRANT = "kms:CreateGrant"
ORGANIZATION_ID_PATTERN = r"^o-[a-z0-9]{10,32}$"
EC2_TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
RDS_TAG_ACTIONS = ("rds:AddTagsToResource", "rds:RemoveTagsFromResource")
# Marks a capability removes again without deleting anything: tag enforcement's deadline (finops:tag-deadline), on
# EC2 resources (ec2:DeleteTags, beside the clean-up's marks) and RDS ones (rds:RemoveTagsFromResource, only these).
REMOVABLE_MARKS: tuple[str, ...] = TAG_ENFORCEMENT_MARKS


@dataclass(frozen=True)
class MarkedDeletions:
    """Deletions a capability may make only of resources it marked first, and the marks it may remove again.

    ``actions`` are allowed only on resources carrying ``mark_tag`` (any value: the planner reads the date), and never
    on resources carrying the protect tag. ``mark_tags`` are the only tags ``ec2:DeleteTags`` may remove.
    """

    actions: tuple[str, ...]
    mark_tag: str
    mark_tags: tuple[str, ...]


# The storage clean-up's (finops.services.cleanup.DELETING_PERMISSIONS; its marks in finops.rules.cleanup_tags).
CLEANUP_DELETIONS = MarkedDeletions(actions=DELETING_PERMISSIONS, mark_tag=AFTER_TAG, mark_tags=MARK_TAGS)


def member_permissions() -> tuple[str, ...]:
    """The union of every capability worker's ``MEMBER_PERMISSIONS`` (imported: the contract is the code's own), sorted.

    Refuses a declaration that is not a tuple of ``service:Action`` strings, or that holds a wildcard.
    """
    declared: set[str] = set()
    for worker in (*CAPABILITY_WORKERS.values(), *EVENT_WORKERS.values()):
        declared.update(declared_permissions(worker))
    return tuple(sorted(declared))


def declared_permissions(function: str) -> tuple[str, ...]:
    """The ``MEMBER_PERMISSIONS`` of the hub function ``function`` (a key of ``HANDLERS``), checked as above."""
    module_name = HANDLERS[function]
    permissions = getattr(importlib.import_module(module_name), "MEMBER_PERMISSIONS", None)
    if not isinstance(permissions, tuple) or not all(isinstance(p, str) and p.count(":") == 1 for p in permissions):
        raise TypeError(f"{module_name}.MEMBER_PERMISSIONS must be a tuple of IAM actions like 'service:Action'")
    wildcards = sorted(p for p in permissions if "*" in p)
    if wildcards:
        raise ValueError(f"{module_name}.MEMBER_PERMISSIONS: name each action, no wildcards: {wildcards}")
    return permissions


def is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_PREFIXES)


def is_deletion(action: str) -> bool:
    """Deletes a resource (``ec2:DeleteVolume``), as opposed to removing tags from one (``ec2:DeleteTags``)."""
    verb = action.split(":", 1)[1]
    return verb.startswith("Delete") and not verb.endswith("Tags")


def worker_role_names() -> tuple[str, ...]:
    """The hub roles that may assume the member role: one per capability worker (``finops-<worker>``)."""
    return tuple(sorted(resource_name(worker) for worker in CAPABILITY_WORKERS.values()))


def organization_id_parameter(
    stack: Stack, config: FinOpsConfig, *, guards: str = "may assume the role"
) -> CfnParameter:
    """The stack parameter ``OrganizationId`` the trust policy requires; defaults to the config's when it is set.

    Without ``organization.organization_id`` in the config there is no default, and whoever deploys (the StackSet
    operator) passes it. ``guards`` ends its description: what only this Organization's principals may do.
    """
    return CfnParameter(
        stack,
        "OrganizationId",
        type="String",
        description=f"The AWS Organization's id (o-...): only principals of this Organization {guards}",
        allowed_pattern=ORGANIZATION_ID_PATTERN,
        constraint_description="an Organization id, like o-a1b2c3d4e5",
        default=config.organization.organization_id,  # None: no default
    )


class MemberRole(Construct):
    """IAM role ``role_name``, assumable only by the roles ``hub_role_names`` of ``hub_account_id`` when they belong
    to the Organization ``organization_id``.

    Trust: the hub account as principal, with ``ArnEquals aws:PrincipalArn`` the exact ARNs of those roles (a role
    ARN as principal would break when the role does not exist yet or is recreated) and ``StringEquals
    aws:PrincipalOrgID``. Permissions: :data:`READ_ONLY_ACTIONS` and the workers' declared reads (``Inventory``); the
    declared changes (``Actions``), with :data:`KMS_CREATE_GRANT` in its own statement under
    ``kms:GrantIsForAWSResource``, the ``deletions`` only of marked resources and ``ec2:DeleteTags`` only of the marks;
    and two Denies: no deletion of a resource carrying the protect tag ``protect_tag_key`` (with any value but an
    explicit no), and no writing or removing that tag on an existing resource, so the role cannot lift its own Deny. A
    declared deletion that ``deletions`` does not name stops the synth. The event-driven functions of ``EVENT_WORKERS``
    (the auto-tagger) are trusted by a statement of their own, only with sessions named ``finops-<capability>-*``, and
    a Deny leaves those sessions nothing but their own ``MEMBER_PERMISSIONS``. Exposes ``role``, ``read_actions``,
    ``write_actions`` (the unconditioned ones) and ``deletion_actions``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        hub_account_id: str,
        hub_role_names: Sequence[str],
        organization_id: str,
        protect_tag_key: str,
        deletions: MarkedDeletions,
    ) -> None:
        super().__init__(scope, construct_id)
        if not hub_role_names:
            raise ValueError("the member role needs at least one hub role to trust")
        partition = Stack.of(self).partition
        hub_roles = [f"arn:{partition}:iam::{hub_account_id}:role/{name}" for name in hub_role_names]
        declared = member_permissions()
        unguarded = sorted(a for a in declared if is_deletion(a) and a not in deletions.actions)
        if unguarded:
            raise ValueError(
                f"{unguarded} delete resources: declare them with the capability's deletions (DELETING_PERMISSIONS), "
                "which the member role allows only on marked, unprotected resources"
            )
        self.deletion_actions = tuple(a for a in deletions.actions if a in declared)
        guarded = {*self.deletion_actions, KMS_CREATE_GRANT, "ec2:DeleteTags", "rds:RemoveTagsFromResource"}
        self.read_actions = tuple(sorted({*READ_ONLY_ACTIONS, *(a for a in declared if is_read(a))}))
        self.write_actions = tuple(a for a in declared if not is_read(a) and a not in guarded)

        action_statements = []
        if self.write_actions:
            action_statements.append(
                iam.PolicyStatement(sid="CapabilityActions", actions=list(self.write_actions), resources=["*"])
            )
        if KMS_CREATE_GRANT in declared:
            action_statements.append(
                iam.PolicyStatement(
                    sid="KmsGrantsForAwsResources",
                    actions=[KMS_CREATE_GRANT],
                    resources=["*"],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                )
            )
        if self.deletion_actions:
            action_statements.extend(_deletion_statements(self.deletion_actions, deletions, protect_tag_key))
        if "ec2:DeleteTags" in declared:
            action_statements.append(
                iam.PolicyStatement(
                    sid="RemoveOnlyTheMarks",
                    actions=["ec2:DeleteTags"],
                    resources=["*"],
                    conditions={
                        "ForAllValues:StringEquals": {
                            "aws:TagKeys": list(dict.fromkeys([*deletions.mark_tags, *REMOVABLE_MARKS]))
                        },
                        # DeleteTags without Tags removes every tag, and sends no aws:TagKeys; ForAllValues over no
                        # values is true, so without this a call removing the protect tag (and all others) passes.
                        "Null": {"aws:TagKeys": "false"},
                    },
                )
            )
        if "rds:RemoveTagsFromResource" in declared:
            action_statements.append(
                iam.PolicyStatement(
                    sid="RemoveOnlyTheMarksRds",
                    actions=["rds:RemoveTagsFromResource"],
                    resources=["*"],
                    conditions={
                        "ForAllValues:StringEquals": {"aws:TagKeys": list(REMOVABLE_MARKS)},
                        "Null": {"aws:TagKeys": "false"},
                    },
                )
            )
        if set(EC2_TAG_ACTIONS) & set(declared):
            action_statements.append(_never_retag_protect_statement(protect_tag_key))
        if set(RDS_TAG_ACTIONS) & set(declared):
            action_statements.append(
                iam.PolicyStatement(
                    sid="NeverChangeTheProtectTagRds",
                    effect=iam.Effect.DENY,
                    actions=sorted(set(RDS_TAG_ACTIONS) & set(declared)),
                    resources=["*"],
                    conditions={"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": [protect_tag_key]}},
                )
            )
        action_statements += [_event_worker_deny(capability, fn) for capability, fn in EVENT_WORKERS.items()]
        policies = {
            "Inventory": iam.PolicyDocument(
                statements=[iam.PolicyStatement(sid="Inventory", actions=list(self.read_actions), resources=["*"])]
            )
        }
        if action_statements:
            policies["Actions"] = iam.PolicyDocument(statements=action_statements)

        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="Assumed by the FinOps hub's capability workers: the inventory and the declared actions",
            assumed_by=iam.AccountPrincipal(hub_account_id).with_conditions(
                {
                    "ArnEquals": {"aws:PrincipalArn": hub_roles},
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                }
            ),
            inline_policies=policies,
        )
        for capability, function in EVENT_WORKERS.items():
            _event_worker_trust(self.role, capability, function, hub_account_id, organization_id)
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Named actions only, in every region of the account: the EC2 and Auto Scaling describes and "
                    "tag:GetResources support no resource-level permissions, and the instances, groups, databases, "
                    "volumes and snapshots a capability reads and acts on are found at run time in accounts the "
                    "StackSet template cannot know; deletions only of resources carrying the clean-up's mark and "
                    "never of protected ones; kms:CreateGrant only for grants an AWS service makes for its own "
                    "resources."
                ),
            )
        )
        acknowledge_checkov(
            self.role,
            "CKV_AWS_111",
            "The capabilities' declared write actions (start/stop, snapshot, resize, tag, scale) act on instances, "
            "groups, databases and volumes found at run time in accounts this StackSet template cannot know, so they "
            "name no resource; only the hub's worker roles from this Organization may assume the role, deletions are "
            "allowed only on marked, unprotected resources, and the protect tag can never be changed.",
        )


def _event_worker_sessions(capability: str) -> str:
    """The sessions an event worker assumes the member role with: ``finops-<capability>-*`` (``run_target`` names
    them so)."""
    return f"finops-{capability}-*"


def _event_worker_deny(capability: str, function: str) -> iam.PolicyStatement:
    """Deny the event-driven hub function ``function``'s sessions everything but its own ``MEMBER_PERMISSIONS``: a
    function fed by events from every account never gets the scheduler's stops or the clean-up's deletions that the
    role holds for the workers."""
    return iam.PolicyStatement(
        sid="".join(part.title() for part in capability.split("_")) + "SessionsOnlyTheirOwnActions",
        effect=iam.Effect.DENY,
        not_actions=sorted(declared_permissions(function)),
        resources=["*"],
        conditions={"StringLike": {"aws:userid": f"*:{_event_worker_sessions(capability)}"}},
    )


def _event_worker_trust(
    role: iam.Role, capability: str, function: str, hub_account_id: str, organization_id: str
) -> None:
    """Let ``function`` of the hub assume ``role`` only with its own session names (the workers' statement does not
    list it), so :func:`_event_worker_deny` always applies to it."""
    hub_role = f"arn:{Stack.of(role).partition}:iam::{hub_account_id}:role/{resource_name(function)}"
    if role.assume_role_policy is None:
        raise ValueError(f"{role.node.path} has no trust policy to admit {hub_role} to")
    role.assume_role_policy.add_statements(
        iam.PolicyStatement(
            actions=["sts:AssumeRole"],
            principals=[iam.AccountPrincipal(hub_account_id)],
            conditions={
                "ArnEquals": {"aws:PrincipalArn": hub_role},
                "StringEquals": {"aws:PrincipalOrgID": organization_id},
                "StringLike": {"sts:RoleSessionName": _event_worker_sessions(capability)},
            },
        )
    )


def _deletion_statements(
    actions: Sequence[str], deletions: MarkedDeletions, protect_tag_key: str
) -> list[iam.PolicyStatement]:
    """Allow ``actions`` on marked resources; Deny them on resources carrying the protect tag."""
    protect = f"ec2:ResourceTag/{protect_tag_key}"
    return [
        iam.PolicyStatement(
            sid="DeleteOnlyMarkedResources",
            actions=list(actions),
            resources=["*"],
            conditions={"Null": {f"aws:ResourceTag/{deletions.mark_tag}": "false"}},
        ),
        iam.PolicyStatement(
            sid="NeverDeleteProtectedResources",
            effect=iam.Effect.DENY,
            actions=list(actions),
            resources=["*"],
            conditions={
                # The protect tag with any value but an explicit no (finops.models.config.NOT_PROTECTED, the empty
                # value included), ignoring case as the planner does; the planner also trims spaces and IAM does not,
                # so " no " protects here (the safe side: the deletion fails and the run says so).
                "StringNotEqualsIgnoreCase": {protect: sorted(NOT_PROTECTED)},
                # A negated operator also matches when the key is absent: without this, every resource without the
                # protect tag (every one the clean-up may delete) would be denied.
                "Null": {protect: "false"},
            },
        ),
    ]


def _never_retag_protect_statement(protect_tag_key: str) -> iam.PolicyStatement:
    """Deny writing or removing the protect tag on an existing resource: the role cannot lift its own Deny.

    Tags given at creation (``ec2:CreateAction`` set: a final snapshot copying its volume's tags) stay allowed.
    """
    return iam.PolicyStatement(
        sid="NeverChangeTheProtectTag",
        effect=iam.Effect.DENY,
        actions=list(EC2_TAG_ACTIONS),
        resources=["*"],
        conditions={
            "ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": [protect_tag_key]},
            "Null": {"ec2:CreateAction": "true"},
        },
    )
