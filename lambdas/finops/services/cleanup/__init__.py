"""The storage clean-up's AWS side in one target: read the inventory (``inventory``), carry out a plan (``apply``).

Each module declares the IAM actions it calls through the member role next to its code; ``MEMBER_PERMISSIONS`` is
their union, which the member stack grants (deletions only of resources that carry the clean-up's mark) and a
recorded-calls test checks.
"""

from __future__ import annotations

from finops.services.cleanup import apply, inventory

MEMBER_PERMISSIONS: tuple[str, ...] = tuple(sorted({*inventory.PERMISSIONS, *apply.PERMISSIONS}))
# The calls that delete: the member role allows them only on resources carrying the mark tag, and never on
# resources carrying the protect tag (stacks/constructs/member_role.py).
DELETING_PERMISSIONS: tuple[str, ...] = ("ec2:DeleteSnapshot", "ec2:DeleteVolume")
__all__ = ["DELETING_PERMISSIONS", "MEMBER_PERMISSIONS"]
