"""The auto-tagger end to end in the simulated Organization (moto): each sample event's call is made first
(tools/sim/cloudtrail.py), then the event runs through the engine's worker path in the event's account, through the
member role; and the handler as Lambda runs it (LocalHub), for the dead-letter queue and once-only delivery."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

from finops.aws.clients import AccountScope, AwsClients
from finops.engine.kill_switch import KillSwitch, NoKillSwitch
from finops.models.base import Mode
from finops.models.cloudtrail import parse_cloudtrail_event
from finops.models.config import FinOpsConfig
from finops.services.audit import MemoryAuditTrail, read_trail
from finops.services.auto_tagger import HUB_PERMISSIONS, MEMBER_PERMISSIONS
from finops.services.auto_tagger.run import AutoTagFailed, tag_from_event
from finops.services.once import Once, memory_once
from tests.conftest import load_event, record_calls
from tests.stacks.template_helpers import config_with
from tools.local_hub import LocalHub
from tools.sim.cloudtrail import replay

BY, AT = "finops:created-by", "finops:created-at"
ASSUMED = "arn:aws:iam::444444444444:role/deploy/PaymentsDeployer session jane@example.com"
MUTATING = {"ec2:CreateTags", "rds:AddTagsToResource", "ec2:DeleteTags", "rds:RemoveTagsFromResource"}


def run(
    event: dict[str, Any],
    config: FinOpsConfig,
    *,
    mode: Mode,
    audit: MemoryAuditTrail | None = None,
    once: Once | None = None,
    kill_switch: Any = None,
) -> dict[str, Any]:
    clients = AwsClients()
    return tag_from_event(
        parse_cloudtrail_event(event),
        config=config,
        mode=mode,
        scopes=clients,
        organizations=clients.client("organizations"),
        kill_switch=kill_switch or NoKillSwitch(),
        audit=audit if audit is not None else MemoryAuditTrail(clock=lambda: datetime.now(UTC)),
        once=once or memory_once(),
        actor="test",
    )


def tags_of_instance(sim: Any, instance_id: str, account: str = "444444444444") -> dict[str, str]:
    ec2 = sim.session(account, "eu-west-1").client("ec2")
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


def tags_of_volume(sim: Any, volume_id: str, account: str = "444444444444") -> dict[str, str]:
    [volume] = sim.session(account, "eu-west-1").client("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"]
    return {t["Key"]: t["Value"] for t in volume.get("Tags", [])}


_LOADER = botocore.loaders.create_loader()


@pytest.fixture(autouse=True)
def shared_service_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every session the code under test makes (its own, and each assumed role's) shares one botocore model loader,
    as the simulation's do: a fresh session would read the EC2 model again, a second or so each time."""
    original = boto3.Session

    def session(**kwargs: Any) -> boto3.Session:
        if "botocore_session" not in kwargs:
            core = botocore.session.get_session()
            core.register_component("data_loader", _LOADER)
            kwargs["botocore_session"] = core
        return original(**kwargs)

    monkeypatch.setattr(boto3, "Session", session)


@pytest.fixture
def deployer(sim: Any) -> None:
    """The role that made the sample RunInstances, with the team and owner tags the auto-tagger copies."""
    sim.session("444444444444").client("iam").create_role(
        RoleName="PaymentsDeployer",
        Path="/deploy/",
        AssumeRolePolicyDocument="{}",
        Tags=[{"Key": "team", "Value": "data"}, {"Key": "owner", "Value": "jane@example.com"}],
    )


@pytest.fixture
def launched(sim: Any, config: FinOpsConfig, deployer: None) -> dict[str, Any]:
    """The sample RunInstances, made in payments-staging eu-west-1: the event with the instance's real id."""
    return replay(sim, load_event("cloudtrail_run_instances"), config=config)


def instance_id(event: dict[str, Any]) -> str:
    return str(event["detail"]["responseElements"]["instancesSet"]["items"][0]["instanceId"])


@pytest.fixture
def member_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    return record_calls(monkeypatch, AccountScope, Counter())


# -- report and enforce -----------------------------------------------------------------------------------------------


