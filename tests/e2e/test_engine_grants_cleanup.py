"""The storage clean-up's run on the engine: every AWS call it makes is allowed by the role that makes it, as
synthesized, the member role included.

``test_engine_grants.py`` checks the scheduler's run against the hub's roles; this is the clean-up's, and goes one
step further: the calls its worker makes in each member account (``AccountScope.client``) are checked against the
role ``FinOpsMember`` ships, whose deletions are conditioned on the resource's tags.

Given the default simulated Organization, the hub in moto with the clean-up in enforce mode (7 days' grace, the
circuit breaker out of the way, gp2 volumes migrated, no Recycle Bin rule required: the estate leaves a region without
one on purpose, and this test is about IAM, not the planner's holds), and
the synthesized FinOpsHub and FinOpsMember templates, When the ``finops-ebs-cleanup`` state machine runs in moto's ASL
interpreter on the morning it marks volumes and snapshots and, after one marked volume was attached again, on the
morning after the grace period (a final snapshot, the deletions, the unmark), recording every call with the condition
keys IAM would see (the resource's tags at the time of the call, the tag keys a request writes or removes, and
``ec2:CreateAction`` for the tags a CreateSnapshot gives its snapshot), Then:

- each hub call is allowed by its function's role (FinOpsHub), and the worker's role grants nothing the run left
  unused but Lambda's own;
- each member call is allowed by the member role's identity policy, and every action of the clean-up's
  ``MEMBER_PERMISSIONS`` was called (the scheduler's are ``test_engine_grants.py``'s and the scheduler's tests');
- the very same deletion is refused once the resource carries the protect tag, or no longer carries the mark; the
  marks are the only tags the role may remove, and it may not write the protect tag onto a resource.

What is evaluated is the identity policy, as ``test_engine_grants.py`` evaluates it (:func:`allowed`); not SCPs, nor
the resource-level support of each action (every member grant is on ``*``). Not run here: the Recycle Bin itself (the
simulation serves the estate's rules to ListRules and GetRule but retains nothing it deletes; the rules the regional
member stack deploys are ``tests/stacks/test_member_regional_stack.py``'s, the planner's hold without a rule
``tests/lambdas/rules/test_cleanup_plan.py``'s).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aws_cdk import App, BootstraplessSynthesizer
from aws_cdk.assertions import Template
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

import finops.runtime as runtime
from finops.aws.clients import AccountScope
from finops.handlers import HANDLERS
from finops.models.config import FinOpsConfig
from finops.rules.cleanup_tags import ACTION_TAG, AFTER_TAG, FINAL_OF_TAG
from finops.services.cleanup import MEMBER_PERMISSIONS
from stacks.constructs.run_engine import definition
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import resource_name
from tests.e2e.test_engine_grants import (
    Call,
    ContextValue,
    Grant,
    HubCalls,
    allowed,
    as_list,
    grants_of,
    lambda_runtime_grants,
    local_names,
    matches,
    missing_grant,
    record_hub_calls,
    resolver,
)
from tests.e2e.test_state_machine_in_moto import (
    FAILED_RUN_PATH,
    STAGING,
    Execution,
    HandlersInProcess,
    estate,
    hub_template,
    result_files_written,
    runnable_in_moto,
)
from tests.stacks.template_helpers import config_with
from tools.local_hub import LocalHub, environment
from tools.sim.estate import SimulatedOrganization

__all__ = ["estate", "hub_template"]  # the fixtures, shared with the state machine's own tests

pytestmark = pytest.mark.slow  # synthesizes the hub and member stacks, seeds the estate, runs two executions

CAPABILITY = "ebs_cleanup"
MACHINE = resource_name(CAPABILITY)  # finops-ebs-cleanup
WORKER = "ebs_cleanup_worker"
FUNCTIONS = ("engine_start", WORKER, "engine_aggregate")
MARKING = "2026-11-27T06:00:00Z"  # the estate's "today", at run_at
SWEEP = "2026-12-05T06:00:00Z"  # eight days later: the seven days' grace is over
REGION = "eu-west-1"
RUN_DEADLINE_SECONDS = 120
# The clean-up's grants of the worker's hub role that this run leaves unused, and why (as in test_engine_grants.py).
UNUSED_WORKER_GRANTS = lambda_runtime_grants(WORKER)


# --- the member side: what a call through the member role touches, as IAM sees it ------------------------------------


def tag_context(tags: Mapping[str, str]) -> tuple[tuple[str, ContextValue], ...]:
    """The condition keys of a resource's tags: EC2 sets both ``aws:ResourceTag/<key>`` and ``ec2:ResourceTag/<key>``."""
    return tuple((f"{prefix}:ResourceTag/{key}", value) for key, value in tags.items() for prefix in ("aws", "ec2"))


