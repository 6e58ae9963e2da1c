"""Every AWS call the run engine's functions make in a real run is allowed by that function's role as synthesized.

STYLE.md point 14, checked where it matters: the local runs never evaluate IAM, so a call the role does not allow
(engine_start writing the state table with only GetItem granted) passes every other test and fails on AWS.

Given the hub in moto in enforce mode, the synthesized FinOpsHub template and the local Slack sink refusing the
default channel for the evening run (so the aggregate parks that digest on the Slack retry queue), When the
scheduler's state machine runs a quiet afternoon tick and then the Friday-evening stop
(``tests/e2e/test_state_machine_in_moto.py`` runs both, with our handlers answering its Lambda tasks), recording every
call made through a hub client (:meth:`finops.aws.clients.AwsClients.client`) by the function whose handler made it,
Then each call's IAM action on its resource is allowed by that function's role in the template, and every granted
action and resource the run never used is one :data:`UNUSED_GRANTS` explains (Lambda's own use, a retry path, a
config this run does not have) or :data:`OVER_GRANTS` lists (nothing calls it: visible until the stack stops
granting it).

What is evaluated: the role's identity policies (the ``AWS::IAM::Policy`` resources attached to it and its inline
policies): ``Allow`` and ``Deny``, ``Action`` and ``Resource`` with IAM's ``*`` and ``?``, and the condition keys in
:data:`EVALUATED_CONDITION_KEYS` with the operators :func:`condition_holds` knows. Calls are placed in the deployed hub's account and region (the template's) with the
local hub's names for the tables and the bucket, which the template does not name: each is mapped to its logical id
through the environment variable both give the function (``AUDIT_TABLE_NAME`` -> ``{"Ref": <the audit table>}``).
Not evaluated here: resource policies (the engine bucket's TLS-only policy), SCPs, and the calls made through a member
account's assumed role (``AccountScope.client``), which the member role's policy answers for (``MEMBER_PERMISSIONS``,
``tests/stacks/test_member_stack.py``; the storage clean-up's member calls, against the synthesized member role, in
``tests/e2e/test_engine_grants_cleanup.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pytest

from finops import runtime
from finops.aws.clients import AwsClients
from finops.handlers import CAPABILITY_WORKERS
from finops.models.config import FinOpsConfig
from stacks.naming import resource_name
from tests.e2e.test_state_machine_in_moto import (
    ENGINE_FUNCTIONS,
    EVENING,
    FAILED_RUN_PATH,
    QUIET,
    STAGING,
    EngineInMoto,
    HandlersInProcess,
    enforcing,
    engine_for,
    estate,
    hub_template,
    instance_state,
)
from tools.local_hub import LocalHub
from tools.sim.estate import SimulatedOrganization

__all__ = ["engine_for", "estate", "hub_template"]  # the fixtures, shared with the state machine's own tests

pytestmark = pytest.mark.slow  # synthesizes the hub stack (unless that module did), seeds the estate, runs two ticks

# API operations whose IAM action has another name; every other operation is its own action (dynamodb:PutItem).
IAM_ACTION_OF_OPERATION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
# Calls IAM never denies: GetCallerIdentity needs no permission.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Secrets Manager appends six random characters to a secret's name in its ARN; grants match them with "-??????".
SECRET_ARN_SUFFIX = "AbC123"
# The condition keys the recorded calls carry (as IAM patterns): ListObjectsV2's Prefix; and for the member role
# (test_engine_grants_cleanup.py) the tag keys a request writes or removes, whether it tags a resource it creates, and
# the tags of the resource it acts on. A statement conditioned on any other key is not evaluated: it allows nothing
# here (and a Deny with one denies), so adding one makes the test say so.
EVALUATED_CONDITION_KEYS = (
    "s3:prefix",
    "aws:TagKeys",
    "ec2:CreateAction",
    "aws:ResourceTag/*",
    "ec2:ResourceTag/*",
    "aws:userid",  # <role id>:<session name> for an assumed role: the member role tells its callers' sessions apart
)
# Condition operators as IAM evaluates them, by their base name (a ForAllValues:/ForAnyValue: qualifier aside).
COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringEqualsIgnoreCase": lambda value, wanted: value.lower() == wanted.lower(),
    "StringLike": lambda value, wanted: matches(wanted, value),
    "Bool": lambda value, wanted: value.lower() == wanted.lower(),
}
ContextValue = str | tuple[str, ...]  # one value, or a multi-valued key's values (aws:TagKeys)


def lambda_runtime_grants(function: str) -> set[tuple[str, str]]:
    """What Lambda itself does with every function's role, never our code: write its logs (the function factory's
    log group), send its trace segments (active tracing; X-Ray has no resource-level permissions) and send a failed
    async invoke's event to the function's own on-failure queue (CDK grants the destination these three actions)."""
    name = resource_name(function)
    failures = f"arn:aws:sqs:*:{name}-failures"
    return {
        # the group is named per install: /aws/lambda/<name>-<install id> (stacks.naming.retained_name)
        ("logs:CreateLogStream", f"arn:aws:logs:*:log-group:/aws/lambda/{name}-*:*"),
        ("logs:PutLogEvents", f"arn:aws:logs:*:log-group:/aws/lambda/{name}-*:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:SendMessage", failures),
        ("sqs:GetQueueAttributes", failures),
        ("sqs:GetQueueUrl", failures),
    }


def other_capabilities_grants(capability: str) -> set[tuple[str, str]]:
    """engine_aggregate's grants for every other capability's state machine: its results and its summaries."""
    return {
        grant
        for other in CAPABILITY_WORKERS
        if other != capability
        for grant in (
            ("s3:GetObject", f"arn:aws:s3:::*/results/{other}/*"),
            ("s3:PutObject", f"arn:aws:s3:::*/runs/{other}/*"),
        )
    }


# Granted to a function and not called by it in these two ticks, and why that is right: (action, the granted
# resource as an IAM pattern). A grant no run uses and no entry here or in OVER_GRANTS explains fails the test.
UNUSED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "engine_start": lambda_runtime_grants("engine_start")
    | {
        # TARGET_PERMISSIONS (finops/aws/organizations.py): the OU walk runs only when the config names OUs
        # (target_ous, excluded_ous, prod_ous); the shipped config names none, so ListAccounts lists them all.
        ("organizations:ListRoots", "*"),
        ("organizations:ListOrganizationalUnitsForParent", "*"),
        ("organizations:ListAccountsForParent", "*"),
    },
    "scheduler_worker": lambda_runtime_grants("scheduler_worker"),
    "engine_aggregate": lambda_runtime_grants("engine_aggregate")
    # the other state machines' results and summaries: these runs are the scheduler's
    | other_capabilities_grants("scheduler")
    | {
        # IDEMPOTENCY_ACTIONS: Powertools reads a record only when its conditional put fails without returning the
        # old item, and deletes its claim only when the wrapped delivery raises (so a retry may run).
        ("dynamodb:GetItem", "arn:aws:dynamodb:*:table/finops-idempotency"),
        ("dynamodb:DeleteItem", "arn:aws:dynamodb:*:table/finops-idempotency"),
        # CDK's grant bundles: Secret.grant_read adds DescribeSecret to GetSecretValue (SecretsProvider only gets
        # the value), Queue.grant_send_messages adds GetQueueAttributes and GetQueueUrl (the outbox only sends).
        ("secretsmanager:DescribeSecret", "arn:aws:secretsmanager:*:secret:finops/slack-??????"),
        ("sqs:GetQueueAttributes", "arn:aws:sqs:*:finops-slack-retry"),
        ("sqs:GetQueueUrl", "arn:aws:sqs:*:finops-slack-retry"),
        # the tag_compliance run's spend KPI (finops.services.tag_spend): these runs are the scheduler's
        ("sts:AssumeRole", "arn:aws:iam::*:role/finops-cost-reader"),
    },
}
# Granted and called by no code of the function at all: over-grants, listed so they stay visible until the stack
# stops granting them (then delete the entry).
OVER_GRANTS: dict[str, set[tuple[str, str]]] = {
    "engine_start": set(),
    "scheduler_worker": set(),
    "engine_aggregate": {
        # grant_state gives read and write; the aggregate only moves the catch-up point (a conditional put).
        ("dynamodb:GetItem", "arn:aws:dynamodb:*:table/finops-engine-state"),
        # FinOpsHubStack grants the audit append to every function that posts to Slack; the aggregate writes no
        # audit record (the workers audit what they did).
        ("dynamodb:PutItem", "arn:aws:dynamodb:*:table/finops-audit"),
    },
}


# --- what a call touches -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One AWS call by a hub function, as IAM sees it: an action on one resource, with the request's condition keys."""

    function: str  # the handler's name, e.g. engine_start
    action: str  # e.g. dynamodb:PutItem
    resource: str  # the ARN it touches, "*" where the request names none we can place
    # the condition keys the request carries, e.g. (("s3:prefix", "results/"),) or (("aws:TagKeys", ("a", "b")),)
    context: tuple[tuple[str, ContextValue], ...] = ()

    def __str__(self) -> str:
        keys = "".join(f" with {k}={v!r}" for k, v in self.context)
        return f"{self.function}: {self.action} on {self.resource}{keys}"