def test_report_mode_changes_nothing_and_says_what_it_would_tag(sim, config, launched, member_calls):
    before = tags_of_instance(sim, instance_id(launched))
    audit = MemoryAuditTrail(clock=lambda: datetime.now(UTC))

    summary = run(launched, config, mode=Mode.REPORT, audit=audit)

    assert summary["mode"] == "report"
    assert summary["status"] == "done"
    assert summary["creator"] == ASSUMED
    [instance, volume] = summary["would_tag"]
    assert (instance["id"], instance["type"]) == (instance_id(launched), "ec2:instance")
    # the creator's own team=payments stays; the role's owner is copied
    assert instance["tags"] == {BY: ASSUMED, AT: "2026-11-27T09:15:02Z", "owner": "jane@example.com"}
    # the root volume (found through the instance) had no team: the role's is copied
    assert volume["type"] == "ec2:volume"
    assert volume["tags"] == {BY: ASSUMED, AT: "2026-11-27T09:15:02Z", "team": "data", "owner": "jane@example.com"}
    assert "tagged" not in summary
    assert not set(member_calls) & MUTATING
    assert audit.items == []
    assert tags_of_instance(sim, instance_id(launched)) == before


def test_enforce_tags_the_instance_and_its_volume_keeping_the_creators_own_tags(sim, config, launched):
    audit = MemoryAuditTrail(clock=lambda: datetime.now(UTC))

    summary = run(launched, config, mode=Mode.ENFORCE, audit=audit)

    assert summary["status"] == "done"
    [instance, volume] = summary["tagged"]
    assert tags_of_instance(sim, instance["id"]) == {
        "Name": "checkout-api-1",
        "team": "payments",  # the creator's, not the role's "data"
        BY: ASSUMED,
        AT: "2026-11-27T09:15:02Z",
        "owner": "jane@example.com",
    }
    assert tags_of_volume(sim, volume["id"]) == {
        "Name": "checkout-api-1-root",  # the creator's tagSpecificationSet for volumes
        BY: ASSUMED,
        AT: "2026-11-27T09:15:02Z",
        "team": "data",
        "owner": "jane@example.com",
    }
    records = {r["target"]: r for r in audit.items}
    assert set(records) == {f"444444444444/eu-west-1/{instance['id']}", f"444444444444/eu-west-1/{volume['id']}"}
    record = records[f"444444444444/eu-west-1/{instance['id']}"]
    assert record["action"] == "auto_tagger:tag"
    assert record["before"]["tags"] == {"Name": "checkout-api-1", "team": "payments"}
    assert record["after"] == {"verified": True, "tags": instance["tags"]}
    assert record["run_id"] == "event-0c2f7d8e-93b1-4a6e-b0d5-1c2e3f4a5b61"
    assert record["at"] == "2026-11-27T09:15:02+00:00"  # the event's time is the run's clock


def test_a_redelivered_event_tags_once_and_is_audited_once(sim, config, launched, member_calls):
    audit = MemoryAuditTrail(clock=lambda: datetime.now(UTC))
    once = memory_once()  # the idempotency table, keyed on the event id
    first = run(launched, config, mode=Mode.ENFORCE, audit=audit, once=once)
    member_calls.clear()

    again = run(launched, config, mode=Mode.ENFORCE, audit=audit, once=once)

    assert again == first
    assert len(audit.items) == 2
    assert not member_calls  # not even read again

    # and once the record has expired, a late redelivery finds the tags and plans nothing
    later = run(launched, config, mode=Mode.ENFORCE, audit=audit)

    assert later["tagged"] == []
    assert {s["reason"] for s in later["skipped"]} == {
        "already tagged: finops:created-by, finops:created-at, team, owner kept as they are"
    }
    assert len(audit.items) == 2
    assert "ec2:CreateTags" not in member_calls