def request_tag_keys(tags: list[dict[str, str]] | None) -> tuple[tuple[str, ContextValue], ...]:
    """``aws:TagKeys`` of a request that names tags; none at all when it names none (DeleteTags without Tags)."""
    return () if tags is None else (("aws:TagKeys", tuple(t["Key"] for t in tags)),)


# aws:userid of a call through the member role: its role id and the session name the worker gives it
CLEANUP_SESSION: tuple[str, ContextValue] = ("aws:userid", "AROAEXAMPLEMEMBERROLE:finops-ebs_cleanup-run-1")
AUTO_TAGGER_SESSION: tuple[str, ContextValue] = ("aws:userid", "AROAEXAMPLEMEMBERROLE:finops-auto_tagger-event-1")


@dataclass
class MemberCalls:
    """The calls made through the member role, each with the condition keys IAM evaluates for it."""

    estate: SimulatedOrganization
    calls: list[Call] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)  # calls made outside the worker's handler

    def tags_of(self, scope: AccountScope, kind: str, resource_id: str) -> dict[str, str]:
        """The resource's tags now, read outside the recording (with the estate's own session)."""
        ec2 = self.estate.session(scope.account).client("ec2", region_name=scope.region)
        described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {t["Key"]: t.get("Value", "") for t in described if t["ResourceType"] == kind}

    def record(self, scope: AccountScope, service: str, operation: str, params: Mapping[str, Any]) -> None:
        before = len(self.calls)
        self._record(scope, service, operation, params)
        # who IAM sees: the member role's session, named by the worker finops-<capability>-<run id>
        self.calls[before:] = [replace(c, context=(*c.context, CLEANUP_SESSION)) for c in self.calls[before:]]

    def _record(self, scope: AccountScope, service: str, operation: str, params: Mapping[str, Any]) -> None:
        action = f"{service}:{operation}"
        place = f"arn:aws:{service}:{scope.region}:{scope.account}"
        if action in ("ec2:CreateTags", "ec2:DeleteTags"):
            keys = request_tag_keys(params.get("Tags"))
            self.calls.extend(Call(WORKER, action, f"{place}:resource/{r}", keys) for r in params["Resources"])
        elif action in ("ec2:DeleteVolume", "ec2:ModifyVolume", "ec2:CreateSnapshot"):
            volume = params["VolumeId"]
            tags = tag_context(self.tags_of(scope, "volume", volume))
            self.calls.append(Call(WORKER, action, f"{place}:volume/{volume}", tags))
            for spec in params.get("TagSpecifications", []):  # tags given at creation: CreateTags, with CreateAction
                created = (("ec2:CreateAction", operation), *request_tag_keys(spec["Tags"]))
                self.calls.append(Call(WORKER, "ec2:CreateTags", f"{place}:{spec['ResourceType']}/*", created))
        elif action == "ec2:DeleteSnapshot":
            snapshot = params["SnapshotId"]
            tags = tag_context(self.tags_of(scope, "snapshot", snapshot))
            self.calls.append(Call(WORKER, action, f"arn:aws:ec2:{scope.region}::snapshot/{snapshot}", tags))
        else:  # the describes and the Recycle Bin reads: no resource-level permissions, no condition keys here
            self.calls.append(Call(WORKER, action, "*"))


def record_member_calls(monkeypatch: pytest.MonkeyPatch, lambdas: HandlersInProcess, seen: MemberCalls) -> None:
    """Every call made through a client ``AccountScope.client`` makes from now on, with its condition keys. Nothing
    is raised from inside a call (the worker reports a target's errors as data): a call outside it is a stray."""
    make_client = AccountScope.client

    def recording_client(self: AccountScope, service: str) -> Any:
        client = make_client(self, service)
        prefix = client.meta.service_model.signing_name

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if lambdas.running != WORKER:
                seen.strays.append(f"a member {service} client called {model.name} in {lambdas.running}")
            seen.record(self, prefix, model.name, params)

        client.meta.events.register("before-parameter-build", record)
        return client

    monkeypatch.setattr(AccountScope, "client", recording_client)


