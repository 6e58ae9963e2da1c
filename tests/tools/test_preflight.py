"""`make preflight`: what an Organization already has that a deploy collides with or depends on, each with its fix.

Three tiers: the pure decisions, table-driven; the whole preflight against moto (and, where moto has no
implementation, DescribeResourcePolicy, GetAnomalyMonitors and ListCostAllocationTags, recorded responses shaped like
the real API, validated against botocore's output shapes, with their requests asserted) while a before-send hook
fails the test on any operation that is not Describe/List/Get; and the command's output and exit codes.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters
from moto import mock_aws

from finops.aws.clients import AwsClients
from finops.aws.organizations import Enumeration
from finops.engine.model import Target
from finops.models.config import FinOpsConfig, parse_config
from tests.conftest import ROOT
from tools import preflight as pf
from tools.org_policy import hub_statement

MANAGEMENT = "123456789012"  # moto's account for the default credentials: it creates the Organization
SERVICES_MONITOR = "arn:aws:ce::123456789012:anomalymonitor/0e8e5b7a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
LINKED_MONITOR = "arn:aws:ce::123456789012:anomalymonitor/1f9f6c8b-5d6e-4f70-9bac-1d2e3f4a5b6c"


def config_with(**changes: Any) -> FinOpsConfig:
    """The shipped finops.yaml for moto's Organization, with ``changes`` as {"section.key": value}."""
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    data["organization"].update(management_account_id=MANAGEMENT, automation_account_id="210987654321")
    data["notifications"]["account_teams"] = {}
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return parse_config(data, source="test.yaml")


def by_id(findings: list[pf.Finding] | list[dict[str, Any]]) -> dict[str, Any]:
    return {(f.id if isinstance(f, pf.Finding) else f["id"]): f for f in findings}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


OTHER_STATEMENT = {"Sid": "SecurityToolRead", "Effect": "Allow", "Principal": {"AWS": "333333333333"}, "Action": "*"}


# --- The pure decisions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manage", "content", "deployed", "status", "says"),
    [
        (True, None, False, "ok", "FinOpsManagement creates it"),
        (False, None, False, "warn", "manage_resource_policy: true, or put the statement"),
        (True, policy(OTHER_STATEMENT), False, "blocker", "manage_resource_policy: false and merge the statement"),
        (True, "ours", True, "ok", "FinOpsManagement's own"),
        (True, "ours", False, "blocker", "manage_resource_policy: false"),  # ours by hand, or a leftover: it collides
        (False, policy(OTHER_STATEMENT), False, "warn", "merge the statement `make org-resource-policy"),
        (False, "ours+other", False, "ok", "holds the FinOpsHubReadOnly statement"),
        (False, "stale", False, "warn", "replace it with the statement"),
    ],
)
def test_the_resource_policy_finding_says_what_to_set_and_merge(manage, content, deployed, status, says):
    config = config_with(**{"organization.manage_resource_policy": manage})
    ours = hub_statement(config)
    ours_as_aws_returns_it = {**ours, "Principal": {"AWS": f"arn:aws:iam::{ours['Principal']['AWS']}:root"}}
    content = {
        "ours": policy(ours),
        "ours+other": policy(OTHER_STATEMENT, ours_as_aws_returns_it),
        "stale": policy({**ours, "Principal": {"AWS": "999999999999"}}),
    }.get(content, content)

    finding = pf.resource_policy_finding(config, content, stack_deployed=deployed, config_path="acme.yaml")

    assert finding.status == status
    assert says in f"{finding.what} {finding.fix}"
    if status == "blocker":
        assert finding.fix.startswith("in acme.yaml, set organization.manage_resource_policy: false")
        assert "make org-resource-policy CONFIG=acme.yaml" in finding.fix


def monitor(arn: str, name: str, dimension: str | None, kind: str = "DIMENSIONAL") -> dict[str, Any]:
    return {"MonitorArn": arn, "MonitorName": name, "MonitorType": kind, "MonitorDimension": dimension}


def test_an_existing_services_monitor_is_a_blocker_whose_fix_reuses_it_by_arn():
    config = config_with()  # as shipped: services and linked_accounts monitors of our own
    default = monitor(SERVICES_MONITOR, "Default-Services-Monitor", "SERVICE")

    found = by_id(pf.monitor_findings(config, [default], stack_deployed=False, config_path="acme.yaml"))

    service = found["anomaly-monitor:SERVICE"]
    assert service.status == "blocker"
    assert "'Default-Services-Monitor'" in service.what
    assert SERVICES_MONITOR in service.what
    assert service.fix == (
        "reuse it: in acme.yaml, set capabilities.anomaly_alerts.monitors: "
        f'{{existing_arns: ["{SERVICES_MONITOR}"], linked_accounts: true}}'
    )
    assert found["anomaly-monitor:LINKED_ACCOUNT"].status == "ok"  # no linked-account monitor: ours is created


