"""`make preflight`: before a deploy, what the Organization already has that the stacks collide with or depend on.

Read-only: every client it makes refuses any operation but Describe*, List* and Get* (a test runs it against moto
and watches every request). Run it with the management account's credentials, like `make run` (the standard chain:
``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, or ``--management-profile``); ``--hub-profile`` names a
profile of the automation account to read the kill switch there.

Each finding has an ``id``, a ``status`` (``ok``, ``warn``: look at it, the deploy works; ``blocker``: the deploy
fails or the product cannot work), ``what`` it found and the exact ``fix``. A check whose read is refused or fails is
a ``warn`` saying it was not checked, the action it needs and the command to check by hand.

stdout: one JSON document ``{"caller", "config", "counts", "findings"}``; stderr: the same as a table.
Exit codes: 0 no blocker; 1 at least one blocker; 2 the config is invalid (each problem with its key path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.clients import AwsClients
from finops.aws.organizations import Enumeration, enumerate_targets
from finops.engine.kill_switch import RELEASED_VALUES
from finops.models.config import ConfigError, FinOpsConfig, StackSetAdministrator, load_config
from stacks.constructs.organizations_delegation import STATEMENT_ID
from stacks.naming import ALERTS_REGION
from tools.org_policy import hub_statement

Status = Literal["ok", "warn", "blocker"]
EXIT_BLOCKER, EXIT_BAD_INPUT = 1, 2
READ_ONLY = ("Describe", "List", "Get")
MANAGEMENT_STACK = "FinOpsManagement"
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
# Our monitors by config key, with the dimension AWS allows one DIMENSIONAL monitor of per account.
OUR_MONITORS = {
    "services": ("SERVICE", "finops-services"),
    "linked_accounts": ("LINKED_ACCOUNT", "finops-linked-accounts"),
}
MAX_LISTED = 5  # accounts named one by one in a finding; the rest are counted


class NotReadOnly(RuntimeError):
    """A preflight tried an operation that is not Describe*, List* or Get*: a bug, never sent."""


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    status: Status
    what: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- The facts read from AWS, as plain data --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trail:
    name: str
    arn: str
    organization: bool
    multi_region: bool
    logging: bool
    management_events: str | None  # "All", "WriteOnly", "ReadOnly", or None: no management events


# --- Pure decisions ------------------------------------------------------------------------------------------------


def credentials_finding(config: FinOpsConfig, caller_account: str) -> Finding:
    management = config.organization.management_account_id
    if caller_account == management:
        return Finding("credentials", "ok", f"the credentials are the management account's ({management})")
    return Finding(
        "credentials",
        "blocker",
        f"the credentials are account {caller_account}, not organization.management_account_id ({management}): the "
        "resource policy, the anomaly monitors and the cost allocation tags can be read only there",
        f"run `make preflight` with the management account's credentials (AWS_PROFILE=<a profile for {management}>)",
    )


def organization_findings(config: FinOpsConfig, organization: Mapping[str, Any], config_path: str) -> list[Finding]:
    """The config's management account and Organization id against the Organization's, and its feature set."""
    found: list[Finding] = []
    actual, configured = organization["MasterAccountId"], config.organization.management_account_id
    if actual == configured:
        found.append(Finding("management-account", "ok", f"organization.management_account_id {configured} manages it"))
    else:
        found.append(
            Finding(
                "management-account",
                "blocker",
                f"the Organization's management account is {actual}, the config says {configured}: the anomaly topic "
                "policy, the budgets topic and the hub's subscriptions would name the wrong account",
                f'in {config_path}, set organization.management_account_id: "{actual}"',
            )
        )
    org_id, wanted = organization["Id"], config.organization.organization_id
    if wanted is None:
        found.append(
            Finding(
                "organization-id",
                "ok",
                f"the Organization is {org_id}; organization.organization_id is not set, so pass "
                f"--parameters FinOpsManagement:OrganizationId={org_id} to `make deploy` (the stack hands it to the "
                "member StackSets), or set it in the config (docs/deploy.md)",
            )
        )
    elif wanted == org_id:
        found.append(Finding("organization-id", "ok", f"organization.organization_id {org_id} is this Organization"))
    else:
        found.append(
            Finding(
                "organization-id",
                "blocker",
                f"organization.organization_id is {wanted}, but this Organization is {org_id}: the member role would "
                "trust no one here (aws:PrincipalOrgID)",
                f"in {config_path}, set organization.organization_id: {org_id}",
            )
        )
    if organization.get("FeatureSet") != "ALL":
        found.append(
            Finding(
                "organization-features",
                "blocker",
                f"the Organization has feature set {organization.get('FeatureSet')}: service-managed StackSets, tag "
                "policies and SCPs need all features",
                "enable all features: aws organizations enable-all-features (every member account must approve)",
            )
        )
    return found


def _normalised(statement: Mapping[str, Any]) -> tuple[Any, ...]:
    actions = statement.get("Action", [])
    principal = statement.get("Principal", {})
    principal = principal.get("AWS") if isinstance(principal, Mapping) else principal
    accounts = sorted(
        "".join(c for c in str(p) if c.isdigit())[:12]
        for p in (principal if isinstance(principal, list) else [principal])
    )
    return (
        statement.get("Effect"),
        tuple(sorted([actions] if isinstance(actions, str) else actions)),
        tuple(accounts),
        json.dumps(statement.get("Condition"), sort_keys=True),
    )


def resource_policy_finding(
    config: FinOpsConfig, content: str | None, *, stack_deployed: bool, config_path: str
) -> Finding:
    """``content``: the Organization's resource policy (None: it has none)."""
    manage = config.organization.manage_resource_policy
    merge = f"make org-resource-policy CONFIG={config_path}"
    if content is None:
        if manage:
            return Finding(
                "resource-policy", "ok", "the Organization has no resource policy: FinOpsManagement creates it"
            )
        return Finding(
            "resource-policy",
            "warn",
            "the Organization has no resource policy and organization.manage_resource_policy is false: the hub cannot "
            "read account names and tags (alerts go to the default channel saying 'Organizations lookup failed', runs "
            "target only organization.target_accounts)",
            f"set organization.manage_resource_policy: true, or put the statement `{merge}` prints in a new policy: "
            "aws organizations put-resource-policy --content file://policy.json",
        )
    statements = json.loads(content).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    ours = [s for s in statements if s.get("Sid") == STATEMENT_ID]
    others = sorted(str(s.get("Sid", "(no Sid)")) for s in statements if s.get("Sid") != STATEMENT_ID)
    if manage:
        if not others and ours and stack_deployed:
            return Finding(
                "resource-policy", "ok", f"the resource policy is {MANAGEMENT_STACK}'s own: an update keeps it"
            )
        return Finding(
            "resource-policy",
            "blocker",
            f"the Organization already has a resource policy (statements: {', '.join(others) or STATEMENT_ID}) and "
            f"organization.manage_resource_policy is true: deploying {MANAGEMENT_STACK} fails, an Organization has "
            "only one",
            f"in {config_path}, set organization.manage_resource_policy: false and merge the statement `{merge}` "
            "prints into the existing policy (it prints the commands too)",
        )
    if not ours:
        return Finding(
            "resource-policy",
            "warn",
            f"the Organization's resource policy (statements: {', '.join(others)}) has no {STATEMENT_ID} statement: "
            "the hub cannot read account names and tags (alerts go to the default channel, runs target only "
            "organization.target_accounts)",
            f"merge the statement `{merge}` prints into it",
        )
    if _normalised(ours[0]) != _normalised(hub_statement(config)):
        return Finding(
            "resource-policy",
            "warn",
            f"the resource policy's {STATEMENT_ID} statement differs from what this config needs (the hub account "
            "or the delegated actions changed)",
            f"replace it with the statement `{merge}` prints",
        )
    return Finding("resource-policy", "ok", f"the resource policy holds the {STATEMENT_ID} statement this config needs")


