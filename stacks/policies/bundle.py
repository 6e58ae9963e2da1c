"""The policy bundle: the Tag Policy and the SCPs generated from one config, where they attach, and what a reviewer
should know before attaching them. Also the demo's two views of it (:func:`bundle_summary`,
:func:`explain_denied_example`).
"""

from __future__ import annotations

from dataclasses import dataclass

from finops.models.config import FinOpsConfig
from stacks.policies.coverage import NOT_COVERED, NotCovered
from stacks.policies.evaluate import Request, evaluate
from stacks.policies.limits import SCP_MAX_CHARS, PolicyLimitError, pack_statements, scp_document
from stacks.policies.model import Policy, PolicyType
from stacks.policies.principals import PARTITION
from stacks.policies.scp import scp_statements
from stacks.policies.tag_policy import tag_policy

__all__ = ["SCP_NAME", "PolicyBundle", "build_bundle", "bundle_summary", "explain_denied_example"]

SCP_NAME = "finops-scp-{n}"
MANAGEMENT_NOTE = "SCPs never apply to the management account, whatever they are attached to."


@dataclass(frozen=True)
class PolicyBundle:
    """The policies, the targets they attach to (none unless ``policies.attach``), and review notes: what the config
    leaves open that a reviewer should decide before attaching (an empty ``admin_roles``, say)."""

    policies: tuple[Policy, ...]
    attach: bool
    targets: tuple[str, ...]
    max_scp_slots: int
    notes: tuple[str, ...]
    not_covered: tuple[NotCovered, ...] = NOT_COVERED

    @property
    def scps(self) -> tuple[Policy, ...]:
        return tuple(p for p in self.policies if p.type is PolicyType.SERVICE_CONTROL_POLICY)

    def targets_in_words(self) -> str:
        if not self.attach:
            return "not attached: policies.attach is false"
        return "attached to " + ", ".join(self.targets)


def _notes(config: FinOpsConfig) -> tuple[str, ...]:
    policies = config.policies
    notes = []
    if not policies.exempt_roles:
        notes.append(
            "policies.exempt_roles is empty: AWS Backup (e.g. arn:aws:iam::*:role/service-role/"
            "AWSBackupDefaultServiceRole), Data Lifecycle Manager (arn:aws:iam::*:role/AWSDataLifecycleManagerDefault"
            "Role*) and any pipeline that creates instances, volumes, snapshots or databases without the required tags "
            "would be denied once the SCPs are attached: list their roles there first"
        )
    if not policies.admin_roles:
        notes.append(
            "policies.admin_roles is empty: once an SCP reaches the automation account, nobody but the automation and "
            "its deploy roles can set the kill switch or change the automation's roles, stacks and Recycle Bin "
            "rules: name your operators' break-glass role there"
        )
    if not any(rule.required for rule in config.taxonomy.tags):
        notes.append("no taxonomy key is required: the SCPs protect the automation only and require no tag")
    return tuple(notes)


def build_bundle(config: FinOpsConfig) -> PolicyBundle:
    """The bundle for ``config``; raises :class:`~stacks.policies.limits.PolicyLimitError` when it does not fit
    Organizations' limits (which limit, by how much, and the fix)."""
    policies = config.policies
    tags = tag_policy(config)
    if tags.size > tags.limit:
        raise PolicyLimitError(
            [
                f"taxonomy: the Tag Policy {tags.name} is {tags.size:,} characters, over the {tags.limit:,} a tag "
                f"policy holds by {tags.size - tags.limit:,}. Fix: fewer or shorter taxonomy keys and allowed_values, "
                "or fewer policies.enforced_for types (they are repeated for every key)"
            ]
        )
    packed = pack_statements(scp_statements(config), max_policies=policies.max_scp_slots)
    scps = []
    for n, statements in enumerate(packed, start=1):
        scps.append(
            Policy(
                name=SCP_NAME.format(n=n),
                type=PolicyType.SERVICE_CONTROL_POLICY,
                description=(
                    f"FinOps tag governance, SCP {n} of {len(packed)}, generated from the FinOps config "
                    f"(docs/policies/): {len(statements)} Deny statements. {MANAGEMENT_NOTE}"
                ),
                document=scp_document(statements),
                explanations=tuple(s.explanation for s in statements),
                limit=SCP_MAX_CHARS,
            )
        )
    return PolicyBundle(
        policies=(tags, *scps),
        attach=policies.attach,
        targets=policies.target_ous if policies.attach else (),
        max_scp_slots=policies.max_scp_slots,
        notes=_notes(config),
    )


def bundle_summary(config: FinOpsConfig) -> str:
    """The bundle in a few lines: each policy, its size against its limit, and where it attaches."""
    bundle = build_bundle(config)
    width = max(len(p.name) for p in bundle.policies)
    lines = [f"Policy bundle: {len(bundle.policies)} policies, {bundle.targets_in_words()}"]
    for policy in bundle.policies:
        count = len(policy.explanations)
        unit = "keys" if policy.type is PolicyType.TAG_POLICY else "statements"
        lines.append(
            f"  {policy.name:<{width}}  {policy.type.value:<22}  {policy.size:>6,} of {policy.limit:,} characters "
            f"({policy.size / policy.limit:.0%}), {count} {unit}"
        )
    lines.append(
        f"  SCPs per target: {len(bundle.scps)} of policies.max_scp_slots {bundle.max_scp_slots}. {MANAGEMENT_NOTE}"
    )
    return "\n".join(lines)


def _value(config: FinOpsConfig, key: str) -> str:
    rule = next(r for r in config.taxonomy.tags if r.key == key)
    return sorted(rule.allowed_values)[0] if rule.allowed_values else config.own_tags.get(key, "example")


def explain_denied_example(config: FinOpsConfig, *, account: str = "333333333333", region: str = "eu-west-1") -> str:
    """A developer's RunInstances without a required tag, denied and explained, and the same launch by the member
    role, allowed. Without a required key it says that nothing is denied for a missing tag."""
    bundle = build_bundle(config)
    required = sorted(rule.key for rule in config.taxonomy.tags if rule.required)
    if not required:
        return "No taxonomy key is required, so the SCPs deny no creation for a missing tag."
    # the owning team's tag when it is required (the one a digest routes by), else the first required key
    owner = config.notifications.owner_tag_key
    missing = owner if owner in required else required[0]
    tags = {key: _value(config, key) for key in required if key != missing}
    instance = f"arn:{PARTITION}:ec2:{region}:{account}:instance/*"
    developer = Request(
        action="ec2:RunInstances",
        principal_arn=f"arn:{PARTITION}:iam::{account}:role/developer",
        resource_arn=instance,
        request_tags=tags,
    )
    member = Request(
        action="ec2:RunInstances",
        principal_arn=f"arn:{PARTITION}:iam::{account}:role/{config.organization.member_role_name}",
        resource_arn=instance,
        request_tags=tags,
    )
    denied = evaluate(bundle.policies, developer, management_account_id=config.organization.management_account_id)
    lines = [f"A developer launches an instance without the `{missing}` tag:", f"  {developer.describe()}"]
    lines.append(f"  -> {denied.reason}")
    if denied.explanation is not None:
        lines += [f"     denies {denied.explanation.denied}", f"     why: {denied.explanation.why}"]
    allowed = evaluate(bundle.policies, member, management_account_id=config.organization.management_account_id)
    lines.append(f"The same launch by the member role {config.organization.member_role_name}: {allowed.reason}")
    return "\n".join(lines)
