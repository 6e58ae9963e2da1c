"""The auto-tagger's AWS side: read the resources an event created in their account (``inventory``), add the tags
(``apply``), all on the run engine's worker path (``run``).

Each module declares the IAM actions it calls through the member role next to its code; ``MEMBER_PERMISSIONS`` is
their union, which the member role grants (to the auto-tagger's sessions only, and nothing else) and a recorded-calls
test checks. ``HUB_PERMISSIONS`` are the Organizations reads the hub function makes itself, to tell whether the
event's account is a target.
"""

from __future__ import annotations

from finops.services.auto_tagger import apply, inventory

MEMBER_PERMISSIONS: tuple[str, ...] = tuple(sorted({*inventory.PERMISSIONS, *apply.PERMISSIONS}))
HUB_PERMISSIONS: tuple[str, ...] = (
    "organizations:DescribeAccount",
    "organizations:ListParents",
    "organizations:ListTagsForResource",
)
__all__ = ["HUB_PERMISSIONS", "MEMBER_PERMISSIONS"]