def monitor_findings(
    config: FinOpsConfig, monitors: Sequence[Mapping[str, Any]], *, stack_deployed: bool, config_path: str
) -> list[Finding]:
    """Our dimensional monitors against the management account's (one per dimension), and the ARNs to reuse."""
    settings = config.capabilities.anomaly_alerts
    if not settings.enabled:
        return [Finding("anomaly-monitors", "ok", "capabilities.anomaly_alerts is off: no monitor is created")]
    enabled = {"services": settings.monitors.services, "linked_accounts": settings.monitors.linked_accounts}
    existing_arns = list(settings.monitors.existing_arns)
    by_dimension: dict[str, list[Mapping[str, Any]]] = {}
    for monitor in monitors:
        if monitor.get("MonitorType") == "DIMENSIONAL":
            by_dimension.setdefault(str(monitor.get("MonitorDimension")), []).append(monitor)
    ours: dict[str, Finding | None] = {}  # by kind, in OUR_MONITORS order; None: it collides
    collisions: dict[str, Mapping[str, Any]] = {}
    for kind, (dimension, name) in OUR_MONITORS.items():
        if not enabled[kind]:
            continue
        theirs = by_dimension.get(dimension, [])
        if not theirs:
            ours[kind] = Finding(f"anomaly-monitor:{dimension}", "ok", f"no {dimension} monitor yet: we create {name}")
        elif stack_deployed and all(m.get("MonitorName") == name for m in theirs):
            ours[kind] = Finding(f"anomaly-monitor:{dimension}", "ok", f"{name} is {MANAGEMENT_STACK}'s own monitor")
        else:
            ours[kind], collisions[kind] = None, theirs[0]
    reuse = existing_arns + [str(m["MonitorArn"]) for m in collisions.values()]
    keep = [f"{kind}: true" for kind in ours if kind not in collisions]
    line = "{" + ", ".join([f"existing_arns: [{', '.join(json.dumps(a) for a in reuse)}]", *keep]) + "}"
    found: list[Finding] = []
    for kind, finding in ours.items():
        if finding is not None:
            found.append(finding)
            continue
        dimension, name = OUR_MONITORS[kind]
        monitor = collisions[kind]
        found.append(
            Finding(
                f"anomaly-monitor:{dimension}",
                "blocker",
                f"the management account already has the DIMENSIONAL {dimension} monitor "
                f"{monitor.get('MonitorName')!r} ({monitor['MonitorArn']}); AWS allows one per account, so "
                f"creating {name} (capabilities.anomaly_alerts.monitors.{kind}: true) fails",
                f"reuse it: in {config_path}, set capabilities.anomaly_alerts.monitors: {line}",
            )
        )
    known = {str(m.get("MonitorArn")): m for m in monitors}
    for index, arn in enumerate(existing_arns):
        key = f"capabilities.anomaly_alerts.monitors.existing_arns[{index}]"
        if arn in known:
            monitor = known[arn]
            kind = " ".join(str(monitor[k]) for k in ("MonitorType", "MonitorDimension") if monitor.get(k))
            found.append(
                Finding(f"anomaly-monitor:{arn}", "ok", f"{key} is the monitor {monitor.get('MonitorName')!r} ({kind})")
            )
        else:
            found.append(
                Finding(
                    f"anomaly-monitor:{arn}",
                    "blocker",
                    f"{key} ({arn}) is not a monitor of the management account: the subscription cannot be created",
                    "copy the ARN from: aws ce get-anomaly-monitors --query "
                    "'AnomalyMonitors[].[MonitorArn,MonitorName,MonitorDimension]' --output text",
                )
            )
    return found