def member_grants(template: Mapping[str, Any]) -> list[Grant]:
    """Every action on every resource the member role's inline policies grant or deny, with its condition."""
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    properties = role["Properties"]
    assert not properties.get("ManagedPolicyArns")
    assert not properties.get("PermissionsBoundary")
    return [
        Grant(
            statement["Effect"],
            action,
            resource,
            json.dumps(statement.get("Condition", {}), sort_keys=True),
            name,
            not_actions=tuple(as_list(statement.get("NotAction", []))),
        )
        for policy in properties["Policies"]
        for name in [policy["PolicyName"]]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement.get("Action", "*"))
        for resource in as_list(statement["Resource"])
    ]


@pytest.fixture(scope="module")
def member_template(config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = FinOpsMemberStack(app, "FinOpsMember", config=config, synthesizer=BootstraplessSynthesizer())
    return dict(Template.from_stack(stack).to_json())


# --- the clean-up's state machine in moto ----------------------------------------------------------------------------


@dataclass
class CleanupInMoto:
    hub: LocalHub
    lambdas: HandlersInProcess
    machine_arn: str
    stepfunctions: Any
    today: dict[str, datetime]  # the workers' wall clock: a minute into the run being made, as on AWS

    def run(self, when: str) -> Execution:
        """One daily run as its schedule starts it; waits for the execution to end."""
        self.today["now"] = datetime.fromisoformat(when) + timedelta(minutes=1)
        name = f"{CAPABILITY}-{when.replace(':', '').replace('-', '')}"
        arn = self.stepfunctions.start_execution(
            stateMachineArn=self.machine_arn, name=name, input=json.dumps({"capability": CAPABILITY, "time": when})
        )["executionArn"]
        deadline = time.monotonic() + RUN_DEADLINE_SECONDS
        while (description := self.stepfunctions.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{name} still running after {RUN_DEADLINE_SECONDS} s"
            time.sleep(0.1)
        history = self.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return Execution(name, description, history)


@pytest.fixture
def cleanup_in_moto(
    estate: SimulatedOrganization, sink: Any, hub_template: dict[str, Any], config: FinOpsConfig, tmp_path: Path
) -> Iterator[Callable[[FinOpsConfig], CleanupInMoto]]:
    """The hub in moto for a config, and the clean-up's state machine created from the synthesized definition."""
    with contextlib.ExitStack() as patches:
        # The handlers bind the wall clock when imported (below): the simulated days' clock, not the machine's, else
        # the clean-up (which deletes only what is due by its wall clock too) would find nothing due on "day 8".
        today = {"now": datetime.fromisoformat(MARKING)}
        patches.enter_context(mock.patch.object(runtime, "wall_clock", side_effect=lambda: today["now"]))

        def stand_up(variant: FinOpsConfig) -> CleanupInMoto:
            hub = LocalHub(variant, tmp_path)
            hub.put_slack_secret({"bot_token": sink.token, "api_url": sink.api_url})
            account = hub.session.client("sts").get_caller_identity()["Account"]
            arns = {name: f"arn:aws:lambda:{hub.region}:{account}:function:{resource_name(name)}" for name in FUNCTIONS}
            deployed = definition(hub_template, MACHINE, arns, bucket_name=hub.engine_bucket, partition="aws")
            stepfunctions = hub.session.client("stepfunctions")
            machine_arn = stepfunctions.create_state_machine(
                name=MACHINE,
                definition=json.dumps(runnable_in_moto(deployed)),
                roleArn=f"arn:aws:iam::{account}:role/{MACHINE}-placeholder",
                type="STANDARD",
            )["stateMachineArn"]
            lambdas = HandlersInProcess(hub)
            patches.enter_context(mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", lambdas))
            put_object = staticmethod(result_files_written(hub.session.client("s3")))
            patches.enter_context(mock.patch.object(ResourceEvalS3, "_handle_put_object", put_object))
            for name in FUNCTIONS:  # a new deployment's first invoke: nothing kept from another test's handlers
                sys.modules.pop(HANDLERS[name], None)
                with environment(hub.environment(name)):
                    importlib.import_module(HANDLERS[name])
            return CleanupInMoto(hub, lambdas, machine_arn, stepfunctions, today)

        yield stand_up


def acting(config: FinOpsConfig) -> FinOpsConfig:
    """The shipped config with the clean-up acting: enforce mode, the safety nets but the grace period out of the way
    (so every kind of call is made), gp2 volumes migrated."""
    return config_with(
        config,
        capabilities={
            CAPABILITY: {
                "mode": "enforce",
                "grace_days": 7,
                "require_recycle_bin": False,
                "max_deletion_percent": 100,
                "gp2_to_gp3": {"enabled": True},
            }
        },
    )


# --- the runs --------------------------------------------------------------------------------------------------------


def test_every_call_of_the_clean_up_is_allowed_by_the_role_that_makes_it_the_member_role_included(
    estate: SimulatedOrganization,
    cleanup_in_moto: Callable[[FinOpsConfig], CleanupInMoto],
    config: FinOpsConfig,
    hub_template: dict[str, Any],
    member_template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the hub in moto with the clean-up acting, and the roles as synthesized
    engine = cleanup_in_moto(acting(config))
    hub = engine.hub
    account = config.organization.automation_account_id
    resolve = resolver(hub_template, account=account, region=hub.region, names=local_names(hub_template, hub))
    hub_grants = {function: grants_of(hub_template, function, resolve) for function in FUNCTIONS}
    member = member_grants(member_template)
    hub_calls: HubCalls = record_hub_calls(monkeypatch, engine.lambdas, account=account)
    member_calls = MemberCalls(estate)
    record_member_calls(monkeypatch, engine.lambdas, member_calls)

    # When the clean-up marks on its first morning, a marked volume is attached again, and the grace period ends
    marking = engine.run(MARKING)
    marked = marked_volumes(estate, STAGING)
    assert marked, "the first run marks the staging account's unattached volumes"
    reattached = attach_again(estate, STAGING, marked[0])
    sweep = engine.run(SWEEP)

    # Then both runs took the engine's path (the account without the member role fails, loudly) and acted
    assert marking.states_entered == FAILED_RUN_PATH
    assert sweep.states_entered == FAILED_RUN_PATH
    assert not hub_calls.strays, hub_calls.strays
    assert not member_calls.strays, member_calls.strays
    made = {c.action for c in member_calls.calls}
    assert made >= set(MEMBER_PERMISSIONS), sorted(set(MEMBER_PERMISSIONS) - made)
    assert volume_exists(estate, STAGING, reattached)
    assert reattached not in marked_volumes(estate, STAGING)
    assert all(not volume_exists(estate, STAGING, v) for v in marked[1:])
    assert final_snapshots(estate, STAGING) >= set(marked[1:])

    # and every hub call is allowed by its function's role, and the worker's role holds nothing unused but Lambda's
    denied = sorted({missing_grant(c) for c in hub_calls.calls if not allowed(c, hub_grants[c.function])})
    assert not denied, "calls their function's role does not allow:\n" + "\n".join(denied)
    worker_calls = [c for c in hub_calls.calls if c.function == WORKER]
    assert {c.action for c in worker_calls} >= {"sts:AssumeRole", "ssm:GetParameter", "dynamodb:PutItem"}
    unused = {
        (g.action, g.resource)
        for g in hub_grants[WORKER]
        if g.effect == "Allow" and not any(g.covers(c) for c in worker_calls)
    }
    assert not {u for u in unused if not any(matches(a, u[0]) and matches(r, u[1]) for a, r in UNUSED_WORKER_GRANTS)}

    # and every member call is allowed by the member role, with the condition keys it carried
    refused = sorted({f"{c} is refused by the member role" for c in member_calls.calls if not allowed(c, member)})
    assert not refused, "\n".join(refused)
    # and each of the clean-up's member grants was used by some call
    unused_member = sorted(
        (g.action, g.policy)
        for g in member
        if g.effect == "Allow" and g.action in MEMBER_PERMISSIONS and not any(g.covers(c) for c in member_calls.calls)
    )
    assert not unused_member, unused_member

    # and the same deletions are refused once the resource carries the protect tag, or no longer carries the mark
    deletions = [c for c in member_calls.calls if c.action in ("ec2:DeleteVolume", "ec2:DeleteSnapshot")]
    assert {c.action for c in deletions} == {"ec2:DeleteVolume", "ec2:DeleteSnapshot"}
    for deletion in deletions:
        assert allowed(with_tags(deletion, {"finops:protect": "false"}), member), deletion  # an explicit no
        for value in ("true", "yes", "1", "legal-hold", "TRUE"):
            assert not allowed(with_tags(deletion, {"finops:protect": value}), member), (deletion, value)
        assert not allowed(without_tags(deletion, AFTER_TAG), member), deletion


def test_the_member_role_removes_no_tag_but_the_marks_and_never_writes_the_protect_tag(
    member_template: dict[str, Any],
) -> None:
    member = member_grants(member_template)
    volume = "arn:aws:ec2:eu-west-1:444444444444:volume/vol-0123456789abcdef0"

    def tagging(action: str, *keys: str, **context: ContextValue) -> Call:
        return Call(WORKER, action, volume, (("aws:TagKeys", keys), CLEANUP_SESSION, *context.items()))

    # the marks are written and removed, and a final snapshot is given its volume's tags, the protect tag included
    assert allowed(tagging("ec2:CreateTags", ACTION_TAG, AFTER_TAG), member)
    assert allowed(tagging("ec2:DeleteTags", ACTION_TAG, AFTER_TAG), member)
    created = {"ec2:CreateAction": "CreateSnapshot"}
    assert allowed(tagging("ec2:CreateTags", FINAL_OF_TAG, "team", "finops:protect", **created), member)
    # no other tag is removed, nor all of them at once (DeleteTags without Tags)
    assert not allowed(tagging("ec2:DeleteTags", AFTER_TAG, "team"), member)
    assert not allowed(Call(WORKER, "ec2:DeleteTags", volume), member)
    # the protect tag is neither written onto nor removed from an existing resource, in any case
    for key in ("finops:protect", "Finops:Protect"):
        assert not allowed(tagging("ec2:CreateTags", AFTER_TAG, key), member), key
        assert not allowed(tagging("ec2:DeleteTags", key), member), key
    # the auto-tagger's sessions of the same role may tag, and nothing the clean-up may do beyond that
    by_auto_tagger = (("aws:TagKeys", ("finops:created-by",)), AUTO_TAGGER_SESSION)
    assert allowed(Call(WORKER, "ec2:CreateTags", volume, by_auto_tagger), member)
    assert not allowed(Call(WORKER, "ec2:DeleteTags", volume, by_auto_tagger), member)
    marked = (*tag_context({AFTER_TAG: "2026-12-08"}), AUTO_TAGGER_SESSION)
    assert not allowed(Call(WORKER, "ec2:DeleteVolume", volume, marked), member)
    assert allowed(
        Call(WORKER, "ec2:DeleteVolume", volume, (*tag_context({AFTER_TAG: "2026-12-08"}), CLEANUP_SESSION)), member
    )


# --- the estate ------------------------------------------------------------------------------------------------------


def ec2_of(estate: SimulatedOrganization, account: str) -> Any:
    return estate.session(account).client("ec2", region_name=REGION)


def marked_volumes(estate: SimulatedOrganization, account: str) -> list[str]:
    volumes = ec2_of(estate, account).describe_volumes(Filters=[{"Name": "tag-key", "Values": [AFTER_TAG]}])
    return sorted(v["VolumeId"] for v in volumes["Volumes"])


def attach_again(estate: SimulatedOrganization, account: str, volume: str) -> str:
    ec2 = ec2_of(estate, account)
    zone = ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["AvailabilityZone"]
    reservations = ec2.describe_instances(Filters=[{"Name": "availability-zone", "Values": [zone]}])["Reservations"]
    instance = reservations[0]["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdz")
    return volume


def volume_exists(estate: SimulatedOrganization, account: str, volume: str) -> bool:
    found = ec2_of(estate, account).describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])
    return bool(found["Volumes"])


def final_snapshots(estate: SimulatedOrganization, account: str) -> set[str]:
    """The volumes a final snapshot was made of."""
    snapshots = ec2_of(estate, account).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": [FINAL_OF_TAG]}]
    )["Snapshots"]
    return {t["Value"] for s in snapshots for t in s.get("Tags", []) if t["Key"] == FINAL_OF_TAG}


def with_tags(call: Call, tags: Mapping[str, str]) -> Call:
    return replace(call, context=(*call.context, *tag_context(tags)))


def without_tags(call: Call, key: str) -> Call:
    return replace(call, context=tuple((k, v) for k, v in call.context if not k.endswith(f":ResourceTag/{key}")))