@pytest.mark.parametrize(
    ("event", "identifier", "kept", "added"),
    [
        (
            "cloudtrail_create_db_instance",
            "feature-store-dev",
            {"team": "data", "environment": "dev", "Owner": "data-platform@example.com"},
            {BY: "arn:aws:iam::555555555555:role/DataPlatformTerraform session terraform", AT: "2026-11-27T11:21:47Z"},
        ),
        (
            "cloudtrail_federated_user",
            "clickstream-dev",
            {"team": "data"},
            {
                BY: "arn:aws:sts::555555555555:federated-user/bob issued by arn:aws:iam::555555555555:user/identity-broker",
                AT: "2026-11-27T12:44:30Z",
            },
        ),
    ],
)
def test_rds_instances_and_clusters_are_tagged_through_add_tags_to_resource(
    sim, config, member_calls, event, identifier, kept, added
):
    replayed = replay(sim, load_event(event), config=config)

    summary = run(replayed, config, mode=Mode.ENFORCE)

    [tagged] = summary["tagged"]
    assert (tagged["id"], tagged["tags"]) == (identifier, added)
    rds = sim.session("555555555555", "eu-west-1").client("rds")
    arn = f"arn:aws:rds:eu-west-1:555555555555:{'db' if 'instance' in event else 'cluster'}:{identifier}"
    assert {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]} == kept | added
    assert member_calls["rds:AddTagsToResource"] == 1


def test_a_volume_made_by_an_iam_user_and_a_snapshot_by_root(sim, config):
    volume = replay(sim, load_event("cloudtrail_create_volume"), config=config)
    snapshot = replay(sim, load_event("cloudtrail_create_snapshot"), config=config)

    by_maya = run(volume, config, mode=Mode.ENFORCE)
    by_root = run(snapshot, config, mode=Mode.ENFORCE)

    assert by_maya["tagged"][0]["tags"] == {BY: "arn:aws:iam::555555555555:user/maya", AT: "2026-11-27T10:02:11Z"}
    assert by_root["tagged"][0]["tags"] == {BY: "root of account 444444444444", AT: "2026-11-27T08:03:55Z"}
    assert by_root["notes"] == ["no tags copied from the creator: the root user has no tags"]
    assert by_root["region"] == "us-east-1"


# -- what is never touched --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "account", "reason"),
    [
        (
            {"organization": {"excluded_accounts": ["444444444444"]}},
            "444444444444",
            "account 444444444444 eu-west-1: listed in organization.excluded_accounts",
        ),
        (
            {},
            "111111111111",
            "account 111111111111 eu-west-1: the management account (organization.include_management_account is false)",
        ),
        (
            {"organization": {"exclude_account_tag": {"key": "environment", "values": ["staging"]}}},
            "444444444444",
            "account 444444444444 eu-west-1: account tag environment=staging (organization.exclude_account_tag)",
        ),
        (
            {"organization": {"regions": ["us-east-1"]}},
            "444444444444",
            "account 444444444444 eu-west-1: region eu-west-1 is not in organization.regions (us-east-1)",
        ),
    ],
)
def test_events_from_accounts_or_regions_that_are_not_targets_are_ignored_without_assuming_a_role(
    sim, config, monkeypatch, sections, account, reason
):
    hub_calls = record_calls(monkeypatch, AwsClients, Counter())
    event = json.loads(json.dumps(load_event("cloudtrail_run_instances")).replace("444444444444", account))

    summary = run(event, config_with(config, **sections), mode=Mode.ENFORCE)

    assert summary["status"] == "ignored"
    assert summary["ignored"] == reason
    assert summary["tagged"] == []
    assert "sts:AssumeRole" not in hub_calls


def test_an_excluded_ou_is_read_from_the_accounts_parents(sim, config):
    nonprod = sim.ou_ids["Workloads/NonProd"]
    event = load_event("cloudtrail_run_instances")

    summary = run(event, config_with(config, organization={"excluded_ous": [nonprod]}), mode=Mode.ENFORCE)

    assert summary["ignored"] == f"account 444444444444 eu-west-1: in excluded OU {nonprod} (organization.excluded_ous)"


def test_nothing_is_tagged_in_a_prod_account(sim, config, member_calls):
    # payments-prod carries the account tag environment=prod
    event = json.loads(json.dumps(load_event("cloudtrail_run_instances")).replace("444444444444", "333333333333"))
    event = replay(sim, event, config=config)

    summary = run(event, config, mode=Mode.ENFORCE)

    assert summary["tagged"] == []
    assert {s["reason"] for s in summary["skipped"]} == {
        "prod account (account tag environment=prod): nothing in it is changed"
    }
    assert not set(member_calls) & MUTATING