def management_events(selectors: Mapping[str, Any]) -> str | None:
    """What management events a trail logs, from GetEventSelectors: "All", "WriteOnly", "ReadOnly" or None.

    A trail without custom selectors logs all management events (AWS's default selector).
    """
    basic, advanced = selectors.get("EventSelectors") or [], selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return "All"
    kinds: set[str] = set()
    for selector in basic:
        if selector.get("IncludeManagementEvents", True):
            kinds.add(str(selector.get("ReadWriteType", "All")))
    for selector in advanced:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        if fields.get("eventCategory", {}).get("Equals") != ["Management"]:
            continue
        read_only = fields.get("readOnly", {}).get("Equals")
        kinds.add({("true",): "ReadOnly", ("false",): "WriteOnly"}.get(tuple(read_only or ()), "All"))
    if "All" in kinds or {"ReadOnly", "WriteOnly"} <= kinds:
        return "All"
    return next(iter(kinds), None)


def trail_finding(trails: Sequence[Trail]) -> Finding:
    """The auto-tagger (tag enforcement, a later release) reacts to write events of every account and region."""

    def gaps(trail: Trail) -> list[str]:
        return [
            gap
            for gap, missing in (
                ("not an organization trail", not trail.organization),
                ("single-region", not trail.multi_region),
                ("not logging", not trail.logging),
                ("logs no write management events", trail.management_events not in ("All", "WriteOnly")),
            )
            if missing
        ]

    good = [t for t in trails if not gaps(t)]
    if good:
        return Finding(
            "cloudtrail", "ok", f"the organization trail {good[0].name} logs management events in every region"
        )
    create = (
        "create one in the management account: aws cloudtrail create-trail --name organization-trail "
        "--s3-bucket-name <bucket whose policy admits CloudTrail> --is-organization-trail --is-multi-region-trail "
        "&& aws cloudtrail start-logging --name organization-trail"
    )
    if not trails:
        return Finding(
            "cloudtrail",
            "warn",
            "no CloudTrail trail: the auto-tagger (tag enforcement, a later release) needs an organization trail "
            "logging management events in every region; nothing deployed today depends on it",
            create,
        )
    best = min(trails, key=lambda t: len(gaps(t)))
    fixes = {
        "not an organization trail": create,
        "single-region": f"aws cloudtrail update-trail --name {best.arn} --is-multi-region-trail",
        "not logging": f"aws cloudtrail start-logging --name {best.arn}",
        "logs no write management events": (
            f"add management events to {best.name}'s selectors (aws cloudtrail get-event-selectors --trail-name "
            f"{best.arn}, then put-event-selectors with them plus ReadWriteType All and IncludeManagementEvents true)"
        ),
    }
    return Finding(
        "cloudtrail",
        "warn",
        f"no trail fits the auto-tagger (tag enforcement, a later release); the closest, {best.name}, is "
        f"{', '.join(gaps(best))}; nothing deployed today depends on it",
        "; ".join(fixes[gap] for gap in gaps(best)),
    )