def test_the_fix_it_proposes_is_a_config_that_then_passes():
    default = monitor(SERVICES_MONITOR, "Default-Services-Monitor", "SERVICE")
    fixed = config_with(
        **{"capabilities.anomaly_alerts.monitors": {"existing_arns": [SERVICES_MONITOR], "linked_accounts": True}}
    )

    found = pf.monitor_findings(fixed, [default], stack_deployed=False, config_path="acme.yaml")

    assert {f.id: f.status for f in found} == {
        "anomaly-monitor:LINKED_ACCOUNT": "ok",
        f"anomaly-monitor:{SERVICES_MONITOR}": "ok",
    }


def test_monitors_of_both_dimensions_are_both_reused_and_custom_monitors_do_not_collide():
    found = pf.monitor_findings(
        config_with(),
        [
            monitor(SERVICES_MONITOR, "Default-Services-Monitor", "SERVICE"),
            monitor(LINKED_MONITOR, "accounts", "LINKED_ACCOUNT"),
            monitor("arn:aws:ce::123456789012:anomalymonitor/x", "payments", None, kind="CUSTOM"),
        ],
        stack_deployed=False,
        config_path="f.yaml",
    )

    assert [f.status for f in found] == ["blocker", "blocker"]
    assert found[0].fix == found[1].fix
    assert f'existing_arns: ["{SERVICES_MONITOR}", "{LINKED_MONITOR}"]}}' in found[0].fix


def test_our_own_monitors_from_a_deployed_stack_are_not_a_collision_and_a_missing_arn_is():
    ours = [
        monitor(SERVICES_MONITOR, "finops-services", "SERVICE"),
        monitor(LINKED_MONITOR, "finops-linked-accounts", "LINKED_ACCOUNT"),
    ]
    assert {f.status for f in pf.monitor_findings(config_with(), ours, stack_deployed=True, config_path="f")} == {"ok"}

    gone = config_with(**{"capabilities.anomaly_alerts.monitors": {"existing_arns": [SERVICES_MONITOR]}})
    [finding] = pf.monitor_findings(gone, [], stack_deployed=False, config_path="f")
    assert finding.status == "blocker"
    assert "existing_arns[0]" in finding.what
    assert "aws ce get-anomaly-monitors" in finding.fix


@pytest.mark.parametrize(
    ("selectors", "logged"),
    [
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, "All"),  # no custom selectors: AWS's default
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, "All"),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, "WriteOnly"),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False, "DataResources": [{}]}]}, None),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
                ]
            },
            "All",
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]},
                        ]
                    },
                ]
            },
            "ReadOnly",
        ),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]}, None),
    ],
)
def test_management_events_from_event_selectors(selectors, logged):
    assert pf.management_events(selectors) == logged


def trail(**overrides: Any) -> pf.Trail:
    values: dict[str, Any] = {
        "name": "org",
        "arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/org",
        "organization": True,
        "multi_region": True,
        "logging": True,
        "management_events": "All",
    }
    return pf.Trail(**{**values, **overrides})


@pytest.mark.parametrize(
    ("trails", "status", "says"),
    [
        ([trail()], "ok", "logs management events in every region"),
        ([], "warn", "aws cloudtrail create-trail --name organization-trail"),
        ([trail(logging=False)], "warn", "aws cloudtrail start-logging --name arn:aws:cloudtrail"),
        ([trail(multi_region=False)], "warn", "update-trail --name arn:aws:cloudtrail:us-east-1:123456789012:trail"),
        ([trail(management_events="ReadOnly")], "warn", "IncludeManagementEvents true"),
        ([trail(organization=False), trail(name="good")], "ok", "the organization trail good"),
    ],
)
def test_the_trail_the_auto_tagger_needs(trails, status, says):
    finding = pf.trail_finding(trails)

    assert finding.status == status
    assert says in f"{finding.what} {finding.fix}"