def test_the_kill_switch_pauses_the_tagging_and_says_what_it_held_back(sim, config, launched, member_calls):
    ssm = AwsClients().client("ssm")
    ssm.put_parameter(Name=config.safety.kill_switch_parameter, Value="on", Type="String")

    summary = run(launched, config, mode=Mode.ENFORCE, kill_switch=KillSwitch(ssm, config.safety.kill_switch_parameter))

    assert summary["status"] == "paused"
    assert "kill switch" in summary["error"]
    assert len(summary["would_tag"]) == 2
    assert not set(member_calls) & MUTATING
    assert BY not in tags_of_instance(sim, instance_id(launched))


def test_an_account_without_the_member_role_fails_loudly_for_lambda_to_retry(sim, config):
    # sandbox-legacy: the StackSet never reached it (the simulation denies AssumeRole there)
    event = json.loads(json.dumps(load_event("cloudtrail_run_instances")).replace("444444444444", "777777777777"))

    with pytest.raises(AutoTagFailed, match="cannot assume FinOpsMemberRole") as raised:
        run(event, config, mode=Mode.ENFORCE)

    assert raised.value.summary["status"] == "failed"
    assert raised.value.summary["account"] == "777777777777"


def test_a_resource_gone_before_the_event_is_handled_is_skipped_not_failed(sim, config, launched):
    sim.session("444444444444", "eu-west-1").client("ec2").terminate_instances(InstanceIds=[instance_id(launched)])

    summary = run(launched, config, mode=Mode.ENFORCE)

    assert summary["status"] == "done"
    assert {s["type"]: s["reason"] for s in summary["skipped"]}["ec2:instance"] == (
        "not found: gone before the event was handled, or not visible yet"
    )


def test_a_tag_set_between_the_read_and_the_tagging_is_kept(sim, config, launched, monkeypatch):
    # the creator tags the instance by hand while the auto-tagger plans: the apply's fresh read sees it
    from finops.services.auto_tagger import apply as apply_module

    real = apply_module.current_tags
    calls: list[int] = []

    def creator_tags_meanwhile(scope: Any, resources: Any) -> Any:
        if not calls:
            sim.session("444444444444", "eu-west-1").client("ec2").create_tags(
                Resources=[instance_id(launched)], Tags=[{"Key": "Finops:Created-By", "Value": "jane by hand"}]
            )
        calls.append(1)
        return real(scope, resources)

    monkeypatch.setattr(apply_module, "current_tags", creator_tags_meanwhile)

    summary = run(launched, config, mode=Mode.ENFORCE)

    instance = next(t for t in summary["tagged"] if t["type"] == "ec2:instance")
    assert BY not in instance["tags"]
    assert tags_of_instance(sim, instance_id(launched))["Finops:Created-By"] == "jane by hand"
    assert BY not in tags_of_instance(sim, instance_id(launched))


def api_error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://fault.invalid", 403, {}, None), {"Error": {"Code": code, "Message": message}}


def test_a_refused_tagging_call_is_a_failure_naming_the_resource(sim, config, launched, monkeypatch):
    original = AccountScope.client

    def refusing(self: AccountScope, service: str) -> Any:
        client = original(self, service)
        client.meta.events.register(
            "before-call.ec2.CreateTags", lambda **_: api_error("UnauthorizedOperation", "explicit deny in an SCP")
        )
        return client

    monkeypatch.setattr(AccountScope, "client", refusing)

    with pytest.raises(AutoTagFailed) as raised:
        run(launched, config, mode=Mode.ENFORCE)

    failed = raised.value.summary["failed"]
    assert {f["type"] for f in failed} == {"ec2:instance", "ec2:volume"}
    assert {f["error"] for f in failed} == {"not tagged: UnauthorizedOperation: explicit deny in an SCP"}
    assert raised.value.summary["tagged"] == []


# -- the IAM contract ------------------------------------------------------------------------------------------------