def resources_of(service: str, params: Mapping[str, Any], *, account: str, region: str) -> list[str]:
    """The ARNs a request touches, in the hub's ``account`` and ``region``; ``["*"]`` where it names none we place
    (Organizations' List* calls, or a parameter shape not handled here: only a grant on ``*`` allows those)."""
    if service == "dynamodb":
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        return [f"arn:aws:dynamodb:{region}:{account}:table/{table}" for table in tables] or ["*"]
    if service == "s3" and "Bucket" in params:
        key = f"/{params['Key']}" if "Key" in params else ""
        return [f"arn:aws:s3:::{params['Bucket']}{key}"]
    if service == "ssm":
        names = [params["Name"]] if "Name" in params else list(params.get("Names", []))
        return [f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}" for name in names] or ["*"]
    if service == "sts" and "RoleArn" in params:
        return [str(params["RoleArn"])]
    if service == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        if not secret.startswith("arn:"):  # a name: the ARN adds the suffix
            secret = f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-{SECRET_ARN_SUFFIX}"
        return [secret]
    if service == "sqs" and ("QueueUrl" in params or "QueueName" in params):
        name = str(params.get("QueueName") or params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        return [f"arn:aws:sqs:{region}:{account}:{name}"]
    return ["*"]


def calls_of(function: str, service: str, operation: str, params: Mapping[str, Any], **place: str) -> list[Call]:
    action = IAM_ACTION_OF_OPERATION.get((service, operation), f"{service}:{operation}")
    context = (("s3:prefix", str(params["Prefix"])),) if action == "s3:ListBucket" and "Prefix" in params else ()
    return [Call(function, action, arn, context) for arn in resources_of(service, params, **place)]


@dataclass
class HubCalls:
    """What :func:`record_hub_calls` saw: the calls, and any client used outside the handler that made it."""

    calls: list[Call] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)


