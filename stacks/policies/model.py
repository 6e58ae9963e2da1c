"""What a policy bundle is made of: policies, their statements, and a plain-language explanation of each statement.

Pure data: no CDK, no AWS. The documents are plain dicts, built in a fixed order with sorted lists, so the same config
always gives the same bytes (the files in ``docs/policies/`` review as small diffs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Explanation", "Policy", "PolicyType", "Statement", "minified", "size_of"]


class PolicyType(StrEnum):
    """The two Organizations policy types the bundle holds (``AWS::Organizations::Policy`` ``Type``)."""

    TAG_POLICY = "TAG_POLICY"
    SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"


def minified(document: Mapping[str, Any]) -> str:
    """The document as Organizations stores what CloudFormation sends it: JSON without whitespace."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def size_of(document: Mapping[str, Any]) -> int:
    """The size Organizations counts against its limits: the minified document's length, in UTF-8 bytes.

    AWS words the limits in characters; bytes are never fewer, so a document within the limit in bytes is within it
    either way (a tag key with non-ASCII letters counts each of them as two or more).
    """
    return len(minified(document).encode("utf-8"))


@dataclass(frozen=True)
class Explanation:
    """One statement (or one Tag Policy key) in plain language, for the security reviewer's README."""

    sid: str
    denied: str
    to_whom: str
    exceptions: str
    why: str


@dataclass(frozen=True)
class Statement:
    """One SCP statement and its explanation. ``body`` is the statement as the document holds it (with its Sid)."""

    body: Mapping[str, Any]
    explanation: Explanation

    @property
    def sid(self) -> str:
        return str(self.body["Sid"])

    @property
    def size(self) -> int:
        return size_of(self.body)


@dataclass(frozen=True)
class Policy:
    """One Organizations policy: its name, type, description, document and an explanation per statement (per tag
    key for a Tag Policy), in the document's order."""

    name: str
    type: PolicyType
    description: str
    document: Mapping[str, Any]
    explanations: tuple[Explanation, ...]
    limit: int

    @property
    def minified(self) -> str:
        return minified(self.document)

    @property
    def size(self) -> int:
        return size_of(self.document)

    def explanation(self, sid: str) -> Explanation | None:
        return next((e for e in self.explanations if e.sid == sid), None)

    def pretty(self) -> str:
        """The document as the reviewed file holds it: indent 2, ending in a newline."""
        return json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"
