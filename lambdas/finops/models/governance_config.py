"""Tag governance in ``finops.yaml``: the policy bundle (``policies``) and the three capabilities built on the taxonomy
(``capabilities.tag_compliance``, ``capabilities.tag_enforcement``, ``capabilities.auto_tagger``).

The key names are a public contract (acceptance tests write them): add keys freely, rename none.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from finops.models.base import Mode, StrictModel

__all__ = [
    "TAG_POLICY_ENFORCEABLE",
    "AutoTaggerConfig",
    "PoliciesConfig",
    "TagComplianceConfig",
    "TagEnforcementConfig",
]

PolicyOuId = Annotated[
    str,
    Field(
        pattern=r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$",
        description="an OU id such as ou-ab12-cd34ef56, or the root's id such as r-ab12 (only with allow_root)",
    ),
]
# An IAM role ARN or an ARN pattern for aws:PrincipalArn (ArnLike): `*` and `?` are wildcards, the account may be `*`.
RoleArnPattern = Annotated[
    str,
    Field(
        pattern=r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*|\?+):(role|assumed-role)/[A-Za-z0-9_+=,.@*?/-]+$",
        max_length=1024,
        description=(
            "a role ARN or ARN pattern, e.g. arn:aws:iam::*:role/aws-service-role/backup.amazonaws.com/* or "
            "arn:aws:iam::123456789012:role/BreakGlass"
        ),
    ),
]
# The resource types a Tag Policy's enforced_for may name, for EC2, RDS, Elastic Load Balancing and DynamoDB (the
# services whose resources the capabilities read), from AWS's "Services and resource types that support enforcement"
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_supported-resources-enforcement.html).
# Only the page's heading could be read where this list was written (offline), so it holds the types we are sure of,
# not the whole table: AWS supports more. Add a type here after checking it on that page. <service>:ALL_SUPPORTED is
# accepted for each service listed.
TAG_POLICY_ENFORCEABLE: frozenset[str] = frozenset(
    {
        "dynamodb:table",
        "ec2:capacity-reservation",
        "ec2:dhcp-options",
        "ec2:elastic-ip",
        "ec2:image",
        "ec2:instance",
        "ec2:internet-gateway",
        "ec2:launch-template",
        "ec2:natgateway",
        "ec2:network-acl",
        "ec2:network-interface",
        "ec2:placement-group",
        "ec2:reserved-instances",
        "ec2:route-table",
        "ec2:security-group",
        "ec2:snapshot",
        "ec2:spot-instance-request",
        "ec2:subnet",
        "ec2:volume",
        "ec2:vpc",
        "ec2:vpc-endpoint",
        "ec2:vpc-endpoint-service",
        "ec2:vpc-flow-log",
        "ec2:vpc-peering-connection",
        "ec2:vpn-connection",
        "ec2:vpn-gateway",
        "elasticloadbalancing:loadbalancer",
        "elasticloadbalancing:targetgroup",
        "rds:cluster",
        "rds:cluster-endpoint",
        "rds:cluster-pg",
        "rds:cluster-snapshot",
        "rds:db",
        "rds:es",
        "rds:og",
        "rds:pg",
        "rds:ri",
        "rds:secgrp",
        "rds:snapshot",
        "rds:subgrp",
    }
)


def _enforceable(value: str) -> str:
    services = {known.split(":", 1)[0] for known in TAG_POLICY_ENFORCEABLE}
    service = value.split(":", 1)[0]
    if value in TAG_POLICY_ENFORCEABLE or (value == f"{service}:ALL_SUPPORTED" and service in services):
        return value
    near = difflib.get_close_matches(value, sorted(TAG_POLICY_ENFORCEABLE), n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    raise ValueError(
        f"{value} is not a resource type Tag Policies can enforce{hint}: the types this app knows are "
        "TAG_POLICY_ENFORCEABLE in finops/models/governance_config.py (services "
        f"{', '.join(sorted(services))}, each also as <service>:ALL_SUPPORTED), from AWS's page 'Services and "
        "resource types that support enforcement'"
    )


# A Tag Policy enforced_for entry: <service>:<resource type>, or <service>:ALL_SUPPORTED.
EnforcedFor = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9-]+:([A-Za-z0-9-]+|ALL_SUPPORTED)$",
        description="a Tag Policy resource type such as ec2:instance, ec2:volume or rds:db",
    ),
    AfterValidator(_enforceable),
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HhMm = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="a time of day, HH:MM (UTC)")]


class PoliciesConfig(StrictModel):
    """The Organizations Tag Policies and SCPs generated from ``taxonomy`` (docs/policies/README.md).

    Deployed by the management stack; attached only when ``attach`` is true, and then only to ``target_ous``.
    """

    attach: bool = Field(default=False, description="deploy the documents but attach nothing until reviewed")
    target_ous: tuple[PolicyOuId, ...] = Field(
        default=(), description="where SCPs and Tag Policies are attached; never the root unless allow_root"
    )
    allow_root: bool = False
    enforced_for: tuple[EnforcedFor, ...] = Field(
        default=(),
        description=(
            "Tag Policy enforced_for resource types, e.g. [ec2:instance, ec2:volume]: a non-compliant tagging call on "
            "them is refused; empty: the Tag Policies only report"
        ),
    )
    max_scp_slots: int = Field(
        default=2, ge=1, le=4, description="SCPs we may attach per target (AWS allows 5, FullAWSAccess included)"
    )
    exempt_roles: tuple[RoleArnPattern, ...] = Field(
        default=(),
        description="role ARN patterns spared by the creation SCPs: AWS Backup, DLM, StackSet execution, break-glass",
    )
    admin_roles: tuple[RoleArnPattern, ...] = Field(
        default=(), description="may change the automation's protected resources and the kill switch"
    )

    @field_validator("target_ous", "enforced_for", "exempt_roles", "admin_roles")
    @classmethod
    def _listed_once(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"{twice} listed twice")
        return values

    @model_validator(mode="after")
    def _root_only_when_allowed(self) -> PoliciesConfig:
        roots = [ou for ou in self.target_ous if ou.startswith("r-")]
        if roots and not self.allow_root:
            raise ValueError(
                f"target_ous names the root {roots[0]}: the policies would apply to every account of the "
                "Organization (set policies.allow_root: true if that is meant, or name OUs)"
            )
        if self.attach and not self.target_ous:
            raise ValueError("attach is true but target_ous is empty: name the OUs to attach the policies to")
        return self


class TagComplianceConfig(StrictModel):
    """The scheduled evaluation of every target's resources against ``taxonomy``: findings, KPIs, metrics, digest."""

    enabled: bool = True
    run_at: HhMm = Field(default="05:00", description="the daily run's time (UTC, HH:MM) on EventBridge Scheduler")
    digest_weekday: Weekday = Field(
        default="mon", description="the day the weekly per-team digest is posted (the run of that day posts it)"
    )