def record_hub_calls(monkeypatch: pytest.MonkeyPatch, lambdas: HandlersInProcess, *, account: str) -> HubCalls:
    """Every call made through a client ``AwsClients.client`` makes from now on, by the function whose handler made
    the client (``lambdas.running``). Clients of an assumed member role (``AccountScope.client``) are not hub
    clients and are not recorded; AssumeRole itself is the hub's STS call and is. Nothing is raised from inside a
    call (the code under test may catch it): a client made or used outside its function's handler is a stray."""
    seen = HubCalls()
    make_client = AwsClients.client

    def recording_client(self: AwsClients, service: str, region: str | None = None) -> Any:
        client = make_client(self, service, region)
        function = lambdas.running
        if function is None:
            seen.strays.append(f"a hub {service} client was made outside any function's handler")
            return client
        prefix = client.meta.service_model.signing_name  # IAM's service prefix (dynamodb, s3, secretsmanager, ...)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if lambdas.running != function:
                seen.strays.append(f"{function}'s {service} client called {model.name} in {lambdas.running}")
            place = {"account": account, "region": client.meta.region_name}
            seen.calls.extend(calls_of(function, prefix, model.name, params, **place))

        client.meta.events.register("before-parameter-build", record)  # once per API call, with its parameters
        return client

    monkeypatch.setattr(AwsClients, "client", recording_client)
    return seen


# --- what the template grants --------------------------------------------------------------------------------------