POLICY_TYPE_USE = {
    "TAG_POLICY": "the taxonomy's tag policy (tag enforcement, a later release) needs it",
    "SERVICE_CONTROL_POLICY": "SCPs you add yourself (say, denying changes to the member role) need it",
}


def policy_type_findings(roots: Sequence[Mapping[str, Any]]) -> list[Finding]:
    found = []
    for policy_type, use in POLICY_TYPE_USE.items():
        off = [
            str(root["Id"])
            for root in roots
            if not any(
                p.get("Type") == policy_type and p.get("Status") == "ENABLED" for p in root.get("PolicyTypes", [])
            )
        ]
        if not off:
            found.append(Finding(f"policy-type:{policy_type}", "ok", f"{policy_type} is enabled on the root"))
        else:
            found.append(
                Finding(
                    f"policy-type:{policy_type}",
                    "warn",
                    f"{policy_type} is not enabled on the root {', '.join(off)}: {use}; nothing deployed today does",
                    f"aws organizations enable-policy-type --root-id {off[0]} --policy-type {policy_type}",
                )
            )
    return found


def stacksets_finding(principals: Iterable[str]) -> Finding:
    if STACKSETS_PRINCIPAL in set(principals):
        return Finding("stacksets-trusted-access", "ok", "trusted access for CloudFormation StackSets is enabled")
    return Finding(
        "stacksets-trusted-access",
        "blocker",
        "trusted access for CloudFormation StackSets is not enabled: the service-managed FinOpsMember and "
        "FinOpsMemberRegional StackSets cannot be created",
        "in the management account: aws cloudformation activate-organizations-access",
    )


