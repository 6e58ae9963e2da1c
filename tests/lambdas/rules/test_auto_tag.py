"""The auto-tagger's decisions on real-shaped CloudTrail events: what each call created, who created it, and which tags
a resource gets (never one the creator set or one it already has; nothing in prod or on protected resources)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from finops.models.cloudtrail import InvalidCloudTrailEvent, UserIdentity, parse_cloudtrail_event
from finops.models.config import SafetyConfig
from finops.models.governance_config import AutoTaggerConfig
from finops.rules.auto_tag import (
    CLUSTER,
    DB,
    INSTANCE,
    SNAPSHOT,
    VOLUME,
    Creation,
    Found,
    Ignored,
    allowed_keys,
    created_at_value,
    creation_of,
    creator_of,
    decide,
    event_names,
    tag_value,
)
from tests.conftest import load_event

CONFIG = AutoTaggerConfig()
SAFETY = SafetyConfig()
BY = "finops:created-by"
AT = "finops:created-at"


def creation(name: str) -> Creation:
    made = creation_of(parse_cloudtrail_event(load_event(f"cloudtrail_{name}")))
    assert isinstance(made, Creation), made
    return made


# -- what each sample event created, by whom -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "resources", "creator", "kind", "account", "region", "at"),
    [
        (
            "run_instances",
            [("i-0f1e2d3c4b5a69788", INSTANCE)],
            "arn:aws:iam::444444444444:role/deploy/PaymentsDeployer session jane@example.com",
            "AssumedRole",
            "444444444444",
            "eu-west-1",
            "2026-11-27T09:15:02Z",
        ),
        (
            "create_volume",
            [("vol-0a1b2c3d4e5f60789", VOLUME)],
            "arn:aws:iam::555555555555:user/maya",
            "IAMUser",
            "555555555555",
            "eu-west-1",
            "2026-11-27T10:02:11Z",
        ),
        (
            "create_snapshot",
            [("snap-0123456789abcdef0", SNAPSHOT)],
            "root of account 444444444444",
            "Root",
            "444444444444",
            "us-east-1",
            "2026-11-27T08:03:55Z",
        ),
        (
            "create_db_instance",
            [("feature-store-dev", DB)],
            "arn:aws:iam::555555555555:role/DataPlatformTerraform session terraform",
            "AssumedRole",
            "555555555555",
            "eu-west-1",
            "2026-11-27T11:21:47Z",
        ),
        (
            "federated_user",
            [("clickstream-dev", CLUSTER)],
            "arn:aws:sts::555555555555:federated-user/bob issued by arn:aws:iam::555555555555:user/identity-broker",
            "FederatedUser",
            "555555555555",
            "eu-west-1",
            "2026-11-27T12:44:30Z",
        ),
    ],
)
def test_each_sample_event_names_what_it_created_who_created_it_and_when(
    event: str, resources: list[tuple[str, str]], creator: str, kind: str, account: str, region: str, at: str
) -> None:
    made = creation(event)

    assert [(r.id, r.type) for r in made.resources] == resources
    assert (made.creator.value, made.creator.kind) == (creator, kind)
    assert (made.account, made.region) == (account, region)
    assert created_at_value(made.at) == at


def test_run_instances_reads_the_tags_the_creator_asked_for_per_resource_type_and_looks_for_the_volumes() -> None:
    made = creation("run_instances")

    assert made.creator_tags[INSTANCE] == {"Name": "checkout-api-1", "team": "payments"}
    assert made.creator_tags[VOLUME] == {"Name": "checkout-api-1-root"}
    assert made.derived == (VOLUME,)  # the instance's EBS volumes, found by the read step


def test_rds_calls_read_the_tags_from_request_tags_and_keep_the_arn_to_tag_by() -> None:
    made = creation("create_db_instance")

    assert made.creator_tags[DB] == {"team": "data", "environment": "dev", "Owner": "data-platform@example.com"}
    assert made.resources[0].arn == "arn:aws:rds:eu-west-1:555555555555:db:feature-store-dev"


def test_a_failed_call_is_ignored_with_its_error_code() -> None:
    ignored = creation_of(parse_cloudtrail_event(load_event("cloudtrail_run_instances_failed")))

    assert isinstance(ignored, Ignored)
    assert ignored.reason == "the call failed (Client.UnauthorizedOperation): it created nothing"
    assert ignored.event_name == "RunInstances"
    assert ignored.creator == "arn:aws:iam::444444444444:role/deploy/PaymentsDeployer session jane@example.com"


def test_a_call_the_auto_tagger_does_not_read_is_ignored_saying_so() -> None:
    event = load_event("cloudtrail_create_volume")
    event["detail"]["eventName"] = "AttachVolume"

    ignored = creation_of(parse_cloudtrail_event(event))

    assert isinstance(ignored, Ignored)
    assert ignored.reason == "ec2.amazonaws.com AttachVolume is not a call the auto-tagger reads"


# -- identities -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "value", "role", "user", "note"),
    [
        (
            {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops/alice", "accountId": "111122223333"},
            "arn:aws:iam::111122223333:user/ops/alice",
            None,
            "alice",
            None,
        ),
        (  # the role's path is in sessionIssuer.arn, not in the assumed-role ARN
            {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/Admin/jane@example.com",
                "accountId": "111122223333",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": "arn:aws:iam::111122223333:role/people/Admin",
                        "accountId": "111122223333",
                        "userName": "Admin",
                    }
                },
            },
            "arn:aws:iam::111122223333:role/people/Admin session jane@example.com",
            "Admin",
            None,
            None,
        ),
        (  # a root-issued federation token: nobody's IAM tags to copy
            {
                "type": "FederatedUser",
                "arn": "arn:aws:sts::111122223333:federated-user/bob",
                "accountId": "111122223333",
                "sessionContext": {"sessionIssuer": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}},
            },
            "arn:aws:sts::111122223333:federated-user/bob issued by arn:aws:iam::111122223333:root",
            None,
            None,
            "issued by the Root identity, which has no IAM tags",
        ),
        (
            {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
            "root of account 111122223333",
            None,
            None,
            "the root user has no tags",
        ),
        (  # a service acting on its own: what it is called, and nothing to copy
            {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
            "autoscaling.amazonaws.com",
            None,
            None,
            "a AWSService identity has no IAM tags to copy",
        ),
    ],
)
def test_the_creator_of_each_identity_type(
    identity: dict[str, Any], value: str, role: str | None, user: str | None, note: str | None
) -> None:
    creator = creator_of(UserIdentity.model_validate(identity))

    assert creator is not None
    assert (creator.value, creator.iam_role, creator.iam_user, creator.copy_note) == (value, role, user, note)


def test_an_identity_naming_nobody_is_no_creator() -> None:
    assert creator_of(UserIdentity.model_validate({"type": "Unknown"})) is None


# -- malformed events -------------------------------------------------------------------------------------------------


def test_a_malformed_response_is_an_error_naming_the_field() -> None:
    with pytest.raises(InvalidCloudTrailEvent) as raised:
        parse_cloudtrail_event(load_event("cloudtrail_invalid_run_instances"))

    assert str(raised.value) == "detail.responseElements.instancesSet.items[0].instanceId: Field required"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update({"detail-type": "EC2 Instance State-change Notification"}), "detail-type: expected"),
        (lambda e: e["detail"].pop("eventTime"), "detail.eventTime: Field required"),
        (lambda e: e["detail"].update(eventTime="2026-11-27T09:15:02"), "detail.eventTime: Input should have timezone"),
        (lambda e: e["detail"]["responseElements"].pop("instancesSet"), "detail.responseElements.instancesSet: Field"),
        (
            lambda e: e["detail"]["requestParameters"]["tagSpecificationSet"]["items"][0]["tags"][0].pop("key"),
            "detail.requestParameters.tagSpecificationSet.items[0].tags[0].key: Field required",
        ),
    ],
)
def test_each_malformed_event_names_its_bad_field(change: Any, message: str) -> None:
    event = copy.deepcopy(load_event("cloudtrail_run_instances"))
    change(event)

    with pytest.raises(InvalidCloudTrailEvent, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_cloudtrail_event(event)


def test_a_bare_cloudtrail_record_is_read_as_eventbridge_would_deliver_it() -> None:
    record = load_event("cloudtrail_create_volume")["detail"]

    call = parse_cloudtrail_event(record)

    assert (call.event.source, call.event.account, call.record.eventName) == ("aws.ec2", "555555555555", "CreateVolume")


@pytest.mark.parametrize(
    ("response", "ids"),
    [
        ({"snapshotSet": {"items": [{"snapshotId": "snap-1"}, {"snapshotId": "snap-2"}]}}, ["snap-1", "snap-2"]),
        ({"CreateSnapshotsResponse": {"snapshotSet": {"item": [{"snapshotId": "snap-1"}]}}}, ["snap-1"]),
        ({"CreateSnapshotsResponse": {"snapshotSet": {"item": {"snapshotId": "snap-3"}}}}, ["snap-3"]),
    ],
)
def test_create_snapshots_reads_either_response_shape(response: dict[str, Any], ids: list[str]) -> None:
    event = load_event("cloudtrail_create_snapshot")
    event["detail"].update(eventName="CreateSnapshots", responseElements=response)

    made = creation_of(parse_cloudtrail_event(event))

    assert isinstance(made, Creation)
    assert [r.id for r in made.resources] == ids


def test_the_forwarding_rule_matches_every_call_the_model_reads() -> None:
    names = event_names()

    assert set(names) == {"aws.ec2", "aws.rds"}
    assert {"RunInstances", "CreateVolume", "CreateSnapshot", "CreateSnapshots", "CreateImage"} <= set(names["aws.ec2"])
    assert {"CreateDBInstance", "CreateDBCluster"} <= set(names["aws.rds"])


# -- tag values --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("arn:aws:iam::1:role/Admin session jane@example.com", "arn:aws:iam::1:role/Admin session jane@example.com"),
        ("arn:aws:iam::1:role/Admin session a,b(c)", "arn:aws:iam::1:role/Admin session a_b_c_"),
        ("  two\twords\nhere ", "two words here"),
        ("aws:reserved", "_reserved"),
        ("RDS:reserved too", "_reserved too"),
        ("Ünïcödé letters stay", "Ünïcödé letters stay"),
        ("x" * 300, "x" * 256),
    ],
)
def test_tag_values_keep_to_what_every_service_accepts(text: str, value: str) -> None:
    assert tag_value(text) == value


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 27, 9, 15, 2, tzinfo=UTC),
        datetime(2026, 11, 27, 10, 15, 2, 999, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_created_at_is_the_event_time_in_utc_to_the_second(at: datetime) -> None:
    assert created_at_value(at) == "2026-11-27T09:15:02Z"


def test_a_naive_creation_time_is_a_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        created_at_value(datetime(2026, 11, 27, 9, 15))


# -- the tags to add ---------------------------------------------------------------------------------------------------


def found(tags: dict[str, str], type_: str = INSTANCE, id_: str = "i-0f1e2d3c4b5a69788") -> Found:
    return Found(id_, type_, tags)


CREATOR = "arn:aws:iam::444444444444:role/deploy/PaymentsDeployer session jane@example.com"


@pytest.mark.parametrize(
    ("tags", "principal", "add"),
    [
        # the creator's own team tag stays; owner comes from the role
        (
            {"Name": "checkout-api-1", "team": "payments"},
            {"team": "data", "owner": "jane@example.com"},
            {BY: CREATOR, AT: "2026-11-27T09:15:02Z", "owner": "jane@example.com"},
        ),
        # keys compare case-insensitively and trimmed: Team and " OWNER " count
        (
            {"Team": "payments", " OWNER ": "x"},
            {"team": "data", "owner": "y"},
            {BY: CREATOR, AT: "2026-11-27T09:15:02Z"},
        ),
        # already tagged by us (a redelivery, or a second run): nothing
        ({BY: "someone else", AT: "2026-01-01T00:00:00Z", "team": "payments", "owner": "z"}, {"team": "data"}, {}),
        # a principal without tags, or with an empty value, gives nothing to copy
        ({}, {"team": "", "cost-center": "CC-0001"}, {BY: CREATOR, AT: "2026-11-27T09:15:02Z"}),
        # the principal's key in another case is still its owner (written with the configured key)
        ({}, {"Owner": "jane@example.com"}, {BY: CREATOR, AT: "2026-11-27T09:15:02Z", "owner": "jane@example.com"}),
        ({}, None, {BY: CREATOR, AT: "2026-11-27T09:15:02Z"}),
    ],
)
def test_never_overwrites_a_tag_and_copies_only_what_is_missing(
    tags: dict[str, str], principal: dict[str, str] | None, add: dict[str, str]
) -> None:
    [decision] = decide(
        creation("run_instances"), [found(tags)], principal_tags=principal, config=CONFIG, safety=SAFETY
    )

    assert dict(decision.add) == add
    assert decision.skip is None


def test_a_tag_the_creator_asked_for_counts_even_before_it_shows_on_the_resource() -> None:
    # RunInstances asked for team=payments on the instance; the read (eventually consistent) shows no tags yet
    [decision] = decide(
        creation("run_instances"), [found({})], principal_tags={"team": "data"}, config=CONFIG, safety=SAFETY
    )

    assert "team" not in decision.add
    assert set(decision.add) == {BY, AT}


@pytest.mark.parametrize(
    ("tags", "skip"),
    [
        ({"environment": "prod"}, "prod (environment=prod): never changed"),
        ({"Environment": "Production"}, "prod (environment=Production): never changed"),
        ({"finops:protect": "true"}, "protected (finops:protect=true): never changed"),
        ({"FinOps:Protect": "1"}, "protected (finops:protect=1): never changed"),
    ],
)
def test_prod_and_protected_resources_are_never_tagged(tags: dict[str, str], skip: str) -> None:
    [decision] = decide(creation("run_instances"), [found(tags)], principal_tags=None, config=CONFIG, safety=SAFETY)

    assert decision.add == {}
    assert decision.skip == skip


def test_nothing_is_tagged_in_a_prod_account() -> None:
    decisions = decide(
        creation("run_instances"),
        [found({}), found({}, VOLUME, "vol-1")],
        principal_tags=None,
        config=CONFIG,
        safety=SAFETY,
        prod_account="listed in organization.prod_accounts",
    )

    assert [d.skip for d in decisions] == [
        "prod account (listed in organization.prod_accounts): nothing in it is changed"
    ] * 2
    assert all(d.add == {} for d in decisions)


def test_the_protect_tag_is_never_written_even_if_copy_tag_keys_names_it() -> None:
    config = AutoTaggerConfig(copy_tag_keys=("team", "finops:protect"))

    [decision] = decide(
        creation("run_instances"),
        [found({})],
        principal_tags={"finops:protect": "false", "team": "data"},
        config=config,
        safety=SAFETY,
    )

    assert "finops:protect" not in decision.add
    assert "finops:protect" not in allowed_keys(config, SAFETY)


def test_a_resource_that_would_pass_fifty_tags_is_left_alone_saying_why() -> None:
    [decision] = decide(
        creation("create_volume"),
        [found({f"k{i}": "v" for i in range(49)}, VOLUME, "vol-0a1b2c3d4e5f60789")],
        principal_tags=None,
        config=CONFIG,
        safety=SAFETY,
    )

    assert decision.add == {}
    assert decision.skip == "it has 49 tags: 2 more would pass the limit of 50"


def test_the_configured_keys_are_the_ones_written() -> None:
    config = AutoTaggerConfig(
        creator_tag_key="CreatedBy", created_at_tag_key="CreatedAt", copy_tag_keys=("cost-center",)
    )

    [decision] = decide(
        creation("create_volume"),
        [found({}, VOLUME, "vol-0a1b2c3d4e5f60789")],
        principal_tags={"cost-center": "CC-0042", "team": "data"},
        config=config,
        safety=SAFETY,
    )

    assert dict(decision.add) == {
        "CreatedBy": "arn:aws:iam::555555555555:user/maya",
        "CreatedAt": "2026-11-27T10:02:11Z",
        "cost-center": "CC-0042",
    }