@cache
def iam_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` any one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return iam_pattern(pattern, ignore_case=ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class Grant:
    """One action on one resource from one statement of a role's policies, every reference resolved."""

    effect: str  # Allow or Deny
    action: str  # as written, wildcards and all
    resource: str
    condition: str  # the statement's Condition as JSON ("{}" when it has none)
    policy: str  # the logical id of the policy it comes from
    not_actions: tuple[str, ...] = ()  # a NotAction statement's actions: it covers every other one (action "*")

    def condition_holds(self, call: Call) -> bool | None:
        """True or False (:func:`condition_holds`); None when the condition uses anything not evaluated here."""
        return condition_holds(json.loads(self.condition), dict(call.context))

    def covers(self, call: Call) -> bool | None:
        """Whether this grant applies to the call: action and resource match and the condition holds (None: the
        condition could not be evaluated)."""
        action = matches(self.action, call.action, ignore_case=True) and not any(
            matches(excluded, call.action, ignore_case=True) for excluded in self.not_actions
        )
        if not (action and matches(self.resource, call.resource)):
            return False
        return self.condition_holds(call)


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]) -> bool | None:
    """IAM's evaluation of a statement's ``Condition`` against the request's ``context``: every operator and every key
    must hold. None when a key is not one of :data:`EVALUATED_CONDITION_KEYS` or an operator is not known here.

    As IAM has it: condition key names are compared ignoring case; a key the request lacks fails a positive operator
    (``StringEquals``) and satisfies a negated one (``StringNotEquals``, hence the ``Null`` beside those) and
    ``ForAllValues`` (true of no values at all); ``Null`` "true" holds when the key is absent.
    """
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, tests in condition.items():
        qualifier, _, base = operator.rpartition(":")
        for key, expected in tests.items():
            if not any(matches(pattern, key, ignore_case=True) for pattern in EVALUATED_CONDITION_KEYS):
                return None
            wanted = [expected] if isinstance(expected, str) else [str(w) for w in expected]
            holds = _operator_holds(qualifier, base, lowered.get(key.lower()), wanted)
            if holds is not True:
                return holds
    return True


def _operator_holds(qualifier: str, base: str, value: ContextValue | None, wanted: list[str]) -> bool | None:
    if base == "Null" and not qualifier:
        return (value is None) == (wanted == ["true"])
    negated = base.startswith("StringNot")
    compare = COMPARISONS.get(base.replace("Not", "", 1) if negated else base)
    if compare is None:
        return None

    def hit(one: str) -> bool:
        return any(compare(one, w) for w in wanted) != negated

    values = () if value is None else (value,) if isinstance(value, str) else value
    if qualifier == "ForAllValues":
        return all(hit(one) for one in values)
    if qualifier == "ForAnyValue":
        return any(hit(one) for one in values)
    if qualifier or isinstance(value, tuple):
        return None  # a multi-valued key takes a set operator
    return negated if value is None else hit(value)


def function_resource(template: Mapping[str, Any], function: str) -> dict[str, Any]:
    """The ``AWS::Lambda::Function`` of the handler ``function`` (named ``finops-<function>``)."""
    found = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == resource_name(function)
    ]
    assert len(found) == 1, f"no single function {resource_name(function)} in the template"
    return found[0]


def statements_of_role(template: Mapping[str, Any], function: str) -> list[tuple[str, dict[str, Any]]]:
    """(policy logical id, statement) for every statement of the role in ``function``'s ``Role`` GetAtt: the
    ``AWS::IAM::Policy`` resources whose ``Roles`` reference it, and the role's inline ``Policies``."""
    resources = template["Resources"]
    role_id, attribute = function_resource(template, function)["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    role = resources[role_id]["Properties"]
    # A managed policy's statements are not in the template: none may be attached for this check to be whole.
    assert not role.get("ManagedPolicyArns"), f"{role_id} has managed policies this test cannot read"
    assert not role.get("PermissionsBoundary"), f"{role_id} has a permissions boundary this test does not evaluate"
    documents = [
        (logical_id, resource["Properties"]["PolicyDocument"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", [])
    ]
    documents += [(f"{role_id}.{p['PolicyName']}", p["PolicyDocument"]) for p in role.get("Policies", [])]
    return [(policy, statement) for policy, document in documents for statement in document["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def local_names(template: Mapping[str, Any], hub: LocalHub) -> dict[str, str]:
    """The local hub's name for each table and bucket the engine functions are given, by its logical id: the
    template's ``{"Ref": <logical id>}`` and the local hub's value for the same environment variable."""
    resources = template["Resources"]
    names: dict[str, str] = {}
    for function in ENGINE_FUNCTIONS:
        variables = function_resource(template, function)["Properties"]["Environment"]["Variables"]
        local = hub.environment(function)
        for variable, value in variables.items():
            named = isinstance(value, dict) and set(value) == {"Ref"}
            if named and resources[value["Ref"]]["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
                assert names.setdefault(value["Ref"], local[variable]) == local[variable], variable
    return names


def resolver(template: Mapping[str, Any], *, account: str, region: str, names: Mapping[str, str]) -> Callable[..., str]:
    """Resolves ``Ref``, ``Fn::GetAtt`` (``Arn``) and ``Fn::Join`` in a statement's Resource to the ARN the deployed
    hub would have, with the local hub's table and bucket names."""
    resources = template["Resources"]
    pseudo = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/FinOpsHub/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    }

    def local_name(logical_id: str) -> str:
        if logical_id not in names:
            raise KeyError(f"{logical_id} is no table or bucket the engine functions are given by name")
        return names[logical_id]

    def arn(logical_id: str) -> str:
        kind, properties = resources[logical_id]["Type"], resources[logical_id]["Properties"]
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{region}:{account}:table/{local_name(logical_id)}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{local_name(logical_id)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{region}:{account}:{properties['QueueName']}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{region}:{account}:log-group:{resolve(properties['LogGroupName'])}:*"
        raise ValueError(f"no ARN known here for {logical_id} ({kind}): teach resolver() its format")

    def resolve(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"Ref"}:
            ref = value["Ref"]
            return pseudo[ref] if ref in pseudo else local_name(ref)
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == "Arn":
            return arn(value["Fn::GetAtt"][0])
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(resolve(part) for part in parts)
        if isinstance(value, dict) and set(value) == {"Fn::Select"}:
            index, listed = value["Fn::Select"]
            if isinstance(listed, dict) and set(listed) == {"Fn::Split"}:
                separator, source = listed["Fn::Split"]
                return resolve(source).split(separator)[int(index)]
        raise ValueError(f"cannot resolve {json.dumps(value)} in a policy statement")

    return resolve


def grants_of(template: Mapping[str, Any], function: str, resolve: Callable[[Any], str]) -> list[Grant]:
    grants = []
    for policy, statement in statements_of_role(template, function):
        unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
        assert not unsupported, f"{policy} uses {unsupported}, which this test does not evaluate"
        condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                grants.append(Grant(statement["Effect"], action, resolve(resource), condition, policy))
    return grants


def allowed(call: Call, grants: Iterable[Grant]) -> bool:
    """IAM's identity-policy decision: an explicit Deny wins (one whose condition we cannot evaluate counts), else
    an Allow whose condition holds, else the implicit deny."""
    grants = list(grants)
    if any(g.effect == "Deny" and g.covers(call) is not False for g in grants):
        return False
    return any(g.effect == "Allow" and g.covers(call) is True for g in grants)


def missing_grant(call: Call) -> str:
    return f"{call}: no statement of the role of {resource_name(call.function)} allows it"


# --- the run -------------------------------------------------------------------------------------------------------


def test_every_call_the_engine_makes_in_a_run_is_allowed_by_its_functions_role(
    estate: SimulatedOrganization,
    engine_for: Callable[[FinOpsConfig], EngineInMoto],
    config: FinOpsConfig,
    sink: Any,
    hub_template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the hub in enforce mode, the worker's wall clock a minute into the evening tick as on AWS (past the
    # tick's act_before a worker stands down before it reads the kill switch or writes the audit trail; engine_for
    # imports the handlers afresh, so the worker binds this clock), and the roles as synthesized
    monkeypatch.setattr(runtime, "wall_clock", lambda: datetime.fromisoformat(EVENING) + timedelta(minutes=1))
    engine = engine_for(enforcing(config))
    hub = engine.hub
    account = config.organization.automation_account_id  # the deployed hub's account, in the template's region
    resolve = resolver(hub_template, account=account, region=hub.region, names=local_names(hub_template, hub))
    grants = {function: grants_of(hub_template, function, resolve) for function in ENGINE_FUNCTIONS}
    seen = record_hub_calls(monkeypatch, engine.lambdas, account=account)

    # When a quiet afternoon tick runs (it completes in engine_start), then the Friday-evening stop with the default
    # channel refusing the bot (its digest cannot fall back: the outbox parks it, without slack_sdk's backoff)
    quiet = engine.run(QUIET)
    sink.refuse_channel(config.notifications.slack.default_channel, "not_in_channel")
    evening = engine.run(EVENING)

    # Then the ticks took their paths, and made every kind of call the engine makes: state read and written, the
    # kill switch read, targets enumerated, written and read back, member roles assumed, staging stopped and
    # audited, the digests claimed once, the Slack secret read, a digest parked, the summary written
    assert quiet.states_entered == ["Start", "AnythingDue", "NothingDue"]
    assert evening.states_entered == FAILED_RUN_PATH
    assert instance_state(estate, STAGING, "payments-web-staging") == "stopped"
    assert hub.queue_depth(hub.retry_queue_url) == 1
    assert not seen.strays, seen.strays
    made = {(c.function, c.action) for c in seen.calls}
    assert made >= {
        ("engine_start", "dynamodb:GetItem"),
        ("engine_start", "dynamodb:PutItem"),
        ("engine_start", "ssm:GetParameter"),
        ("engine_start", "organizations:ListAccounts"),
        ("engine_start", "s3:PutObject"),
        ("scheduler_worker", "ssm:GetParameter"),
        ("scheduler_worker", "sts:AssumeRole"),
        ("scheduler_worker", "dynamodb:PutItem"),
        ("engine_aggregate", "s3:GetObject"),
        ("engine_aggregate", "dynamodb:PutItem"),
        ("engine_aggregate", "dynamodb:UpdateItem"),
        ("engine_aggregate", "secretsmanager:GetSecretValue"),
        ("engine_aggregate", "sqs:SendMessage"),
        ("engine_aggregate", "s3:PutObject"),
    }, sorted(made)

    # and the role of the function that made each call allows it
    needing = [c for c in seen.calls if c.action not in NEEDS_NO_PERMISSION]
    denied = sorted({missing_grant(c) for c in needing if not allowed(c, grants[c.function])})
    assert not denied, "calls their function's role does not allow:\n" + "\n".join(denied)

    # and every grant no call used is one UNUSED_GRANTS explains or OVER_GRANTS lists
    for function, granted in grants.items():
        calls = [c for c in seen.calls if c.function == function]
        unused = {
            (g.action, g.resource) for g in granted if g.effect == "Allow" and not any(g.covers(c) for c in calls)
        }
        known = UNUSED_GRANTS[function] | OVER_GRANTS[function]
        unexplained = sorted(u for u in unused if not any(matches(a, u[0]) and matches(r, u[1]) for a, r in known))
        assert not unexplained, f"{resource_name(function)} is granted, and never called: {unexplained}"


@pytest.mark.parametrize(
    ("grant", "call", "allows"),
    [
        # * spans / and :, ? is one character, the action's case does not matter, the resource's does
        (
            ("Allow", "s3:PutObject", "arn:aws:s3:::b/targets/*"),
            ("s3:PutObject", "arn:aws:s3:::b/targets/x/y.json"),
            True,
        ),
        (("Allow", "s3:PutObject", "arn:aws:s3:::b/targets/*"), ("s3:PutObject", "arn:aws:s3:::b/runs/y.json"), False),
        (("Allow", "S3:putobject", "arn:aws:s3:::b/*"), ("s3:PutObject", "arn:aws:s3:::b/k"), True),
        (("Allow", "s3:PutObject", "arn:aws:s3:::B/*"), ("s3:PutObject", "arn:aws:s3:::b/k"), False),
        (
            ("Allow", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:a:secret:s-??????"),
            ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:a:secret:s-AbC123"),
            True,
        ),
        (
            ("Allow", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:a:secret:s-??????"),
            ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:a:secret:s-other-AbC123"),
            False,
        ),
        (("Allow", "dynamodb:*", "*"), ("dynamodb:PutItem", "arn:aws:dynamodb:r:a:table/t"), True),
        (
            ("Allow", "dynamodb:GetItem", "arn:aws:dynamodb:r:a:table/t"),
            ("dynamodb:PutItem", "arn:aws:dynamodb:r:a:table/t"),
            False,
        ),
        # an explicit Deny wins over an Allow
        (("Deny", "dynamodb:PutItem", "*"), ("dynamodb:PutItem", "arn:aws:dynamodb:r:a:table/t"), False),
    ],
)
def test_the_evaluation_matches_actions_and_resources_as_iam_does(
    grant: tuple[str, str, str], call: tuple[str, str], allows: bool
) -> None:
    effect, action, resource = grant
    grants = [Grant(effect, action, resource, "{}", "Policy")]
    if effect == "Deny":
        grants.append(Grant("Allow", "*", "*", "{}", "Policy"))
    assert allowed(Call("engine_start", *call), grants) is allows


@pytest.mark.parametrize(
    ("context", "allows"),
    [
        ((("s3:prefix", "results/scheduler/abc/"),), True),
        ((("s3:prefix", "targets/"),), False),
        ((), False),  # a ListBucket without Prefix lacks the key: StringLike fails, as IAM has it
    ],
)
def test_a_condition_on_the_prefix_is_evaluated_and_any_other_allows_nothing(
    context: tuple[tuple[str, ContextValue], ...], allows: bool
) -> None:
    condition = json.dumps({"StringLike": {"s3:prefix": "results/scheduler/*"}})
    listing = Call("engine_aggregate", "s3:ListBucket", "arn:aws:s3:::b", context)
    assert allowed(listing, [Grant("Allow", "s3:ListBucket", "arn:aws:s3:::b", condition, "Policy")]) is allows
    unknown = json.dumps({"Bool": {"aws:SecureTransport": "true"}})
    assert not allowed(listing, [Grant("Allow", "s3:ListBucket", "arn:aws:s3:::b", unknown, "Policy")])


PROTECTED = {"ec2:ResourceTag/finops:protect": ["false", "no"]}


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        # Null: "false" needs the key, "true" its absence
        ({"Null": {"aws:ResourceTag/mark": "false"}}, {"aws:ResourceTag/mark": "2026-12-01"}, True),
        ({"Null": {"aws:ResourceTag/mark": "false"}}, {}, False),
        ({"Null": {"ec2:CreateAction": "true"}}, {}, True),
        ({"Null": {"ec2:CreateAction": "true"}}, {"ec2:CreateAction": "CreateSnapshot"}, False),
        # a negated operator holds for a missing key (why the member role's Deny pairs it with Null); case ignored
        ({"StringNotEqualsIgnoreCase": PROTECTED}, {}, True),
        ({"StringNotEqualsIgnoreCase": PROTECTED}, {"ec2:ResourceTag/finops:protect": "FALSE"}, False),
        ({"StringNotEqualsIgnoreCase": PROTECTED}, {"ec2:ResourceTag/finops:protect": "1"}, True),
        (
            {"StringNotEqualsIgnoreCase": PROTECTED, "Null": {"ec2:ResourceTag/finops:protect": "false"}},
            {},
            False,
        ),
        # key names are compared ignoring case
        ({"StringEquals": {"ec2:createaction": "CreateSnapshot"}}, {"ec2:CreateAction": "CreateSnapshot"}, True),
        # set operators: ForAllValues is true of no values, ForAnyValue needs one
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ("a",)}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ("a", "c")}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {}, True),
        ({"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": ["P"]}}, {"aws:TagKeys": ("x", "p")}, True),
        ({"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": ["P"]}}, {}, False),
        # not evaluated here: an unknown key, an unknown operator, a multi-valued key without a set operator
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, None),
        ({"DateGreaterThan": {"aws:ResourceTag/mark": "2026-01-01"}}, {"aws:ResourceTag/mark": "x"}, None),
        ({"StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ("a",)}, None),
    ],
)
def test_conditions_are_evaluated_as_iam_evaluates_them(
    condition: dict[str, dict[str, Any]], context: dict[str, ContextValue], holds: bool | None
) -> None:
    assert condition_holds(condition, context) is holds
