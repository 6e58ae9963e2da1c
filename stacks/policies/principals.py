"""Who the SCPs spare, and why: every denying statement exempts these principals with ``ArnNotLike
aws:PrincipalArn`` (an SCP spares only service-linked roles by itself).

``aws:PrincipalArn`` is the role's ARN (``arn:aws:iam::<account>:role/<path><name>``) for a session of an assumed
role, so a pattern names a role, never a session. The documents name the ``aws`` partition: they are plain files
reviewed as they are, and the management stack deploys them there.
"""

from __future__ import annotations

from dataclasses import dataclass

from finops.models.config import FinOpsConfig
from stacks.naming import NAME_PREFIX

__all__ = ["PARTITION", "Exempt", "Exemptions", "exemptions"]

PARTITION = "aws"
# The roles that deploy the automation's own resources: service-managed StackSets run as stacksets-exec-<hash> in
# each member account (FinOpsMember, FinOpsMemberRegional), self-managed ones as AWSCloudFormationStackSetExecutionRole
# (docs/deploy.md), and `cdk deploy` of the hub as the CDK's CloudFormation execution role in the automation account.
STACKSETS_EXECUTION = f"arn:{PARTITION}:iam::*:role/stacksets-exec-*"
SELF_MANAGED_STACKSETS_EXECUTION = f"arn:{PARTITION}:iam::*:role/AWSCloudFormationStackSetExecutionRole"


@dataclass(frozen=True)
class Exempt:
    """One principal pattern, whose roles it names in a few words (``short``) and in full (``who``)."""

    pattern: str
    who: str
    short: str = ""

    @property
    def label(self) -> str:
        return self.short or self.who


@dataclass(frozen=True)
class Exemptions:
    """``creation``: spared by the statements about tags (creating untagged resources, removing required tags).
    ``protection``: spared by the statements protecting the automation's own resources; they add the roles that
    deploy the automation and ``policies.admin_roles``."""

    creation: tuple[Exempt, ...]
    protection: tuple[Exempt, ...]

    @staticmethod
    def patterns(exempts: tuple[Exempt, ...]) -> list[str]:
        return sorted({e.pattern for e in exempts})

    @staticmethod
    def words(exempts: tuple[Exempt, ...]) -> str:
        return ", ".join(f"{e.label} (`{e.pattern}`)" for e in exempts)


def automation_roles(config: FinOpsConfig) -> tuple[Exempt, ...]:
    """The member role in every account and the hub's ``finops-*`` roles in the automation account."""
    organization = config.organization
    return (
        Exempt(
            f"arn:{PARTITION}:iam::*:role/{organization.member_role_name}",
            "the member role the hub's workers assume in every account, which tags, snapshots, stops and deletes "
            "what the capabilities decide (the clean-up's final snapshot of an untagged volume among them)",
            "the member role",
        ),
        Exempt(
            f"arn:{PARTITION}:iam::{organization.automation_account_id}:role/{NAME_PREFIX}*",
            "the hub's own roles (finops-*) in the automation account",
            "the hub's roles",
        ),
    )


def data_protection_roles() -> tuple[Exempt, ...]:
    """AWS Backup's and Data Lifecycle Manager's default roles: ordinary service roles, not service-linked, so SCPs
    apply to them, and their snapshots and restores copy what they protect (an old resource may lack a required tag).
    Custom Backup or DLM roles go in ``policies.exempt_roles``."""
    return (
        Exempt(
            f"arn:{PARTITION}:iam::*:role/service-role/AWSBackupDefaultServiceRole",
            "AWS Backup's default service role, which snapshots and restores whatever its backup plans protect",
            "AWS Backup",
        ),
        Exempt(
            f"arn:{PARTITION}:iam::*:role/AWSDataLifecycleManagerDefaultRole*",
            "Data Lifecycle Manager's default roles (snapshots and AMIs), which snapshot what their policies target",
            "Data Lifecycle Manager",
        ),
    )


def deploy_roles(config: FinOpsConfig) -> tuple[Exempt, ...]:
    automation = config.organization.automation_account_id
    return (
        Exempt(
            STACKSETS_EXECUTION,
            "service-managed StackSets' execution role, which deploys the member stacks",
            "service-managed StackSets",
        ),
        Exempt(SELF_MANAGED_STACKSETS_EXECUTION, "self-managed StackSets' execution role", "self-managed StackSets"),
        Exempt(
            f"arn:{PARTITION}:iam::{automation}:role/cdk-*-cfn-exec-role-{automation}-*",
            "the CDK's CloudFormation execution role in the automation account, which deploys the hub's roles",
            "the hub's CDK deploys",
        ),
    )


def exemptions(config: FinOpsConfig) -> Exemptions:
    policies = config.policies
    exempt = tuple(Exempt(p, f"policies.exempt_roles[{i}]") for i, p in enumerate(policies.exempt_roles))
    admins = tuple(Exempt(p, f"policies.admin_roles[{i}]") for i, p in enumerate(policies.admin_roles))
    creation = automation_roles(config) + data_protection_roles() + exempt
    return Exemptions(creation=creation, protection=creation + deploy_roles(config) + admins)
