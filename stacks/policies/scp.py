"""The SCP statements generated from the config: (a) no creating the key resource types without the required tags,
(b) no removing a required tag, (c) no changing the automation's own resources. Every statement is a Deny that spares
the principals of :mod:`stacks.policies.principals`; each comes with its explanation.

One creation statement per required key and resource family: a ``Null`` condition listing several keys would deny
only when all of them are missing (the keys of one operator are ANDed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from finops.models.config import FinOpsConfig, TagRule
from stacks.naming import NAME_PREFIX
from stacks.policies.coverage import CREATION_FAMILIES, TAG_REMOVAL_ACTIONS, CreationFamily
from stacks.policies.model import Explanation, Statement
from stacks.policies.principals import PARTITION, Exempt, Exemptions, exemptions

__all__ = [
    "MEMBER_STACK_PATTERN",
    "creation_statements",
    "protection_statements",
    "scp_statements",
    "sid_part",
    "tag_removal_statements",
]

EVERYONE = (
    "every IAM user and role of the accounts the SCP is attached to (through their OU), the accounts' root users "
    "included; never the management account"
)
SLR = "service-linked roles, which no SCP restricts"
# Service-managed StackSets name each instance's stack StackSet-<stack set name>-<uuid>; the member StackSets are
# finops-member and finops-member-regional (docs/architecture.md, deploy order).
MEMBER_STACKSETS = ("finops-member", "finops-member-regional")
MEMBER_STACK_PATTERN = f"arn:{PARTITION}:cloudformation:*:*:stack/StackSet-finops-member-*/*"


def sid_part(key: str) -> str:
    """``cost-center`` -> ``CostCenter``: the letters and digits of a tag key, for a Sid (``[A-Za-z0-9]`` only)."""
    words = re.findall(r"[A-Za-z0-9]+", key)
    part = "".join(w[:1].upper() + w[1:] for w in words)
    return part or "Key" + hashlib.sha256(key.encode()).hexdigest()[:8]


def _sid_parts(rules: Sequence[TagRule]) -> dict[str, str]:
    """Each key's Sid part; keys that would share one (``cost-center``, ``cost_center``) get a hash of the key."""
    parts = {rule.key: sid_part(rule.key) for rule in rules}
    taken = [p.lower() for p in parts.values()]
    return {
        key: part + hashlib.sha256(key.encode()).hexdigest()[:6] if taken.count(part.lower()) > 1 else part
        for key, part in parts.items()
    }


def _deny(
    sid: str, actions: Sequence[str], resources: Sequence[str] | str, conditions: dict[str, Any]
) -> dict[str, Any]:
    resource: list[str] | str = resources if isinstance(resources, str) else sorted(resources)
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": sorted(actions),
        "Resource": resource,
        "Condition": {operator: conditions[operator] for operator in sorted(conditions)},
    }


def _sparing(exempts: tuple[Exempt, ...]) -> dict[str, Any]:
    return {"ArnNotLike": {"aws:PrincipalArn": Exemptions.patterns(exempts)}}


def _exceptions(exempts: tuple[Exempt, ...]) -> str:
    return f"{Exemptions.words(exempts)}, and {SLR} (who each is: 'Who every SCP statement spares')"


def _required(config: FinOpsConfig) -> list[tuple[int, TagRule]]:
    return sorted(
        ((index, rule) for index, rule in enumerate(config.taxonomy.tags) if rule.required), key=lambda r: r[1].key
    )


def creation_statements(config: FinOpsConfig) -> list[Statement]:
    """Per required key and creation family: deny the family's creations when the request lacks the key."""
    spared = exemptions(config).creation
    required = _required(config)
    parts = _sid_parts([rule for _, rule in required])
    found = []
    for index, rule in required:
        for family in CREATION_FAMILIES:
            found.append(_creation(family, rule, index, parts[rule.key], spared))
    return found


