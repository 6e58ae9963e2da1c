"""The hard limits of Organizations policies, checked here because moto enforces none of them, and the packing of SCP
statements into as few SCPs as fit.

Sizes, from "Quotas and service limits for AWS Organizations", maximum size of a policy document
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html): a service control policy
holds at most 5,120 characters, a tag policy 10,000. A root, OU or account holds at most five SCPs, FullAWSAccess
included; ``policies.max_scp_slots`` says how many of those the bundle may take.
"""

from __future__ import annotations

from collections.abc import Sequence

from finops.models.config import ConfigError
from stacks.policies.model import PolicyType, Statement, size_of

__all__ = [
    "LIMITS",
    "SCP_MAX_CHARS",
    "SCP_SLOTS_PER_TARGET",
    "TAG_POLICY_MAX_CHARS",
    "PolicyLimitError",
    "pack_statements",
    "scp_document",
]

SCP_MAX_CHARS = 5_120
TAG_POLICY_MAX_CHARS = 10_000
SCP_SLOTS_PER_TARGET = 5  # AWS's limit per root, OU or account, FullAWSAccess included
LIMITS = {PolicyType.SERVICE_CONTROL_POLICY: SCP_MAX_CHARS, PolicyType.TAG_POLICY: TAG_POLICY_MAX_CHARS}
VERSION = "2012-10-17"


class PolicyLimitError(ConfigError):
    """The config's taxonomy and policies give a bundle past an Organizations limit: which limit, by how much, and
    the fix. A :class:`~finops.models.config.ConfigError`, so ``make synth`` prints it as it prints any config
    problem (without a traceback) and exits 2."""

    what = "policy bundle"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("policies", problems)
        # ConfigError's own wording says "policies is not a valid policy bundle"; say what happened instead.
        self.args = (
            "the policy bundle generated from taxonomy and policies does not fit AWS Organizations' limits:\n"
            + "\n".join(f"  - {p}" for p in problems),
        )

    def __str__(self) -> str:
        return str(self.args[0])


def scp_document(statements: Sequence[Statement]) -> dict[str, object]:
    """An SCP holding ``statements`` in Sid order (a stable order: a change reviews as a small diff)."""
    return {"Version": VERSION, "Statement": [dict(s.body) for s in sorted(statements, key=lambda s: s.sid)]}


EMPTY_SCP = size_of(scp_document([]))  # {"Version":"2012-10-17","Statement":[]}


def _fits(statements: Sequence[Statement]) -> int:
    """The size of the SCP holding ``statements``: the empty document, each statement, and a comma between two."""
    return EMPTY_SCP + sum(s.size for s in statements) + max(len(statements) - 1, 0)


FIXES = (
    "raise policies.max_scp_slots (at most 4: a target holds 5 SCPs, FullAWSAccess included), mark fewer taxonomy "
    "keys required (each required key adds a creation statement per resource family), or list fewer or shorter "
    "policies.exempt_roles and policies.admin_roles (every pattern is repeated in every statement that spares it)"
)


def pack_statements(statements: Sequence[Statement], *, max_policies: int) -> list[list[Statement]]:
    """Pack ``statements`` into as few SCPs of at most :data:`SCP_MAX_CHARS` as first-fit decreasing finds (largest
    first, ties by Sid, so the result is deterministic).

    Raises :class:`PolicyLimitError` when one statement alone is too large, or when they need more than
    ``max_policies`` SCPs: with the limit, by how much, and the fixes.
    """
    room = SCP_MAX_CHARS - EMPTY_SCP
    too_big = [s for s in statements if s.size > room]
    if too_big:
        raise PolicyLimitError(
            [
                f"statement {s.sid} is {s.size:,} characters: one SCP holds at most {SCP_MAX_CHARS:,} (its "
                f"statement at most {room:,}), over by {s.size - room:,}. Fix: {FIXES}"
                for s in too_big
            ]
        )
    bins: list[list[Statement]] = []
    for statement in sorted(statements, key=lambda s: (-s.size, s.sid)):
        target = next((b for b in bins if _fits([*b, statement]) <= SCP_MAX_CHARS), None)
        if target is None:
            bins.append([statement])
        else:
            target.append(statement)
    if len(bins) > max_policies:
        statement_chars = sum(s.size for s in statements)
        capacity = max_policies * SCP_MAX_CHARS
        # max_policies documents' own bytes, every statement, and the commas between statements of one document
        needed = max_policies * EMPTY_SCP + statement_chars + max(len(statements) - max_policies, 0)
        over = (
            f"{needed - capacity:,} characters too many"
            if needed > capacity
            else "they would fit in total, but not split into whole statements"
        )
        raise PolicyLimitError(
            [
                f"policies.max_scp_slots: the {len(statements)} SCP statements ({statement_chars:,} characters) need "
                f"{len(bins)} SCPs of at most {SCP_MAX_CHARS:,} characters, but policies.max_scp_slots allows "
                f"{max_policies} per target ({capacity:,} characters): {over}. Fix: {FIXES}"
            ]
        )
    return [sorted(b, key=lambda s: s.sid) for b in bins]