class TagEnforcementConfig(StrictModel):
    """Remediation of non-compliant resources, on the tag_compliance run: mark, notify the owner, and after
    ``grace_days`` stop non-prod instances still non-compliant. Never deletes. ``report``: changes nothing."""

    mode: Mode = Mode.REPORT
    paused: bool = False
    grace_days: int = Field(default=7, ge=1, le=365, description="days between the mark (and notice) and the stop")


class AutoTaggerConfig(StrictModel):
    """Tags new resources with their creator and creation time, from CloudTrail events the member accounts forward."""

    mode: Mode = Mode.REPORT
    creator_tag_key: str = Field(default="finops:created-by", min_length=1, max_length=128)
    created_at_tag_key: str = Field(default="finops:created-at", min_length=1, max_length=128)
    copy_tag_keys: tuple[str, ...] = Field(
        default=("team", "owner"),
        description="tags copied from the creating principal (its IAM role or user tags) where it has them",
    )

    @model_validator(mode="after")
    def _distinct_keys(self) -> AutoTaggerConfig:
        keys = [self.creator_tag_key, self.created_at_tag_key, *self.copy_tag_keys]
        folded = [k.lower() for k in keys]
        twice = sorted({k for k, f in zip(keys, folded, strict=True) if folded.count(f) > 1})
        if twice:
            raise ValueError(f"tag keys {twice} are used twice (keys are compared case-insensitively)")
        if any(f.startswith("aws:") for f in folded):
            raise ValueError("tag keys starting with aws: are reserved for AWS")
        return self