def _creation(family: CreationFamily, rule: TagRule, index: int, part: str, spared: tuple[Exempt, ...]) -> Statement:
    sid = f"Deny{family.sid}Without{part}"
    body = _deny(
        sid,
        family.actions,
        family.resources,
        {"Null": {f"aws:RequestTag/{rule.key}": "true"}, **_sparing(spared)},
    )
    return Statement(
        body,
        Explanation(
            sid=sid,
            denied=f"{family.what}, when the request carries no `{rule.key}` tag",
            to_whom=EVERYONE,
            exceptions=_exceptions(spared),
            why=(
                f"taxonomy.tags[{index}] requires `{rule.key}`: spend on an untagged resource cannot be attributed. "
                "The exempt roles create resources on the automation's or AWS's behalf (the clean-up's final "
                "snapshot copies its volume's tags, which an old volume may lack; AWS Backup and DLM snapshot "
                "whatever they protect). Any value passes here: values are the Tag Policy's and tag_compliance's"
            ),
        ),
    )


def tag_removal_statements(config: FinOpsConfig) -> list[Statement]:
    """Deny removing a required tag (``aws:TagKeys``), and ``ec2:DeleteTags`` without keys, which removes every tag."""
    spared = exemptions(config).creation
    keys = sorted(rule.key for _, rule in _required(config))
    if not keys:
        return []
    named = ", ".join(f"`{k}`" for k in keys)
    removing = _deny(
        "DenyRemovingRequiredTags",
        TAG_REMOVAL_ACTIONS,
        "*",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": keys}, **_sparing(spared)},
    )
    removing_all = _deny(
        "DenyRemovingAllEc2Tags", ["ec2:DeleteTags"], "*", {"Null": {"aws:TagKeys": "true"}, **_sparing(spared)}
    )
    return [
        Statement(
            removing,
            Explanation(
                sid="DenyRemovingRequiredTags",
                denied=(
                    f"removing any of the required tags {named} from an EC2 or RDS resource (ec2:DeleteTags, "
                    "rds:RemoveTagsFromResource; also through the Resource Groups Tagging API, which calls them). "
                    "Keys compare exactly: removing a differently cased key such as `Team` stays allowed"
                ),
                to_whom=EVERYONE,
                exceptions=_exceptions(spared),
                why=(
                    "a tag required at creation must not be removable right after it. Changing a value stays allowed "
                    "(ec2:CreateTags, rds:AddTagsToResource overwrite it), so an owner can still fix a wrong value"
                ),
            ),
        ),
        Statement(
            removing_all,
            Explanation(
                sid="DenyRemovingAllEc2Tags",
                denied="ec2:DeleteTags naming no tag keys, which removes every tag of the resource",
                to_whom=EVERYONE,
                exceptions=_exceptions(spared),
                why=(
                    "such a request carries no aws:TagKeys, so DenyRemovingRequiredTags cannot see that it removes "
                    "the required tags (ForAnyValue over no keys is false)"
                ),
            ),
        ),
    ]


ROLE_CHANGES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
STACK_CHANGES = (
    "cloudformation:CancelUpdateStack",
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:CreateChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:RollbackStack",
    "cloudformation:SetStackPolicy",
    "cloudformation:TagResource",
    "cloudformation:UntagResource",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateTerminationProtection",
)
RULE_CHANGES = (
    "rbin:DeleteRule",
    "rbin:LockRule",
    "rbin:TagResource",
    "rbin:UnlockRule",
    "rbin:UntagResource",
    "rbin:UpdateRule",
)
PARAMETER_CHANGES = (
    "ssm:AddTagsToResource",
    "ssm:DeleteParameter",
    "ssm:DeleteParameters",
    "ssm:LabelParameterVersion",
    "ssm:PutParameter",
    "ssm:RemoveTagsFromResource",
    "ssm:UnlabelParameterVersion",
)


def kill_switch_arn(config: FinOpsConfig) -> str:
    name = config.safety.kill_switch_parameter.lstrip("/")
    return f"arn:{PARTITION}:ssm:*:{config.organization.automation_account_id}:parameter/{name}"