def test_policy_types_not_enabled_on_the_root_say_the_command_with_the_root_id():
    roots = [{"Id": "r-ab12", "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]

    found = by_id(pf.policy_type_findings(roots))

    assert found["policy-type:SERVICE_CONTROL_POLICY"].status == "ok"
    assert found["policy-type:TAG_POLICY"].status == "warn"
    assert found["policy-type:TAG_POLICY"].fix == (
        "aws organizations enable-policy-type --root-id r-ab12 --policy-type TAG_POLICY"
    )


def test_stacksets_trusted_access_missing_is_a_blocker():
    assert pf.stacksets_finding([pf.STACKSETS_PRINCIPAL, "sso.amazonaws.com"]).status == "ok"
    finding = pf.stacksets_finding(["sso.amazonaws.com"])
    assert finding.status == "blocker"
    assert finding.fix == "in the management account: aws cloudformation activate-organizations-access"


def test_a_delegated_stacksets_administrator_must_be_registered():
    assert pf.delegated_admin_finding("444444444444", ["333333333333", "444444444444"]).status == "ok"
    finding = pf.delegated_admin_finding("444444444444", ["333333333333"])
    assert finding.status == "blocker"
    assert finding.fix == (
        "in the management account: aws organizations register-delegated-administrator --service-principal "
        "member.org.stacksets.cloudformation.amazonaws.com --account-id 444444444444"
    )


def test_each_taxonomy_key_must_be_an_active_cost_allocation_tag():
    tags = [{"TagKey": "team", "Status": "Active"}, {"TagKey": "environment", "Status": "Inactive"}]

    found = by_id(pf.cost_allocation_findings(config_with(), tags))

    assert found["cost-allocation-tag:team"].status == "ok"
    assert found["cost-allocation-tag:environment"].status == "warn"
    assert found["cost-allocation-tag:environment"].fix == (
        "aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey=environment,Status=Active"
    )
    assert "not in the billing data yet" in found["cost-allocation-tag:cost-center"].what
    assert set(found) == {f"cost-allocation-tag:{key}" for key in ("team", "environment", "cost-center", "owner")}


def test_accounts_without_a_team_are_named_with_the_tag_command_for_each():
    enumeration = Enumeration(
        targets=[
            Target("444444444444", "eu-west-1", name="sandbox"),
            Target("444444444444", "us-east-1", name="sandbox"),  # one account, two regions: named once
            Target("555555555555", "eu-west-1", name="analytics", team="data"),
            Target("666666666666", "eu-west-1", name="ml", team="ml"),
        ]
    )

    found = by_id(pf.team_findings(config_with(), enumeration, "acme.yaml"))

    missing = found["account-teams"]
    assert missing.status == "warn"
    assert missing.what.startswith("1 of 3 account(s) in scope have no 'team' tag")
    assert "444444444444 (sandbox)" in missing.what
    assert "#finops-alerts" in missing.what
    assert "aws organizations tag-resource --resource-id 444444444444 --tags Key=team,Value=<team>" in missing.fix
    unrouted = found["account-team-routes"]
    assert unrouted.status == "warn"
    assert "team(s) ml own accounts in scope (666666666666 (ml))" in unrouted.what


@pytest.mark.parametrize(
    ("value", "status"), [(None, "ok"), ("off", "ok"), (" OFF ", "ok"), ("on", "warn"), ("paused", "warn")]
)
def test_the_kill_switch_state(value, status):
    finding = pf.kill_switch_finding("/finops/kill-switch", value)

    assert finding.status == status
    if status == "warn":
        assert "aws ssm put-parameter --name /finops/kill-switch --value off --overwrite" in finding.fix


def test_a_config_for_another_organization_is_a_blocker_naming_the_key_to_set():
    organization = {"Id": "o-abcdefghij", "MasterAccountId": "999999999999", "FeatureSet": "ALL"}
    config = config_with(**{"organization.organization_id": "o-zzzzzzzzzz"})

    found = by_id(pf.organization_findings(config, organization, "acme.yaml"))

    assert found["management-account"].status == "blocker"
    assert found["management-account"].fix == 'in acme.yaml, set organization.management_account_id: "999999999999"'
    assert found["organization-id"].status == "blocker"
    assert found["organization-id"].fix == "in acme.yaml, set organization.organization_id: o-abcdefghij"


# --- The whole preflight against moto, read-only -----------------------------------------------------------------


@dataclass
class Recorded:
    """Answers for the operations moto does not implement, shaped like the real API; every request is kept."""

    answers: dict[str, dict[str, Any]]
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.name not in self.answers:
            return None
        body = params.get("body") or b"{}"
        self.requests.setdefault(model.name, []).append(json.loads(body))
        answer = self.answers[model.name]
        if "Error" in answer:
            return AWSResponse(params["url"], 400, {}, None), {**answer, "ResponseMetadata": {"HTTPStatusCode": 400}}
        validate_parameters(answer, model.output_shape)  # fails the test if the recording is not the API's shape
        return AWSResponse(params["url"], 200, {}, None), {**answer, "ResponseMetadata": {"HTTPStatusCode": 200}}


RESOURCE_POLICY = {
    "ResourcePolicy": {
        "ResourcePolicySummary": {
            "Id": "rp-a1b2c3d4",
            "Arn": "arn:aws:organizations::123456789012:resourcepolicy/o-a1b2c3d4e5/rp-a1b2c3d4",
        },
        "Content": policy(OTHER_STATEMENT),
    }
}
MONITORS = {
    "AnomalyMonitors": [
        {
            "MonitorArn": SERVICES_MONITOR,
            "MonitorName": "Default-Services-Monitor",
            "CreationDate": "2025-06-02T09:12:44Z",
            "LastEvaluatedDate": "2026-11-26",
            "MonitorType": "DIMENSIONAL",
            "MonitorDimension": "SERVICE",
            "DimensionalValueCount": 57,
        }
    ]
}
COST_ALLOCATION_TAGS = {
    "CostAllocationTags": [
        {"TagKey": "team", "Type": "UserDefined", "Status": "Active", "LastUpdatedDate": "2026-01-10T08:00:00Z"},
        {"TagKey": "environment", "Type": "UserDefined", "Status": "Inactive", "LastUsedDate": "2026-11-25T00:00:00Z"},
    ]
}


@dataclass
class Watched:
    recorded: Recorded
    sent: list[str] = field(default_factory=list)  # every operation that reached moto, as service:Operation


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watched]:
    """Inside moto: every client AwsClients makes answers the recorded operations and fails the test when a request
    that is not Describe/List/Get is about to be sent."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    recorded = Recorded(
        {
            "DescribeResourcePolicy": RESOURCE_POLICY,
            "GetAnomalyMonitors": MONITORS,
            "ListCostAllocationTags": COST_ALLOCATION_TAGS,
        }
    )
    watch = Watched(recorded)
    make = AwsClients.client

    def read_only_sends(request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.split(".")[-1]
        watch.sent.append(f"{event_name.split('.')[1]}:{operation}")
        assert operation.startswith(("Describe", "List", "Get")), f"preflight sent {operation}"

    def watching(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = make(self, service, region)
        client.meta.events.register("before-call", recorded)
        client.meta.events.register_first("before-send", read_only_sends)
        return client

    monkeypatch.setattr(AwsClients, "client", watching)
    with mock_aws():
        yield watch


@dataclass(frozen=True)
class Organization:
    accounts: dict[str, str]  # name -> id
    root: str
    hub: AwsClients


def seed(*, stacksets: bool = False) -> Organization:
    """Moto's Organization: three members (one owned by team data, one by an unrouted team, one unowned), TAG_POLICY
    enabled, an organization trail that is not logging, the kill switch on in the hub account."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    accounts = {}
    for name, team in (("sandbox", None), ("analytics", "data"), ("ml", "ml")):
        created = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        accounts[name] = created["AccountId"]
        if team:
            org.tag_resource(ResourceId=accounts[name], Tags=[{"Key": "team", "Value": team}])
    org.enable_policy_type(RootId=root, PolicyType="TAG_POLICY")
    if stacksets:
        org.enable_aws_service_access(ServicePrincipal=pf.STACKSETS_PRINCIPAL)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="org-trail-logs")
    boto3.client("cloudtrail", region_name="us-east-1").create_trail(
        Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True, IsOrganizationTrail=True
    )
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{accounts['sandbox']}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
    )["Credentials"]
    hub_session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )
    hub_session.client("ssm").put_parameter(Name="/finops/kill-switch", Value="on", Type="String")
    return Organization(accounts, root, AwsClients(hub_session))


