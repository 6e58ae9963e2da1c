"""Least-privilege CloudFormation execution policies, generated from the synthesized stacks.

    python -m tools.execution_policy write [--cdk-out cdk.out] [--out docs/deploy]
    python -m tools.execution_policy steps [--cdk-out cdk.out] [--stacks "FinOpsManagement FinOpsHub"] [--cdk CMD]
        [--run]

``write`` turns each stack template in a cloud assembly (``make synth`` writes ``cdk.out/``) into the IAM policy the
CloudFormation execution role needs to create, update and delete exactly that stack: for every resource type the
template holds, the actions of :data:`RESOURCE_TYPES` (taken from the type's CloudFormation handlers, less the
features the stacks do not use), on that type's ARNs, by name (``finops-*``, or the stack-prefixed names
CloudFormation generates) wherever the service allows; ``iam:PassRole`` only for the stack's own roles and only to
the services that assume them; the CDK asset objects its functions and layers are made from. It writes
``<out>/execution-policy-<Stack>.json``, split into ``-1``, ``-2``... where one document would pass IAM's 6,144
character limit for a managed policy. A resource type without a row in the table stops the tool (and fails
tests/tools/test_execution_policy.py), so a stack cannot grow past its policy unnoticed.

``steps`` prints, per CDK-deployed stack (one with an account), the two commands that bootstrap its account and region
with that policy (``aws iam create-policy``, then ``cdk bootstrap --cloudformation-execution-policies``, naming the
policies of every stack deployed in that account and region); with ``--run`` it also runs the ``cdk bootstrap`` of
the one stack named (the policies must exist first). docs/deploy.md walks through it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTITION = "aws"
# IAM's limit for one customer managed policy, counted without whitespace.
MANAGED_POLICY_MAX_CHARS = 6144
# The stacks `make deploy` deploys through the CDK bootstrap roles are those with an account (FinOpsManagement,
# FinOpsHub, and as the config asks FinOpsStackSets and FinOpsManagementRegional-<region>); the member stacks have
# none: they go out as service-managed StackSets, whose execution role Organizations owns (their policies are written
# for self-managed StackSets).
POLICY_NAME = "finops-cfn-exec-{stack}"


class UnmappedResourceError(Exception):
    """A template holds something this tool cannot write a policy for; the message says what and where."""


@dataclass(frozen=True)
class ResourceRule:
    """What CloudFormation's handlers for one resource type call, and on which ARNs.

    ``arns`` are templates over ``{partition}``, ``{region}``, ``{account}`` and ``{name}`` (the resource's physical
    name, as a glob); empty means the service names these resources by generated ids only, so ``actions`` go on
    ``*`` (``why_unscoped`` says so). ``name_property`` holds the name in the template; without it CloudFormation
    generates one from ``generated``. A ``parent`` type's resources are the ARNs (a queue policy acts on its queues).
    ``unscoped`` actions take no resource at all (creates by id, list calls) and go on ``*``.
    """

    actions: tuple[str, ...]
    arns: tuple[str, ...] = ()
    name_property: str | None = None
    generated: str = "{stack}-*"
    parent: str | None = None
    unscoped: tuple[str, ...] = ()
    why_unscoped: str = ""


_REGIONAL = "arn:{partition}:{service}:{region}:{account}:"


def _arn(service: str, rest: str) -> str:
    return _REGIONAL.replace("{service}", service) + rest


# One row per CloudFormation resource type the stacks create. The actions are the resource provider's declared
# handler permissions (create, read, update, delete) for its own service, less those of features no stack uses;
# tests/tools/test_execution_policy.py checks each row against the provider schemas cfn-lint ships and every action
# against botocore's service models.
RESOURCE_TYPES: Mapping[str, ResourceRule] = {
    "AWS::CDK::Metadata": ResourceRule(actions=()),
    "AWS::CE::AnomalyMonitor": ResourceRule(
        actions=(
            "ce:CreateAnomalyMonitor",
            "ce:DeleteAnomalyMonitor",
            "ce:GetAnomalyMonitors",
            "ce:ListTagsForResource",
            "ce:TagResource",
            "ce:UpdateAnomalyMonitor",
        ),
        why_unscoped="Cost Explorer names monitors and subscriptions by generated ids",
    ),
    "AWS::CE::AnomalySubscription": ResourceRule(
        actions=(
            "ce:CreateAnomalySubscription",
            "ce:DeleteAnomalySubscription",
            "ce:GetAnomalySubscriptions",
            "ce:ListTagsForResource",
            "ce:TagResource",
            "ce:UpdateAnomalySubscription",
        ),
        why_unscoped="Cost Explorer names monitors and subscriptions by generated ids",
    ),
    "AWS::CloudFormation::StackSet": ResourceRule(
        # The member StackSets are service-managed: no administration role is passed (iam:PassRole is for
        # self-managed ones). A service-managed StackSet lives in the management account even when a delegated
        # administrator creates it, so its ARNs name any account; the stack instances' targets (OUs and accounts) and
        # the resource types of the template are authorized as stackset-target and type ARNs.
        actions=(
            "cloudformation:CreateStackInstances",
            "cloudformation:CreateStackSet",
            "cloudformation:DeleteStackInstances",
            "cloudformation:DeleteStackSet",
            "cloudformation:DescribeStackInstance",
            "cloudformation:DescribeStackSet",
            "cloudformation:DescribeStackSetOperation",
            "cloudformation:ListStackInstances",
            "cloudformation:ListStackSetOperationResults",
            "cloudformation:TagResource",
            "cloudformation:UntagResource",
            "cloudformation:UpdateStackInstances",
            "cloudformation:UpdateStackSet",
        ),
        arns=(
            "arn:{partition}:cloudformation:{region}:*:stackset/{name}:*",
            "arn:{partition}:cloudformation:*:*:stackset-target/*",
            "arn:{partition}:cloudformation:*:*:type/resource/*",
        ),
        name_property="StackSetName",
        # GetTemplateSummary and ListStackSets name no resource; a delegated administrator's CallAs DELEGATED_ADMIN
        # is checked with organizations:ListDelegatedAdministrators.
        unscoped=(
            "cloudformation:GetTemplateSummary",
            "cloudformation:ListStackSets",
            "organizations:ListDelegatedAdministrators",
        ),
    ),
    "AWS::CloudWatch::Alarm": ResourceRule(
        actions=(
            "cloudwatch:DeleteAlarms",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ),
        arns=(_arn("cloudwatch", "alarm:{name}"),),
        name_property="AlarmName",
        unscoped=("cloudwatch:DescribeAlarms",),
    ),
    "AWS::DynamoDB::Table": ResourceRule(
        # Not: import (ImportTable, DescribeImport and the item calls it makes), Kinesis streaming, replicas,
        # resource policies: no table uses them, and the deploy role never reads or writes an item.
        actions=(
            "dynamodb:CreateTable",
            "dynamodb:DeleteTable",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeContributorInsights",
            "dynamodb:DescribeKinesisStreamingDestination",
            "dynamodb:DescribeTable",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:GetResourcePolicy",
            "dynamodb:ListTagsOfResource",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:UpdateContributorInsights",
            "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
        ),
        arns=(_arn("dynamodb", "table/{name}"),),
        name_property="TableName",
    ),
    "AWS::Events::EventBus": ResourceRule(
        # Not: a customer managed key on the bus (the kms: calls), dead-letter or archive settings (no bus uses them).
        actions=(
            "events:CreateEventBus",
            "events:DeleteEventBus",
            "events:DescribeEventBus",
            "events:ListTagsForResource",
            "events:PutPermission",
            "events:RemovePermission",
            "events:TagResource",
            "events:UntagResource",
            "events:UpdateEventBus",
        ),
        arns=(_arn("events", "event-bus/{name}"),),
        name_property="Name",
    ),
    "AWS::Events::EventBusPolicy": ResourceRule(
        actions=("events:DescribeEventBus", "events:PutPermission", "events:RemovePermission"),
        parent="AWS::Events::EventBus",
    ),
    "AWS::Events::Rule": ResourceRule(
        actions=(
            "events:DeleteRule",
            "events:DescribeRule",
            "events:ListTagsForResource",
            "events:ListTargetsByRule",
            "events:PutRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:TagResource",
            "events:UntagResource",
        ),
        # a rule on the default bus is rule/<name>; on another bus, rule/<bus>/<name>
        arns=(_arn("events", "rule/{name}"), _arn("events", "rule/*/{name}")),
        name_property="Name",
    ),
    "AWS::IAM::Policy": ResourceRule(
        actions=("iam:DeleteRolePolicy", "iam:GetRolePolicy", "iam:PutRolePolicy"),
        parent="AWS::IAM::Role",
    ),
    "AWS::IAM::Role": ResourceRule(
        actions=(
            "iam:AttachRolePolicy",
            "iam:CreateRole",
            "iam:DeleteRole",
            "iam:DeleteRolePermissionsBoundary",
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
        ),
        arns=("arn:{partition}:iam::{account}:role/{name}",),
        name_property="RoleName",
    ),
    "AWS::KMS::Alias": ResourceRule(
        # CreateAlias, UpdateAlias and DeleteAlias are authorized on the key too: AWS::KMS::Key grants them there.
        actions=("kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"),
        arns=(_arn("kms", "{name}"),),
        name_property="AliasName",
        unscoped=("kms:ListAliases",),
    ),
    "AWS::KMS::Key": ResourceRule(
        actions=(
            "kms:CreateAlias",
            "kms:DeleteAlias",
            "kms:DescribeKey",
            "kms:DisableKey",
            "kms:DisableKeyRotation",
            "kms:EnableKey",
            "kms:EnableKeyRotation",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:UpdateAlias",
            "kms:UpdateKeyDescription",
        ),
        # Keys have generated ids, never names: the key ARNs of this account and region.
        arns=(_arn("kms", "key/*"),),
        unscoped=("kms:CreateKey",),
    ),
    "AWS::Lambda::EventInvokeConfig": ResourceRule(
        actions=(
            "lambda:DeleteFunctionEventInvokeConfig",
            "lambda:GetFunctionEventInvokeConfig",
            "lambda:PutFunctionEventInvokeConfig",
            "lambda:UpdateFunctionEventInvokeConfig",
        ),
        parent="AWS::Lambda::Function",
    ),
    "AWS::Lambda::EventSourceMapping": ResourceRule(
        actions=(
            "lambda:DeleteEventSourceMapping",
            "lambda:GetEventSourceMapping",
            "lambda:ListTags",
            "lambda:TagResource",
            "lambda:UntagResource",
            "lambda:UpdateEventSourceMapping",
        ),
        arns=(_arn("lambda", "event-source-mapping:*"),),
        unscoped=("lambda:CreateEventSourceMapping",),
    ),
    "AWS::Lambda::Function": ResourceRule(
        # Not: code signing, capacity providers, runtime aliases, scaling configs (no function uses them).
        actions=(
            "lambda:CreateFunction",
            "lambda:DeleteFunction",
            "lambda:DeleteFunctionConcurrency",
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:GetFunctionRecursionConfig",
            "lambda:GetRuntimeManagementConfig",
            "lambda:PublishVersion",
            "lambda:PutFunctionConcurrency",
            "lambda:PutFunctionRecursionConfig",
            "lambda:PutRuntimeManagementConfig",
            "lambda:TagResource",
            "lambda:UntagResource",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
        ),
        arns=(_arn("lambda", "function:{name}"),),
        name_property="FunctionName",
    ),
    "AWS::Lambda::LayerVersion": ResourceRule(
        actions=("lambda:DeleteLayerVersion", "lambda:GetLayerVersion", "lambda:PublishLayerVersion"),
        arns=(_arn("lambda", "layer:{name}"), _arn("lambda", "layer:{name}:*")),
        name_property="LayerName",
        generated="{logical_id}*",
    ),
    "AWS::Lambda::Permission": ResourceRule(
        actions=("lambda:AddPermission", "lambda:GetPolicy", "lambda:RemovePermission"),
        parent="AWS::Lambda::Function",
    ),
    "AWS::Logs::LogGroup": ResourceRule(
        # Not: data protection, index, bearer-token, deletion-protection and delivery settings (no group uses them).
        actions=(
            "logs:AssociateKmsKey",
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:DeleteRetentionPolicy",
            "logs:DisassociateKmsKey",
            "logs:GetDataProtectionPolicy",
            "logs:ListTagsForResource",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
            "logs:UntagResource",
        ),
        arns=(_arn("logs", "log-group:{name}"), _arn("logs", "log-group:{name}:*")),
        name_property="LogGroupName",
        unscoped=("logs:DescribeIndexPolicies", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies"),
    ),
    "AWS::Organizations::Policy": ResourceRule(
        actions=(
            "organizations:AttachPolicy",
            "organizations:CreatePolicy",
            "organizations:DeletePolicy",
            "organizations:DescribePolicy",
            "organizations:DetachPolicy",
            "organizations:ListTagsForResource",
            "organizations:ListTargetsForPolicy",
            "organizations:TagResource",
            "organizations:UntagResource",
            "organizations:UpdatePolicy",
        ),
        unscoped=("organizations:ListPolicies",),
        why_unscoped="Organizations names policies by generated ids (p-...)",
    ),
    "AWS::Organizations::ResourcePolicy": ResourceRule(
        actions=(
            "organizations:DeleteResourcePolicy",
            "organizations:DescribeResourcePolicy",
            "organizations:ListTagsForResource",
            "organizations:PutResourcePolicy",
            "organizations:TagResource",
            "organizations:UntagResource",
        ),
        why_unscoped="the Organization's one resource policy is named by the organization's generated id",
    ),
    "AWS::Rbin::Rule": ResourceRule(
        actions=(
            "rbin:DeleteRule",
            "rbin:GetRule",
            "rbin:ListTagsForResource",
            "rbin:LockRule",
            "rbin:TagResource",
            "rbin:UnlockRule",
            "rbin:UntagResource",
            "rbin:UpdateRule",
        ),
        arns=(_arn("rbin", "rule/*"),),
        unscoped=("rbin:CreateRule",),
    ),
    "AWS::S3::Bucket": ResourceRule(
        # Not: S3 Tables, metadata tables, replication, object ACLs and deletes (no bucket uses them).
        actions=(
            "s3:CreateBucket",
            "s3:DeleteBucket",
            "s3:GetAccelerateConfiguration",
            "s3:GetAnalyticsConfiguration",
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketLogging",
            "s3:GetBucketNotification",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetBucketWebsite",
            "s3:GetEncryptionConfiguration",
            "s3:GetIntelligentTieringConfiguration",
            "s3:GetInventoryConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:GetMetricsConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:ListBucket",
            "s3:PutBucketLogging",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        arns=("arn:{partition}:s3:::{name}",),
        name_property="BucketName",
        generated="{stack_lower}-*",
    ),
    "AWS::S3::BucketPolicy": ResourceRule(
        actions=("s3:DeleteBucketPolicy", "s3:GetBucketPolicy", "s3:PutBucketPolicy"),
        parent="AWS::S3::Bucket",
    ),
    "AWS::SNS::Subscription": ResourceRule(
        # The topic may be another account's (the hub subscribes to the management account's topics): its ARN is
        # the name, and a subscription's ARN is the topic's followed by an id.
        actions=("sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Subscribe", "sns:Unsubscribe"),
        arns=("{name}", "{name}:*"),
        name_property="TopicArn",
    ),
    "AWS::SNS::Topic": ResourceRule(
        actions=(
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetDataProtectionPolicy",
            "sns:GetTopicAttributes",
            "sns:ListSubscriptionsByTopic",
            "sns:ListTagsForResource",
            "sns:SetTopicAttributes",
            "sns:TagResource",
            "sns:UntagResource",
        ),
        arns=(_arn("sns", "{name}"),),
        name_property="TopicName",
    ),
    "AWS::SNS::TopicPolicy": ResourceRule(actions=("sns:SetTopicAttributes",), parent="AWS::SNS::Topic"),
    "AWS::SQS::Queue": ResourceRule(
        actions=(
            "sqs:CreateQueue",
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ListQueueTags",
            "sqs:SetQueueAttributes",
            "sqs:TagQueue",
            "sqs:UntagQueue",
        ),
        arns=(_arn("sqs", "{name}"),),
        name_property="QueueName",
    ),
    "AWS::SQS::QueuePolicy": ResourceRule(actions=("sqs:SetQueueAttributes",), parent="AWS::SQS::Queue"),
    "AWS::Scheduler::Schedule": ResourceRule(
        actions=(
            "scheduler:CreateSchedule",
            "scheduler:DeleteSchedule",
            "scheduler:GetSchedule",
            "scheduler:UpdateSchedule",
        ),
        arns=(_arn("scheduler", "schedule/*/{name}"),),
        name_property="Name",
    ),
    "AWS::StepFunctions::StateMachine": ResourceRule(
        actions=(
            "states:CreateStateMachine",
            "states:DeleteStateMachine",
            "states:DescribeStateMachine",
            "states:ListTagsForResource",
            "states:TagResource",
            "states:UntagResource",
            "states:UpdateStateMachine",
        ),
        arns=(_arn("states", "stateMachine:{name}"),),
        name_property="StateMachineName",
        generated="{logical_id}-*",
    ),
}

# Resource types whose functions or state machines CloudFormation hands a role to (iam:PassRole).
PASSES_ROLES = frozenset(
    {"AWS::Events::Rule", "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule"}
)


@dataclass(frozen=True)
class Stack:
    """One synthesized stack: its template and where it deploys (``*`` for a StackSet's every account/region)."""

    name: str
    template: Mapping[str, Any]
    account: str
    region: str


def read_assembly(cdk_out: Path) -> list[Stack]:
    """Every CloudFormation stack in the cloud assembly at ``cdk_out``, by name."""
    manifest_path = cdk_out / "manifest.json"
    if not manifest_path.is_file():
        raise UnmappedResourceError(f"no cloud assembly at {cdk_out}: run `make synth` first")
    manifest = json.loads(manifest_path.read_text())
    stacks = []
    for name, artifact in sorted(manifest["artifacts"].items()):
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        account, region = artifact["environment"].removeprefix("aws://").split("/")
        template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
        stacks.append(
            Stack(
                name=name,
                template=template,
                account="*" if account.startswith("unknown") else account,
                region="*" if region.startswith("unknown") else region,
            )
        )
    return stacks


def _resolve(value: Any, stack: Stack, where: str) -> str:
    """A template value as a string: literals, Fn::Join, Fn::Sub and the pseudo parameters; anything else raises."""
    pseudo = {"AWS::Partition": PARTITION, "AWS::Region": stack.region, "AWS::AccountId": stack.account}
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        if function == "Fn::Join":
            # A part only known at deploy time (a suffix from the stack id, for names unique per install) is a
            # wildcard, as long as the rest of the name is known.
            separator, parts = argument
            joined = str(separator).join(_resolve_part(part, stack, where) for part in parts)
            if joined.strip("*" + str(separator)):
                return joined
        if function == "Fn::Sub" and isinstance(argument, str):
            for key, replacement in pseudo.items():
                argument = argument.replace("${" + key + "}", replacement)
            if "${" not in argument:
                return argument
    raise UnmappedResourceError(f"{stack.name}: {where} is {json.dumps(value)}, which this tool cannot resolve")


def _resolve_part(value: Any, stack: Stack, where: str) -> str:
    try:
        return _resolve(value, stack, where)
    except UnmappedResourceError:
        return "*"


def name_glob(name: str) -> str:
    """The glob a policy names a resource by: ours are ``...finops-*``, anything else exactly as named."""
    head, found, _ = name.partition("finops-")
    return f"{head}finops-*" if found else name


def _names(stack: Stack, type_name: str, rule: ResourceRule) -> set[str]:
    names = set()
    for logical_id, resource in stack.template.get("Resources", {}).items():
        if resource["Type"] != type_name:
            continue
        properties = resource.get("Properties", {})
        if rule.name_property and rule.name_property in properties:
            where = f"{logical_id}.{rule.name_property}"
            names.add(name_glob(_resolve(properties[rule.name_property], stack, where)))
        else:
            names.add(rule.generated.format(stack=stack.name, stack_lower=stack.name.lower(), logical_id=logical_id))
    return names


def _arns(stack: Stack, type_name: str) -> list[str]:
    rule = RESOURCE_TYPES[type_name]
    if rule.parent:
        return _arns(stack, rule.parent)
    fields = {"partition": PARTITION, "region": stack.region, "account": stack.account}
    return sorted({arn.format(**fields, name=name) for arn in rule.arns for name in _names(stack, type_name, rule)})


def _sid(type_name: str, suffix: str = "") -> str:
    return "".join(part for part in type_name.split("::")[1:]) + suffix


def _statement(sid: str, actions: Iterable[str], resources: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": sorted(set(resources)), **extra}


def resource_types(stack: Stack) -> list[str]:
    """The resource types ``stack`` creates; raises naming the first one :data:`RESOURCE_TYPES` has no row for."""
    types = sorted({resource["Type"] for resource in stack.template.get("Resources", {}).values()})
    for type_name in types:
        if type_name not in RESOURCE_TYPES:
            raise UnmappedResourceError(
                f"{stack.name} creates {type_name}, which tools/execution_policy.py RESOURCE_TYPES has no row for: "
                "add the actions CloudFormation needs for it (its provider schema's handler permissions)"
            )
    return types


def policy_statements(stack: Stack) -> list[dict[str, Any]]:
    """The statements of ``stack``'s execution policy, in a stable order."""
    types = resource_types(stack)
    statements = []
    for type_name in types:
        rule = RESOURCE_TYPES[type_name]
        if rule.actions:
            scoped = _arns(stack, type_name) if (rule.arns or rule.parent) else ["*"]
            statements.append(_statement(_sid(type_name), rule.actions, scoped))
        if rule.unscoped:
            statements.append(_statement(_sid(type_name, "Unscoped"), rule.unscoped, ["*"]))
    resources = stack.template.get("Resources", {}).values()
    passed_to = sorted(
        {
            service
            for resource in resources
            if resource["Type"] == "AWS::IAM::Role"
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            for service in _as_list(statement.get("Principal", {}).get("Service", []))
        }
    )
    if passed_to and PASSES_ROLES & set(types):
        statements.append(
            _statement(
                "PassOwnRoles",
                ["iam:PassRole"],
                _arns(stack, "AWS::IAM::Role"),
                Condition={"StringEquals": {"iam:PassedToService": passed_to}},
            )
        )
    assets = sorted(
        {
            _resolve(code["S3Bucket"], stack, "the asset bucket")
            for resource in resources
            for code in (resource.get("Properties", {}).get(key) for key in ("Code", "Content"))
            if isinstance(code, dict) and "S3Bucket" in code
        }
    )
    if assets:
        arns = [f"arn:{PARTITION}:s3:::{bucket}/*" for bucket in assets]
        statements.append(_statement("ReadCdkAssets", ["s3:GetObject", "s3:GetObjectVersion"], arns))
    parameters = sorted(
        str(parameter["Default"])
        for parameter in stack.template.get("Parameters", {}).values()
        if str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and "Default" in parameter
    )
    if parameters:
        arns = [f"arn:{PARTITION}:ssm:{stack.region}:{stack.account}:parameter{path}" for path in parameters]
        statements.append(_statement("ReadBootstrapVersion", ["ssm:GetParameters"], arns))
    return sorted(statements, key=lambda statement: str(statement["Sid"]))


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_documents(stack: Stack) -> list[dict[str, Any]]:
    """``stack``'s execution policy as managed-policy documents, each within IAM's size limit."""
    documents: list[list[dict[str, Any]]] = [[]]
    for statement in policy_statements(stack):
        candidate = [*documents[-1], statement]
        if documents[-1] and _size({"Version": "2012-10-17", "Statement": candidate}) > MANAGED_POLICY_MAX_CHARS:
            documents.append([statement])
        else:
            documents[-1] = candidate
    return [{"Version": "2012-10-17", "Statement": statements} for statements in documents]


def _size(document: Mapping[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def policy_files(stack: Stack) -> dict[str, dict[str, Any]]:
    """File name → document: ``execution-policy-<Stack>.json``, or ``-1``, ``-2``... when it takes several."""
    documents = policy_documents(stack)
    if len(documents) == 1:
        return {f"execution-policy-{stack.name}.json": documents[0]}
    return {f"execution-policy-{stack.name}-{n}.json": document for n, document in enumerate(documents, 1)}


def policy_names(stack: Stack) -> list[str]:
    """The IAM policy names docs/deploy.md creates the files as (``finops-cfn-exec-<Stack>[-n]``)."""
    return [
        POLICY_NAME.format(stack=file.removeprefix("execution-policy-").removesuffix(".json"))
        for file in policy_files(stack)
    ]


def write(stacks: Sequence[Stack], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("execution-policy-*.json"):
        stale.unlink()
    written = []
    for stack in stacks:
        for file, document in policy_files(stack).items():
            path = out / file
            path.write_text(json.dumps(document, indent=2) + "\n")
            written.append(path)
    return written


def cdk_deployed(stacks: Sequence[Stack]) -> list[Stack]:
    """The stacks `make deploy` deploys: those with an account (the StackSet templates have none)."""
    return [stack for stack in stacks if stack.account != "*"]


def bootstrap_steps(stack: Stack, *, out: Path, cdk: str, shared_with: Sequence[Stack] = ()) -> list[str]:
    """The commands that bootstrap ``stack``'s account and region with its execution policy, in order.

    One bootstrap serves every stack of an account and region, and its execution role carries exactly the policies it
    is bootstrapped with: ``shared_with`` are the other stacks deployed there (FinOpsManagement and
    FinOpsManagementRegional-us-east-1), whose policies the ``cdk bootstrap`` line names too.
    """
    names = policy_names(stack)
    files = list(policy_files(stack))
    relative = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    create = [
        f"aws iam create-policy --policy-name {name} --policy-document file://{relative / file}"
        for name, file in zip(names, files, strict=True)
    ]
    environment = sorted({s.name: s for s in (stack, *shared_with)}.values(), key=lambda s: s.name)
    arns = ",".join(
        f"arn:{PARTITION}:iam::{stack.account}:policy/{name}" for member in environment for name in policy_names(member)
    )
    return [
        *create,
        f"{cdk} bootstrap aws://{stack.account}/{stack.region} --cloudformation-execution-policies {arns}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "steps"])
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "deploy")
    parser.add_argument("--stacks", help="for steps: the stacks, space-separated (default: every CDK-deployed one)")
    parser.add_argument("--cdk", default="cdk", help="for steps: the CDK CLI command")
    parser.add_argument("--run", action="store_true", help="for steps: run the cdk bootstrap of the one stack named")
    args = parser.parse_args(argv)
    try:
        stacks = read_assembly(args.cdk_out)
        if args.command == "write":
            for path in write(stacks, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
            return 0
        deployed = cdk_deployed(stacks)
        by_name = {stack.name: stack for stack in deployed}
        wanted = args.stacks.split() if args.stacks else list(by_name)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            print(f"--stacks: {unknown} are not CDK-deployed stacks (those are {list(by_name)})", file=sys.stderr)
            return 2
        if args.run and len(wanted) != 1:
            print("--run bootstraps one account: name one stack (STACKS=FinOpsHub)", file=sys.stderr)
            return 2
        for name in wanted:
            stack = by_name[name]
            neighbours = [
                s for s in deployed if (s.account, s.region) == (stack.account, stack.region) and s is not stack
            ]
            print(f"# {name}: with credentials for account {stack.account}")
            if neighbours:
                print(f"# (its bootstrap of {stack.region} serves {', '.join(s.name for s in neighbours)} too)")
            steps = bootstrap_steps(stack, out=args.out, cdk=args.cdk, shared_with=neighbours)
            print("\n".join(steps))
        if args.run:
            return subprocess.run(steps[-1].split(), check=False).returncode
        return 0
    except UnmappedResourceError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
