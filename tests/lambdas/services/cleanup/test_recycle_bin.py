"""Reading the Recycle Bin rules (moto has no Recycle Bin: botocore's Stubber answers), and what a failed read means."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from finops.models.storage import RecycleBinRule
from finops.services.cleanup.inventory import read_recycle_bin


def _rbin() -> tuple[object, Stubber]:
    client = boto3.client("rbin", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _rule(identifier: str, resource_type: str, days: int, **extra: object) -> dict[str, object]:
    return {
        "Identifier": identifier,
        "ResourceType": resource_type,
        "RetentionPeriod": {"RetentionPeriodValue": days, "RetentionPeriodUnit": "DAYS"},
        "Status": "available",
        **extra,
    }


def test_rules_of_both_types_are_read_with_their_tags_and_lock() -> None:
    client, stub = _rbin()
    stub.add_response(
        "list_rules", {"Rules": [{"Identifier": "vol7"}]}, {"ResourceType": "EBS_VOLUME", "MaxResults": 100}
    )
    stub.add_response("get_rule", _rule("vol7", "EBS_VOLUME", 7, LockState="locked"), {"Identifier": "vol7"})
    stub.add_response(
        "list_rules", {"Rules": [{"Identifier": "snap30"}]}, {"ResourceType": "EBS_SNAPSHOT", "MaxResults": 100}
    )
    stub.add_response(
        "get_rule",
        _rule(
            "snap30", "EBS_SNAPSHOT", 30, ExcludeResourceTags=[{"ResourceTagKey": "scratch", "ResourceTagValue": "1"}]
        ),
        {"Identifier": "snap30"},
    )
    with stub:
        bin_ = read_recycle_bin(client)
    assert bin_.error is None
    assert bin_.rules == (
        RecycleBinRule("snap30", "EBS_SNAPSHOT", 30, exclude_tags=(("scratch", "1"),)),
        RecycleBinRule("vol7", "EBS_VOLUME", 7, locked=True),
    )
    assert bin_.retaining("EBS_SNAPSHOT", {"scratch": "1"}) is None
    assert bin_.retaining("EBS_SNAPSHOT", {}) == bin_.rules[0]
    assert bin_.retaining("EBS_VOLUME", {"any": "thing"}) == bin_.rules[1]


def test_a_refused_read_is_kept_as_the_reason_nothing_is_retained() -> None:
    client, stub = _rbin()
    stub.add_client_error("list_rules", "AccessDeniedException", "not allowed: rbin:ListRules")
    with stub:
        bin_ = read_recycle_bin(client)
    assert bin_.rules == ()
    assert bin_.error == "cannot read the Recycle Bin rules (AccessDeniedException: not allowed: rbin:ListRules)"
    assert bin_.retaining("EBS_VOLUME", {}) is None


def test_moto_without_a_recycle_bin_means_no_rule() -> None:
    """Against moto (as `make run` against a moto server), the Recycle Bin read fails: deletions are held."""
    from moto import mock_aws

    with mock_aws():
        bin_ = read_recycle_bin(boto3.client("rbin", region_name="eu-west-1"))
    assert bin_.error is not None
    assert bin_.rules == ()