def test_preflight_reports_every_collision_and_dependency_and_sends_only_reads(watched):
    organization = seed()
    config = config_with(**{"organization.automation_account_id": organization.accounts["sandbox"]})

    document = pf.preflight(config, AwsClients(), hub=organization.hub, config_path="acme.yaml")

    found = by_id(document["findings"])
    statuses = {finding_id: f["status"] for finding_id, f in found.items()}
    assert statuses == {
        "credentials": "ok",
        "management-account": "ok",
        "organization-id": "ok",
        "resource-policy": "blocker",
        "anomaly-monitor:SERVICE": "blocker",
        "anomaly-monitor:LINKED_ACCOUNT": "ok",
        "cloudtrail": "warn",
        "policy-type:TAG_POLICY": "ok",
        "policy-type:SERVICE_CONTROL_POLICY": "warn",
        "stacksets-trusted-access": "blocker",
        "cost-allocation-tag:team": "ok",
        "cost-allocation-tag:environment": "warn",
        "cost-allocation-tag:cost-center": "warn",
        "cost-allocation-tag:owner": "warn",
        "account-teams": "warn",
        "account-team-routes": "warn",
        "kill-switch": "warn",
    }
    assert document["counts"] == {"ok": 6, "warn": 8, "blocker": 3}
    assert document["caller"]["account"] == MANAGEMENT
    assert document["caller"]["organization"].startswith("o-")
    assert "SecurityToolRead" in found["resource-policy"]["what"]
    assert SERVICES_MONITOR in found["anomaly-monitor:SERVICE"]["fix"]
    assert (
        "start-logging --name arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail" in found["cloudtrail"]["fix"]
    )
    assert (
        f"--root-id {organization.root} --policy-type SERVICE_CONTROL_POLICY"
        in found["policy-type:SERVICE_CONTROL_POLICY"]["fix"]
    )
    assert f"{organization.accounts['sandbox']} (sandbox)" in found["account-teams"]["what"]
    assert "'on': engaged" in found["kill-switch"]["what"]
    # The recorded operations were asked what the real API is asked.
    assert watched.recorded.requests["ListCostAllocationTags"] == [
        {"TagKeys": ["team", "environment", "cost-center", "owner"], "Type": "UserDefined"}
    ]
    assert watched.recorded.requests["GetAnomalyMonitors"] == [{}]
    assert watched.recorded.requests["DescribeResourcePolicy"] == [{}]
    # Everything else went to moto, and all of it was a read (the hook fails the test otherwise).
    assert {"organizations:ListRoots", "cloudtrail:GetEventSelectors", "ssm:GetParameter"} <= set(watched.sent)
    assert not {sent.split(":")[1] for sent in watched.sent} & set(watched.recorded.answers)


