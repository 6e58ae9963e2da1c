"""Tag compliance's AWS side in one target: read every resource with its tags (``inventory``), carry out tag
enforcement's plan (``apply``); and the run's KPIs from every target's report (``kpis``, pure).

Each module declares the IAM actions it calls through the member role next to its code; ``MEMBER_PERMISSIONS`` is
their union, which the member stack grants (``ec2:DeleteTags`` and ``rds:RemoveTagsFromResource`` only of the mark
tag) and a recorded-calls test checks.
"""

from __future__ import annotations

from finops.rules.tag_compliance import MARK_TAG
from finops.services.tag_compliance import apply, inventory

MEMBER_PERMISSIONS: tuple[str, ...] = tuple(sorted({*inventory.PERMISSIONS, *apply.PERMISSIONS}))
MARK_TAGS: tuple[str, ...] = (MARK_TAG,)  # the only tags tag enforcement removes
__all__ = ["MARK_TAGS", "MEMBER_PERMISSIONS"]