def test_the_calls_made_are_the_declared_permissions(sim, config, deployer, monkeypatch):
    member = record_calls(monkeypatch, AccountScope, Counter())
    hub = record_calls(monkeypatch, AwsClients, Counter())
    with_ous = config_with(config, organization={"prod_ous": [sim.ou_ids["Workloads/Prod"]]})  # the OU walk too
    for name in ("cloudtrail_run_instances", "cloudtrail_create_db_instance", "cloudtrail_federated_user"):
        event = replay(sim, load_event(name), config=config)
        run(event, with_ous, mode=Mode.ENFORCE)
    image = load_event("cloudtrail_create_snapshot")
    image["detail"].update(eventName="CreateImage", responseElements={"imageId": "ami-0123456789abcdef0"})
    image["detail"]["awsRegion"] = image["region"] = "eu-west-1"
    run(replay(sim, image, config=config), with_ous, mode=Mode.ENFORCE)

    assert set(member) == set(MEMBER_PERMISSIONS)
    assert {c for c in hub if c.startswith("organizations:")} == set(HUB_PERMISSIONS)
    assert {c.split(":")[0] for c in hub} == {"organizations", "sts"}  # and nothing else but the role


# -- the handler, as Lambda runs it ----------------------------------------------------------------------------------


def emitted(capsys: pytest.CaptureFixture[str], metric: str) -> int:
    total = 0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            total += int(sum(json.loads(line).get(metric, [0])))
    return total


def test_an_unparseable_event_is_retried_then_kept_with_its_reason_and_counted_once(hub: LocalHub, capsys):
    event = load_event("cloudtrail_invalid_run_instances")

    run_ = hub.invoke("auto_tagger", event)

    assert (run_.error_type, run_.attempts) == ("InvalidCloudTrailEvent", 3)
    reason = "detail.responseElements.instancesSet.items[0].instanceId: Field required"
    [message] = hub.sqs.receive_message(QueueUrl=hub.function_dlq_urls["auto_tagger"])["Messages"]
    kept = json.loads(message["Body"])
    assert kept["requestPayload"] == event
    assert kept["responsePayload"]["errorMessage"] == reason
    assert emitted(capsys, "InvalidEvents") == 1

    hub.invoke("auto_tagger", event)  # EventBridge delivers the same event again
    assert emitted(capsys, "InvalidEvents") == 0


def test_the_deployed_handler_tags_once_per_event_id(sim, config, deployer, tmp_path: Path, capsys):
    enforcing = LocalHub(config_with(config, capabilities={"auto_tagger": {"mode": "enforce"}}), tmp_path)
    event = replay(sim, load_event("cloudtrail_run_instances"), config=config)

    first = enforcing.invoke("auto_tagger", event)
    again = enforcing.invoke("auto_tagger", event)

    assert first.error is None, first.error
    assert again.result == first.result
    assert [t["type"] for t in first.result["tagged"]] == ["ec2:instance", "ec2:volume"]
    trail = read_trail(enforcing.dynamodb, enforcing.audit_table)
    assert sorted(r["target"].rsplit("/", 1)[1] for r in trail) == sorted(t["id"] for t in first.result["tagged"])
    assert emitted(capsys, "ResourcesAutoTagged") == 2


def test_a_failed_call_is_ignored_by_the_handler_with_its_reason(hub: LocalHub):
    run_ = hub.invoke("auto_tagger", load_event("cloudtrail_run_instances_failed"))

    assert run_.error is None
    assert run_.result["status"] == "ignored"
    assert run_.result["ignored"] == "the call failed (Client.UnauthorizedOperation): it created nothing"


Replay = Callable[..., dict[str, Any]]


def test_an_event_from_outside_the_simulated_organization_is_replayed_in_one_of_its_accounts(sim, config, capsys):
    event = json.loads(json.dumps(load_event("cloudtrail_create_volume")).replace("555555555555", "123456789012"))

    replayed = replay(sim, event, config=config)

    err = capsys.readouterr().err
    assert "the event's account 123456789012 is not in the simulated Organization: replaying it in" in err
    account = replayed["account"]
    assert account in {a.id for a in sim.estate.accounts}
    assert account != "333333333333"  # not the prod account
    assert replayed["detail"]["userIdentity"]["arn"] == f"arn:aws:iam::{account}:user/maya"
    volume_id = replayed["detail"]["responseElements"]["volumeId"]
    assert tags_of_volume(sim, volume_id, account) == {"Name": "feature-store-scratch"}