def protection_statements(config: FinOpsConfig) -> list[Statement]:
    """Deny changing the automation's roles, the member stacks, the Recycle Bin rules and the kill switch to anyone
    but the automation, the roles that deploy it, ``exempt_roles`` and ``admin_roles``."""
    spared = exemptions(config).protection
    organization = config.organization
    roles = [
        f"arn:{PARTITION}:iam::*:role/{organization.member_role_name}",
        f"arn:{PARTITION}:iam::{organization.automation_account_id}:role/{NAME_PREFIX}*",
    ]
    admins = "; ".join(f"`{a}`" for a in config.policies.admin_roles) or "none yet: policies.admin_roles is empty"
    why_admins = f"Changes are for the automation's deploys and for policies.admin_roles ({admins})"
    found = [
        (
            _deny("DenyChangingAutomationRoles", ROLE_CHANGES, roles, _sparing(spared)),
            (
                f"creating, changing, tagging or deleting the member role `{organization.member_role_name}` in any "
                f"account or the hub's `finops-*` roles in the automation account {organization.automation_account_id}"
                " (their trust, their inline and attached policies, their permissions boundary)"
            ),
            (
                "the member role's trust and permissions are the safety boundary of every capability: widened, any "
                "principal could act through it; created by someone else before the StackSet, it would trust them. "
                + why_admins
            ),
        ),
        (
            _deny("DenyChangingMemberStacks", STACK_CHANGES, [MEMBER_STACK_PATTERN], _sparing(spared)),
            (
                "updating, deleting, rolling back or re-tagging the member stacks, the instances of the StackSets "
                f"{' and '.join(MEMBER_STACKSETS)} (stacks named StackSet-finops-member-*)"
            ),
            (
                "deleting an instance's stack would remove the member role and the Recycle Bin rules of that account. "
                + why_admins
            ),
        ),
        (
            _deny("DenyChangingRecycleBinRules", RULE_CHANGES, [f"arn:{PARTITION}:rbin:*:*:rule/*"], _sparing(spared)),
            (
                "changing, locking, unlocking, re-tagging or deleting any Recycle Bin rule. All rules: the member "
                "stacks' rules carry only the own_tags every resource of ours carries, and no name, so an SCP cannot "
                "tell them from other rules (rbin:CreateRule stays allowed)"
            ),
            (
                "the clean-up deletes only where a Recycle Bin rule keeps what it deletes restorable "
                "(require_recycle_bin); a rule shortened or removed would make its deletions final. Teams managing "
                "their own rules need their role in policies.admin_roles. " + why_admins
            ),
        ),
        (
            _deny("DenyChangingKillSwitch", PARAMETER_CHANGES, [kill_switch_arn(config)], _sparing(spared)),
            (
                "writing, deleting, labelling or re-tagging the kill-switch parameter "
                f"`{config.safety.kill_switch_parameter}` in the automation account "
                f"{organization.automation_account_id} (any region)"
            ),
            (
                "the kill switch stops every capability; whoever may write it may stop or resume the automation. "
                + why_admins
                + ". With none, nobody but the exempt roles can set it once the SCP reaches the automation account"
            ),
        ),
    ]
    return [
        Statement(
            body,
            Explanation(sid=body["Sid"], denied=denied, to_whom=EVERYONE, exceptions=_exceptions(spared), why=why),
        )
        for body, denied, why in found
    ]


def scp_statements(config: FinOpsConfig) -> list[Statement]:
    """Every statement of the bundle's SCPs, sorted by Sid."""
    statements = creation_statements(config) + tag_removal_statements(config) + protection_statements(config)
    sids = [s.sid for s in statements]
    twice = sorted({sid for sid in sids if sids.count(sid) > 1})
    if twice:  # a taxonomy the Sid parts cannot tell apart: a bug here, never a user's problem to fix
        raise AssertionError(f"SCP statements share Sids {twice}")
    return sorted(statements, key=lambda s: s.sid)
