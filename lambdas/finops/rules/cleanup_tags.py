"""The tags the storage clean-up writes, and how their values read: pure, one definition for the planner, the
services that write them, the restore and the tests.

On a volume or snapshot marked for deletion (one ``CreateTags`` call for many resources):
- ``finops:cleanup-action``: ``snapshot-and-delete`` or ``delete``
- ``finops:cleanup-after``: the instant it may go, in UTC: ``2026-12-09T06:00:00Z``

On a final snapshot (made just before its volume is deleted), beside the volume's own tags:
- ``finops:final-snapshot-of``: the volume id
- ``finops:for-mark``: the ``finops:cleanup-after`` value of the mark it was made for: a later run reuses a final
  snapshot (one still pending when an earlier run's wait ended) only for that same mark, never one of an earlier
  episode of the volume
- ``finops:restore-record``: the audit record id that ``make restore RECORD=...`` takes
- ``finops:volume``: what recreating the volume needs, ``type=gp3 size=100 iops=3000 throughput=125 az=eu-west-1a``

On a restored volume: ``finops:restored-from``: the audit record id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

ACTION_TAG = "finops:cleanup-action"
AFTER_TAG = "finops:cleanup-after"
MARK_TAGS = (ACTION_TAG, AFTER_TAG)
FINAL_OF_TAG = "finops:final-snapshot-of"
FOR_MARK_TAG = "finops:for-mark"
RECORD_TAG = "finops:restore-record"
VOLUME_SPEC_TAG = "finops:volume"
RESTORED_FROM_TAG = "finops:restored-from"
OUR_TAGS = (*MARK_TAGS, FINAL_OF_TAG, FOR_MARK_TAG, RECORD_TAG, VOLUME_SPEC_TAG, RESTORED_FROM_TAG)
MAX_TAGS = 50  # EC2's limit per resource

SNAPSHOT_AND_DELETE = "snapshot-and-delete"
DELETE = "delete"


def instant_value(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the run's clock must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def marked_after(tags: Mapping[str, str]) -> datetime | str | None:
    """When a marked resource may go; None when it is not marked; the raw value (a str) when the tag is unreadable."""
    value = tags.get(AFTER_TAG)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else value


def volume_spec_value(
    *, volume_type: str, size_gb: int, zone: str, iops: int | None, throughput: int | None, multi_attach: bool
) -> str:
    parts = [f"type={volume_type}", f"size={size_gb}"]
    if iops:
        parts.append(f"iops={iops}")
    if throughput:
        parts.append(f"throughput={throughput}")
    parts.append(f"az={zone}")
    if multi_attach:
        parts.append("multiattach=true")
    return " ".join(parts)


def parse_volume_spec(value: str) -> dict[str, str]:
    """``type=gp3 size=100 ...`` -> {"type": "gp3", "size": "100", ...}; ValueError naming what is wrong."""
    spec: dict[str, str] = {}
    for part in value.split():
        key, sep, item = part.partition("=")
        if not sep or not key or not item:
            raise ValueError(f"expected key=value pairs, got {part!r} in {value!r}")
        spec[key] = item
    missing = [k for k in ("type", "size", "az") if k not in spec]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} in {value!r}")
    return spec