def test_a_fixed_organization_has_no_blocker(watched):
    organization = seed(stacksets=True)
    watched.recorded.answers["DescribeResourcePolicy"] = {
        "Error": {"Code": "ResourcePolicyNotFoundException", "Message": "You have no resource policy."}
    }
    config = config_with(
        **{
            "organization.automation_account_id": organization.accounts["sandbox"],
            "capabilities.anomaly_alerts.monitors": {"existing_arns": [SERVICES_MONITOR], "linked_accounts": True},
        }
    )

    document = pf.preflight(config, AwsClients(), hub=organization.hub, config_path="acme.yaml")

    assert document["counts"]["blocker"] == 0, [f for f in document["findings"] if f["status"] == "blocker"]
    found = by_id(document["findings"])
    assert found["resource-policy"]["what"] == "the Organization has no resource policy: FinOpsManagement creates it"
    assert found[f"anomaly-monitor:{SERVICES_MONITOR}"]["status"] == "ok"


def test_a_delegated_stacksets_administrator_is_checked_against_the_organizations_registrations(watched):
    # Given the StackSets administered from a member account
    organization = seed(stacksets=True)
    delegated = organization.accounts["analytics"]
    config = config_with(
        **{
            "organization.automation_account_id": organization.accounts["sandbox"],
            "organization.stacksets": {"administrator": "delegated", "delegated_admin_account_id": delegated},
        }
    )
    # moto refuses to register the StackSets principal, so its registrations are recorded answers
    registered = {
        "DelegatedAdministrators": [
            {
                "Id": delegated,
                "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-a1b2c3d4e5/{delegated}",
                "Name": "analytics",
                "Status": "ACTIVE",
                "JoinedMethod": "CREATED",
            }
        ]
    }

    watched.recorded.answers["ListDelegatedAdministrators"] = {"DelegatedAdministrators": []}
    before = by_id(pf.preflight(config, AwsClients(), config_path="acme.yaml")["findings"])
    watched.recorded.answers["ListDelegatedAdministrators"] = registered
    after = by_id(pf.preflight(config, AwsClients(), config_path="acme.yaml")["findings"])

    assert before["stacksets-delegated-admin"]["status"] == "blocker"
    assert f"--account-id {delegated}" in before["stacksets-delegated-admin"]["fix"]
    assert after["stacksets-delegated-admin"]["status"] == "ok"
    assert watched.recorded.requests["ListDelegatedAdministrators"][0] == {"ServicePrincipal": pf.STACKSETS_PRINCIPAL}
    # administered from the management account (the shipped config), there is nothing to check
    assert "stacksets-delegated-admin" not in by_id(pf.preflight(config_with(), AwsClients())["findings"])