def delegated_admin_finding(account: str, administrators: Iterable[str]) -> Finding:
    """``organization.stacksets.delegated_admin_account_id`` among the StackSets delegated administrators."""
    if account in set(administrators):
        return Finding(
            "stacksets-delegated-admin", "ok", f"{account} is a delegated administrator for CloudFormation StackSets"
        )
    return Finding(
        "stacksets-delegated-admin",
        "blocker",
        f"organization.stacksets.delegated_admin_account_id {account} is not registered as a delegated administrator "
        "for CloudFormation StackSets: FinOpsStackSets cannot create the member StackSets there",
        "in the management account: aws organizations register-delegated-administrator --service-principal "
        f"{STACKSETS_PRINCIPAL} --account-id {account}",
    )


def cost_allocation_findings(config: FinOpsConfig, tags: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Each taxonomy key as a user-defined cost allocation tag: Active lets Cost Explorer and budgets group by it."""
    by_key = {str(t["TagKey"]): str(t.get("Status")) for t in tags}
    found = []
    for rule in config.taxonomy.tags:
        status = by_key.get(rule.key)
        finding_id = f"cost-allocation-tag:{rule.key}"
        if status == "Active":
            found.append(Finding(finding_id, "ok", f"cost allocation tag {rule.key!r} is active"))
        elif status is None:
            found.append(
                Finding(
                    finding_id,
                    "warn",
                    f"tag {rule.key!r} is not in the billing data yet (no resource carried it in the last 24 h, or "
                    "it was never activated): costs cannot be grouped or budgeted by it",
                    f"tag a resource with {rule.key!r}, wait a day, then: aws ce update-cost-allocation-tags-status "
                    f"--cost-allocation-tags-status TagKey={rule.key},Status=Active",
                )
            )
        else:
            found.append(
                Finding(
                    finding_id,
                    "warn",
                    f"cost allocation tag {rule.key!r} is {status}: costs cannot be grouped or budgeted by it",
                    f"aws ce update-cost-allocation-tags-status --cost-allocation-tags-status "
                    f"TagKey={rule.key},Status=Active",
                )
            )
    return found


def _named(targets: Sequence[Any]) -> str:
    listed = ", ".join(f"{t.account} ({t.name})" if t.name else t.account for t in targets[:MAX_LISTED])
    more = len(targets) - MAX_LISTED
    return listed + (f" and {more} more" if more > 0 else "")


def team_findings(config: FinOpsConfig, enumeration: Enumeration, config_path: str) -> list[Finding]:
    """The accounts in scope without an owning team (owner tag or notifications.account_teams), or with one that has
    no route: their alerts and digests go to the default channel."""
    notifications = config.notifications
    key, default = notifications.owner_tag_key, notifications.slack.default_channel
    accounts = list({t.account: t for t in enumeration.targets}.values())
    found = [
        Finding("account-scope", "warn", f"{note}", "see docs/prerequisites.md (credentials and Organizations access)")
        for note in enumeration.notes
    ]
    missing = [t for t in accounts if t.team is None]
    unrouted = [t for t in accounts if t.team is not None and t.team not in notifications.teams]
    if missing:
        commands = "; ".join(
            f"aws organizations tag-resource --resource-id {t.account} --tags Key={key},Value=<team>"
            for t in missing[:MAX_LISTED]
        )
        found.append(
            Finding(
                "account-teams",
                "warn",
                f"{len(missing)} of {len(accounts)} account(s) in scope have no {key!r} tag in Organizations and no "
                f"notifications.account_teams entry, so their alerts and digests go to {default}: {_named(missing)}",
                f"tag them: {commands} (in bulk: docs/prerequisites.md), or add them to notifications.account_teams "
                f"in {config_path}",
            )
        )
    if unrouted:
        teams = sorted({str(t.team) for t in unrouted})
        found.append(
            Finding(
                "account-team-routes",
                "warn",
                f"team(s) {', '.join(teams)} own accounts in scope ({_named(unrouted)}) but have no entry under "
                f"notifications.teams, so their messages go to {default}",
                f'add them to notifications.teams in {config_path} ({teams[0]}: {{channel: "#<channel>"}}), or fix '
                f"the accounts' {key!r} tags",
            )
        )
    if not missing and not unrouted:
        found.append(Finding("account-teams", "ok", f"all {len(accounts)} account(s) in scope have a routed team"))
    return found


def kill_switch_finding(parameter: str, value: str | None) -> Finding:
    """``value``: the parameter's value, None when it does not exist (no switch set)."""
    if value is None:
        return Finding("kill-switch", "ok", f"{parameter} is not set: runs act as each capability's mode says")
    if value.strip().lower() in RELEASED_VALUES:
        return Finding("kill-switch", "ok", f"{parameter} is {value.strip()!r}: released")
    return Finding(
        "kill-switch",
        "warn",
        f"{parameter} is {value.strip()!r}: engaged, every acting capability is paused once deployed",
        f"when runs should act, in the automation account: aws ssm put-parameter --name {parameter} --value off "
        "--overwrite",
    )


# --- Reading AWS ---------------------------------------------------------------------------------------------------


def _refuse_writes(model: Any, **_: Any) -> None:
    if not model.name.startswith(READ_ONLY):
        raise NotReadOnly(f"preflight is read-only; refusing {model.service_model.service_name}:{model.name}")


class ReadOnlyClients:
    """Clients of one account, each refusing every operation but Describe*, List* and Get* before it is sent."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def client(self, service: str, region: str = ALERTS_REGION) -> Any:
        made = self._clients.client(service, region)
        made.meta.events.register_first("before-call", _refuse_writes)
        return made

    def caller_account(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def read_resource_policy(organizations: Any) -> str | None:
    try:
        return str(organizations.describe_resource_policy()["ResourcePolicy"]["Content"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourcePolicyNotFoundException":
            return None
        raise


def read_stack_deployed(cloudformation: Any) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=MANAGEMENT_STACK)["Stacks"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ValidationError":  # "Stack with id ... does not exist"
            return False
        raise
    return any(s.get("StackStatus") != "DELETE_COMPLETE" for s in stacks)


def read_trails(cloudtrail: Any) -> list[Trail]:
    trails = []
    for described in cloudtrail.describe_trails(includeShadowTrails=True)["trailList"]:
        arn = str(described["TrailARN"])
        trails.append(
            Trail(
                name=str(described["Name"]),
                arn=arn,
                organization=bool(described.get("IsOrganizationTrail")),
                multi_region=bool(described.get("IsMultiRegionTrail")),
                logging=bool(cloudtrail.get_trail_status(Name=arn).get("IsLogging")),
                management_events=management_events(cloudtrail.get_event_selectors(TrailName=arn)),
            )
        )
    return trails


def read_cost_allocation_tags(ce: Any, keys: Sequence[str]) -> list[Any]:
    return _pages(ce, "list_cost_allocation_tags", "CostAllocationTags", TagKeys=list(keys)[:100], Type="UserDefined")


def read_kill_switch(ssm: Any, parameter: str) -> str | None:
    try:
        return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = str(error.get("Message", "")).strip().splitlines()
        detail = f": {message[0][:160]}" if message and not message[0].startswith("<") else ""
        return f"{exc.operation_name} failed ({error.get('Code', 'error')}{detail})"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    needs: str  # the IAM actions the read needs
    by_hand: str  # the CLI command that answers the same question
    run: Callable[[], list[Finding]]
    skip: str | None = None  # why it cannot be checked with these credentials

    def findings(self) -> list[Finding]:
        if self.skip is not None:
            return [Finding(self.id, "warn", f"not checked: {self.skip}", f"check by hand there: {self.by_hand}")]
        try:
            return self.run()
        except (ClientError, BotoCoreError) as exc:
            return [
                Finding(
                    self.id,
                    "warn",
                    f"not checked: {_error_text(exc)}",
                    f"allow these credentials {self.needs} (read-only), or check by hand: {self.by_hand}",
                )
            ]


def delegated_admin_checks(config: FinOpsConfig, org: Any) -> list[Check]:
    """With ``organization.stacksets.administrator: delegated``: is that account registered for StackSets?"""
    stacksets = config.organization.stacksets
    account = stacksets.delegated_admin_account_id
    if not stacksets.enabled or stacksets.administrator is not StackSetAdministrator.DELEGATED or account is None:
        return []
    return [
        Check(
            "stacksets-delegated-admin",
            "organizations:ListDelegatedAdministrators",
            f"aws organizations list-delegated-administrators --service-principal {STACKSETS_PRINCIPAL} --query "
            "'DelegatedAdministrators[].Id' --output text",
            lambda: [
                delegated_admin_finding(
                    account,
                    (
                        a["Id"]
                        for a in _pages(
                            org,
                            "list_delegated_administrators",
                            "DelegatedAdministrators",
                            ServicePrincipal=STACKSETS_PRINCIPAL,
                        )
                    ),
                )
            ],
        )
    ]


def preflight(
    config: FinOpsConfig, clients: AwsClients, *, hub: AwsClients | None = None, config_path: str = "finops.yaml"
) -> dict[str, Any]:
    """Every finding about the Organization ``clients`` (the management account's) belongs to; ``hub`` reads the
    kill switch in the automation account (without it, only when the credentials are the automation account's)."""
    aws = ReadOnlyClients(clients)
    caller = aws.caller_account()
    org = aws.client("organizations")
    findings = [credentials_finding(config, caller)]
    organization: dict[str, Any] = {}

    def read_organization() -> list[Finding]:
        organization.update(org.describe_organization()["Organization"])
        return organization_findings(config, organization, config_path)

    stack: dict[str, bool] = {}

    def deployed() -> bool:
        if "deployed" not in stack:
            stack["deployed"] = read_stack_deployed(aws.client("cloudformation"))
        return stack["deployed"]

    parameter = config.safety.kill_switch_parameter
    hub_reader = ReadOnlyClients(hub) if hub is not None else None
    if hub_reader is None and caller == config.organization.automation_account_id:
        hub_reader = aws

    def kill_switch() -> list[Finding]:
        if hub_reader is None:
            automation = config.organization.automation_account_id
            return [
                Finding(
                    "kill-switch",
                    "warn",
                    f"not checked: the kill switch is in the automation account {automation}, these credentials are "
                    f"{caller}'s",
                    f"make preflight HUB_PROFILE=<a profile for {automation}>, or there: aws ssm get-parameter --name "
                    f"{parameter} --query Parameter.Value --output text",
                )
            ]
        return [kill_switch_finding(parameter, read_kill_switch(hub_reader.client("ssm"), parameter))]

    keys = [rule.key for rule in config.taxonomy.tags]
    management = config.organization.management_account_id
    elsewhere = (
        None
        if caller == management
        else f"it is the management account's ({management}), these credentials are {caller}'s"
    )
    checks = [
        Check(
            "management-account",
            "organizations:DescribeOrganization",
            "aws organizations describe-organization",
            read_organization,
        ),
        Check(
            "resource-policy",
            "organizations:DescribeResourcePolicy, cloudformation:DescribeStacks",
            "aws organizations describe-resource-policy --query ResourcePolicy.Content --output text",
            lambda: [
                resource_policy_finding(
                    config, read_resource_policy(org), stack_deployed=deployed(), config_path=config_path
                )
            ],
        ),
        Check(
            "anomaly-monitors",
            "ce:GetAnomalyMonitors, cloudformation:DescribeStacks",
            "aws ce get-anomaly-monitors --query 'AnomalyMonitors[].[MonitorArn,MonitorName,MonitorType,"
            "MonitorDimension]' --output text",
            lambda: monitor_findings(
                config,
                _pages(aws.client("ce"), "get_anomaly_monitors", "AnomalyMonitors"),
                stack_deployed=deployed() if config.capabilities.anomaly_alerts.enabled else False,
                config_path=config_path,
            ),
            skip=elsewhere,
        ),
        Check(
            "cloudtrail",
            "cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus, cloudtrail:GetEventSelectors",
            "aws cloudtrail describe-trails --query 'trailList[].[Name,IsOrganizationTrail,IsMultiRegionTrail]' "
            "--output text",
            lambda: [trail_finding(read_trails(aws.client("cloudtrail")))],
        ),
        Check(
            "policy-types",
            "organizations:ListRoots",
            "aws organizations list-roots --query 'Roots[].PolicyTypes'",
            lambda: policy_type_findings(_pages(org, "list_roots", "Roots")),
        ),
        Check(
            "stacksets-trusted-access",
            "organizations:ListAWSServiceAccessForOrganization",
            "aws organizations list-aws-service-access-for-organization --query "
            "'EnabledServicePrincipals[].ServicePrincipal' --output text",
            lambda: [
                stacksets_finding(
                    p["ServicePrincipal"]
                    for p in _pages(org, "list_aws_service_access_for_organization", "EnabledServicePrincipals")
                )
            ],
        ),
        *delegated_admin_checks(config, org),
        Check(
            "cost-allocation-tags",
            "ce:ListCostAllocationTags",
            f"aws ce list-cost-allocation-tags --tag-keys {' '.join(keys)} --query "
            "'CostAllocationTags[].[TagKey,Status]' --output text",
            lambda: cost_allocation_findings(config, read_cost_allocation_tags(aws.client("ce"), keys)),
            skip=elsewhere,
        ),
        Check(
            "account-teams",
            "organizations:ListAccounts, organizations:ListTagsForResource (and ListRoots, "
            "ListOrganizationalUnitsForParent, ListAccountsForParent with OU settings)",
            "aws organizations list-accounts --query 'Accounts[].[Id,Name]' --output text, then per account: aws "
            "organizations list-tags-for-resource --resource-id <id>",
            lambda: team_findings(config, enumerate_targets(config, org), config_path),
        ),
        Check(
            "kill-switch",
            "ssm:GetParameter (in the automation account)",
            f"aws ssm get-parameter --name {parameter} --query Parameter.Value --output text",
            kill_switch,
        ),
    ]
    for check in checks:
        findings += check.findings()
    counts = {status: sum(f.status == status for f in findings) for status in ("ok", "warn", "blocker")}
    return {
        "caller": {"account": caller, "organization": organization.get("Id")},
        "config": config_path,
        "counts": counts,
        "findings": [f.to_json() for f in findings],
    }


# --- Output --------------------------------------------------------------------------------------------------------

MARKS = {"ok": "ok", "warn": "WARN", "blocker": "BLOCKER"}


def table(document: Mapping[str, Any]) -> str:
    """The findings as a table a person reads: status, id, what; the fix on the line below."""
    findings = document["findings"]
    width = max((len(f["id"]) for f in findings), default=2)
    lines = [f"preflight of {document['caller']['account']} ({document['config']})", ""]
    lines.append(f"{'STATUS':<8} {'CHECK':<{width}}  WHAT")
    for finding in findings:
        lines.append(f"{MARKS[finding['status']]:<8} {finding['id']:<{width}}  {finding['what']}")
        if finding["fix"]:
            lines.append(f"{'':<8} {'':<{width}}  fix: {finding['fix']}")
    counts = document["counts"]
    verdict = "blockers: fix them before deploying" if counts["blocker"] else "no blocker"
    lines += ["", f"{counts['ok']} ok, {counts['warn']} warn, {counts['blocker']} blocker: {verdict}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="finops.yaml", help="the FinOps config file (default: finops.yaml)")
    parser.add_argument(
        "--management-profile", default=None, help="an AWS profile of the management account (default: the chain)"
    )
    parser.add_argument("--hub-profile", default=None, help="an AWS profile of the automation account (kill switch)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    region = os.environ.get("AWS_REGION")  # boto3 itself reads only AWS_DEFAULT_REGION
    clients = AwsClients(boto3.Session(profile_name=args.management_profile), region=region)
    hub = AwsClients(boto3.Session(profile_name=args.hub_profile), region=region) if args.hub_profile else None
    try:
        document = preflight(config, clients, hub=hub, config_path=args.config)
    except (ClientError, BotoCoreError) as exc:  # not even the caller's identity: no credentials, or no endpoint
        print(f"error: preflight could not start: {_error_text(exc)}", file=err)
        return EXIT_BLOCKER
    json.dump(document, out, indent=2)
    out.write("\n")
    err.write(table(document))
    return EXIT_BLOCKER if document["counts"]["blocker"] else 0


if __name__ == "__main__":
    sys.exit(main())