def test_a_refused_read_is_a_warning_that_it_was_not_checked_with_the_action_and_the_command(watched):
    seed()
    watched.recorded.answers["GetAnomalyMonitors"] = {
        "Error": {"Code": "AccessDeniedException", "Message": "User is not authorized to perform ce:GetAnomalyMonitors"}
    }

    document = pf.preflight(config_with(), AwsClients(), config_path="acme.yaml")

    finding = by_id(document["findings"])["anomaly-monitors"]
    assert finding["status"] == "warn"
    assert finding["what"].startswith("not checked: GetAnomalyMonitors failed (AccessDeniedException: User is not")
    assert finding["fix"].startswith("allow these credentials ce:GetAnomalyMonitors")
    assert "aws ce get-anomaly-monitors --query" in finding["fix"]
    kill_switch = by_id(document["findings"])["kill-switch"]  # no hub credentials given
    assert kill_switch["status"] == "warn"
    assert "HUB_PROFILE=" in kill_switch["fix"]


def test_credentials_of_another_account_are_a_blocker_and_its_own_monitors_are_not_read(watched):
    seed()
    config = config_with(**{"organization.management_account_id": "999999999999"})

    document = pf.preflight(config, AwsClients(), config_path="acme.yaml")

    found = by_id(document["findings"])
    assert found["credentials"]["status"] == "blocker"
    assert found["management-account"]["fix"] == f'in acme.yaml, set organization.management_account_id: "{MANAGEMENT}"'
    assert found["anomaly-monitors"]["what"].startswith("not checked: it is the management account's (999999999999)")
    assert "GetAnomalyMonitors" not in watched.recorded.requests


def test_the_clients_refuse_a_write_before_it_is_sent(watched):
    clients = pf.ReadOnlyClients(AwsClients())

    with pytest.raises(pf.NotReadOnly, match="refusing ssm:PutParameter"):
        clients.client("ssm").put_parameter(Name="/finops/kill-switch", Value="off", Type="String")

    assert "ssm:PutParameter" not in watched.sent


# --- The command ---------------------------------------------------------------------------------------------------


def test_the_command_prints_one_json_document_and_a_table_and_exits_1_on_a_blocker(watched, tmp_path: Path):
    seed()
    config_file = tmp_path / "acme.yaml"
    data = yaml.safe_load((ROOT / "finops.yaml").read_text())
    data["organization"].update(management_account_id=MANAGEMENT, automation_account_id="210987654321")
    data["notifications"]["account_teams"] = {}
    config_file.write_text(yaml.safe_dump(data))
    out, err = io.StringIO(), io.StringIO()

    code = pf.main(["--config", str(config_file)], out=out, err=err)

    assert code == pf.EXIT_BLOCKER
    document = json.loads(out.getvalue())
    assert set(document) == {"caller", "config", "counts", "findings"}
    assert all(set(f) == {"id", "status", "what", "fix"} for f in document["findings"])
    table = err.getvalue()
    assert table.splitlines()[2].split() == ["STATUS", "CHECK", "WHAT"]
    assert "BLOCKER  stacksets-trusted-access" in table
    assert "fix: in the management account: aws cloudformation activate-organizations-access" in table
    assert table.rstrip().endswith("3 blocker: blockers: fix them before deploying")


def test_an_invalid_config_exits_2_naming_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "finops.yaml").read_text().replace('management_account_id: "111111111111"', "x: 1"))
    err = io.StringIO()

    assert pf.main(["--config", str(bad)], out=io.StringIO(), err=err) == pf.EXIT_BAD_INPUT
    assert "management_account_id" in err.getvalue()


def test_make_preflight_passes_the_config_and_the_profiles():
    done = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "preflight",
            "CONFIG=acme.yaml",
            "MANAGEMENT_PROFILE=m",
            "HUB_PROFILE=h",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    [command] = [line for line in done.stdout.splitlines() if "tools.preflight" in line]
    assert command.endswith("-m tools.preflight --config acme.yaml --management-profile m --hub-profile h")
