"""The CloudFormation execution policies follow the synthesized stacks: every resource type is mapped, every action
is one AWS knows and CloudFormation's handlers ask for, every ARN is named, and the committed documents are current."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import cfnlint
import pytest
from aws_cdk import App

from finops.models.config import FinOpsConfig
from stacks.app_stacks import create_organization_stacks, create_stacks
from tests.stacks.template_helpers import config_with
from tools import execution_policy
from tools.build_layer import ROOT, ensure_layer
from tools.execution_policy import (
    MANAGED_POLICY_MAX_CHARS,
    RESOURCE_TYPES,
    Stack,
    UnmappedResourceError,
    policy_documents,
    policy_files,
    read_assembly,
)

pytestmark = pytest.mark.slow

# IAM actions that are not the name of an API operation, and the operation each one authorizes (None: a permission
# only, checked by IAM when a role is handed to a service).
IAM_ONLY = {
    "iam:PassRole": None,
    "cloudformation:TagResource": None,  # tags on a StackSet: CreateStackSet/UpdateStackSet with Tags
    "cloudformation:UntagResource": None,
    "s3:GetObjectVersion": "GetObject",
    "s3:ListBucket": "ListObjectsV2",
    "s3:GetAccelerateConfiguration": "GetBucketAccelerateConfiguration",
    "s3:GetAnalyticsConfiguration": "GetBucketAnalyticsConfiguration",
    "s3:GetBucketCORS": "GetBucketCors",
    "s3:GetBucketNotification": "GetBucketNotificationConfiguration",
    "s3:GetBucketObjectLockConfiguration": "GetObjectLockConfiguration",
    "s3:GetBucketPublicAccessBlock": "GetPublicAccessBlock",
    "s3:GetEncryptionConfiguration": "GetBucketEncryption",
    "s3:GetIntelligentTieringConfiguration": "GetBucketIntelligentTieringConfiguration",
    "s3:GetInventoryConfiguration": "GetBucketInventoryConfiguration",
    "s3:GetLifecycleConfiguration": "GetBucketLifecycleConfiguration",
    "s3:GetMetricsConfiguration": "GetBucketMetricsConfiguration",
    "s3:GetReplicationConfiguration": "GetBucketReplication",
    "s3:PutBucketPublicAccessBlock": "PutPublicAccessBlock",
    "s3:PutEncryptionConfiguration": "PutBucketEncryption",
    "s3:PutLifecycleConfiguration": "PutBucketLifecycleConfiguration",
}
# The IAM service prefix → botocore's service name, where they differ.
BOTOCORE_SERVICE = {"states": "stepfunctions"}

# Handler permissions of the provider schemas that no stack needs: the features they serve are not used.
NOT_USED: dict[str, set[str]] = {
    "AWS::DynamoDB::Table": {
        # import from S3, Kinesis streaming, global-table replicas, resource policies, and the item calls import makes
        *("dynamodb:DescribeImport", "dynamodb:ImportTable", "dynamodb:EnableKinesisStreamingDestination"),
        *("dynamodb:DisableKinesisStreamingDestination", "dynamodb:UpdateKinesisStreamingDestination"),
        *("dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica", "dynamodb:PutResourcePolicy"),
        *("dynamodb:DeleteResourcePolicy", "dynamodb:Scan", "dynamodb:Query", "dynamodb:UpdateItem"),
        *("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"),
    },
    "AWS::IAM::Policy": {  # our inline policies attach to roles, never to users or groups
        *("iam:GetUserPolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy"),
        *("iam:GetGroupPolicy", "iam:PutGroupPolicy", "iam:DeleteGroupPolicy"),
    },
    "AWS::Lambda::Function": {
        # code signing, capacity providers, runtime aliases, provisioned scaling
        *("lambda:GetCodeSigningConfig", "lambda:PutFunctionCodeSigningConfig"),
        *("lambda:DeleteFunctionCodeSigningConfig", "lambda:PassCapacityProvider", "lambda:AssociateRuntimeAlias"),
        *("lambda:PutFunctionScalingConfig", "lambda:GetFunctionScalingConfig", "lambda:GetLayerVersion"),
    },
    "AWS::Logs::LogGroup": {
        # data protection, field indexes, delivery, bearer tokens, deletion protection, resource policies
        *("logs:PutDataProtectionPolicy", "logs:DeleteDataProtectionPolicy", "logs:PutIndexPolicy"),
        *("logs:DeleteIndexPolicy", "logs:CreateLogDelivery", "logs:PutBearerTokenAuthentication"),
        *("logs:PutLogGroupDeletionProtection", "logs:PutResourcePolicy", "logs:DeleteResourcePolicy"),
    },
    "AWS::S3::Bucket": {
        # S3 Tables, metadata tables, replication, website, CORS, analytics/inventory/metrics/tiering/acceleration
        # configurations, object lock, ABAC, ACLs, object writes
        *("s3:PutBucketAbac", "s3:GetBucketAbac", "s3:TagResource", "s3:UntagResource", "s3:ListTagsForResource"),
        *("s3:PutAnalyticsConfiguration", "s3:PutBucketCORS", "s3:PutInventoryConfiguration"),
        *("s3:PutMetricsConfiguration", "s3:PutBucketNotification", "s3:PutBucketReplication", "s3:PutBucketWebsite"),
        *("s3:PutAccelerateConfiguration", "s3:PutReplicationConfiguration", "s3:PutObjectAcl", "s3:DeleteObject"),
        *("s3:PutBucketObjectLockConfiguration", "s3:PutObjectLockConfiguration", "s3:PutBucketAcl"),
        *("s3:PutIntelligentTieringConfiguration", "s3:GetBucketMetadataTableConfiguration"),
        *("s3:CreateBucketMetadataTableConfiguration", "s3:DeleteBucketMetadataTableConfiguration"),
        *("s3:UpdateBucketMetadataJournalTableConfiguration", "s3:UpdateBucketMetadataInventoryTableConfiguration"),
        *("s3:UpdateBucketMetadataAnnotationTableConfiguration", "s3:DeleteBucketWebsite"),
        *("s3:DeleteBucketAnalyticsConfiguration", "s3:DeleteBucketCors", "s3:DeleteBucketMetricsConfiguration"),
        *("s3:DeleteBucketEncryption", "s3:DeleteBucketLifecycle", "s3:DeleteBucketReplication"),
    },
    # no inline subscriptions, no delivery-status logging roles
    "AWS::SNS::Topic": {"sns:PutDataProtectionPolicy", "sns:Subscribe", "sns:Unsubscribe", "iam:PassRole"},
    "AWS::SNS::Subscription": {"iam:PassRole"},  # no subscription role (Firehose endpoints only)
    "AWS::Rbin::Rule": {"iam:PassRole"},  # no role is passed to Recycle Bin
    "AWS::CloudFormation::StackSet": {"iam:PassRole"},  # service-managed: no self-managed administration role
}
# Other services' handler permissions that no stack needs: customer-managed keys on tables, functions, state
# machines and event filters; VPCs and file systems; Kinesis; delivery-status roles; service-linked roles for
# replicas; log delivery to S3 or Firehose; S3 Tables.
CROSS_SERVICE_NOT_USED_PREFIXES = (
    "kms:",
    "ec2:",
    "elasticfilesystem:",
    "s3files:",
    "kinesis:",
    "firehose:",
    "s3tables:",
)
CROSS_SERVICE_NOT_USED = {
    "iam:GetRole",
    "iam:CreateServiceLinkedRole",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
    "s3:GetObjectMetadata",
    "s3:ListBucket",
    "s3:REST.PUT.OBJECT",
    "s3:GetObject",  # DynamoDB's: import from S3
}


@pytest.fixture(scope="module")
def stacks(config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory) -> list[Stack]:
    """The shipped config's stacks, synthesized as `make synth` does (cdk-nag aside), read back from the assembly."""
    out = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(out))
    create_stacks(app, config, layer_dir=ensure_layer(ROOT / "build" / "layer"))
    app.synth()
    return read_assembly(out)


def by_name(stacks: list[Stack], name: str) -> Stack:
    [stack] = [stack for stack in stacks if stack.name == name]
    return stack


def statements(stack: Stack) -> Iterator[dict[str, Any]]:
    for document in policy_documents(stack):
        yield from document["Statement"]


def provider_permissions(type_name: str) -> set[str]:
    """What CloudFormation's resource provider for ``type_name`` declares its handlers call (cfn-lint's copy)."""
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    digest = json.loads((schemas / "providers" / "us-east-1.json").read_text())[type_name]
    handlers = json.loads((schemas / "resources" / f"{digest}.json").read_text()).get("handlers", {})
    return {p for verb in ("create", "read", "update", "delete") for p in handlers.get(verb, {}).get("permissions", [])}


def test_every_resource_type_of_every_stack_has_a_row(stacks: list[Stack]) -> None:
    assert {stack.name for stack in stacks} == {"FinOpsManagement", "FinOpsMember", "FinOpsMemberRegional", "FinOpsHub"}
    for stack in stacks:
        types = {resource["Type"] for resource in stack.template["Resources"].values()}
        assert types <= set(RESOURCE_TYPES), f"{stack.name}: no RESOURCE_TYPES row for {types - set(RESOURCE_TYPES)}"


def test_a_resource_type_without_a_row_stops_the_tool(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    template = {"Resources": {"Box": {"Type": "AWS::EC2::Instance", "Properties": {}}}}
    (tmp_path / "Odd.template.json").write_text(json.dumps(template))
    manifest = {
        "artifacts": {
            "Odd": {
                "type": "aws:cloudformation:stack",
                "environment": "aws://123456789012/us-east-1",
                "properties": {"templateFile": "Odd.template.json"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(UnmappedResourceError, match=r"Odd creates AWS::EC2::Instance, which .* RESOURCE_TYPES"):
        policy_documents(read_assembly(tmp_path)[0])
    assert execution_policy.main(["write", "--cdk-out", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "AWS::EC2::Instance" in capsys.readouterr().err


def test_each_row_grants_what_cloudformation_handlers_call(stacks: list[Stack]) -> None:
    for stack in stacks:
        granted = {action for statement in statements(stack) for action in statement["Action"]}
        for type_name in {resource["Type"] for resource in stack.template["Resources"].values()} - {
            "AWS::CDK::Metadata"
        }:
            rule = RESOURCE_TYPES[type_name]
            own = {p for p in provider_permissions(type_name) if p.split(":")[0] == rule_service(type_name)}
            missing = own - set(rule.actions) - set(rule.unscoped) - NOT_USED.get(type_name, set())
            assert not missing, f"{type_name}: its CloudFormation handlers call {sorted(missing)}, not granted"
            other = {p for p in provider_permissions(type_name) if p.split(":")[0] != rule_service(type_name)}
            unexplained = {
                p
                for p in other - granted - CROSS_SERVICE_NOT_USED - NOT_USED.get(type_name, set())
                if not p.startswith(CROSS_SERVICE_NOT_USED_PREFIXES)
            }
            assert not unexplained, f"{stack.name} {type_name}: handlers also call {sorted(unexplained)}"


def rule_service(type_name: str) -> str:
    [service] = {action.split(":")[0] for action in RESOURCE_TYPES[type_name].actions}
    return service


def test_every_action_is_one_aws_knows(stacks: list[Stack]) -> None:
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for stack in stacks:
        for statement in statements(stack):
            for action in statement["Action"]:
                prefix, name = action.split(":")
                assert "*" not in action, f"{stack.name} {statement['Sid']}: wildcard action {action}"
                operation = IAM_ONLY.get(action, name)
                if operation is None:
                    continue
                service = BOTOCORE_SERVICE.get(prefix, prefix)
                if service not in operations:
                    operations[service] = set(session.get_service_model(service).operation_names)
                assert operation in operations[service], f"{action}: botocore's {service} has no {operation}"


def test_resources_are_named_wherever_the_service_allows(stacks: list[Stack]) -> None:
    for stack in stacks:
        for statement in statements(stack):
            sid = str(statement["Sid"])
            if statement["Resource"] == ["*"]:
                type_name = next(
                    t for t in RESOURCE_TYPES if sid.removesuffix("Unscoped") == "".join(t.split("::")[1:])
                )
                assert sid.endswith("Unscoped") or RESOURCE_TYPES[type_name].why_unscoped, sid
            else:
                assert all(arn.startswith("arn:aws:") for arn in statement["Resource"]), statement


def test_the_hub_policy_reads_as_a_reviewer_expects(stacks: list[Stack], config: FinOpsConfig) -> None:
    hub = {s["Sid"]: s for s in statements(by_name(stacks, "FinOpsHub"))}
    account = config.organization.automation_account_id

    assert hub["SQSQueue"]["Resource"] == [f"arn:aws:sqs:us-east-1:{account}:finops-*"]
    assert hub["LambdaFunction"]["Resource"] == [f"arn:aws:lambda:us-east-1:{account}:function:finops-*"]
    assert f"arn:aws:iam::{account}:role/finops-*" in hub["IAMRole"]["Resource"]
    assert hub["PassOwnRoles"]["Action"] == ["iam:PassRole"]
    assert hub["PassOwnRoles"]["Resource"] == hub["IAMRole"]["Resource"]
    assert hub["PassOwnRoles"]["Condition"] == {
        "StringEquals": {
            "iam:PassedToService": ["lambda.amazonaws.com", "scheduler.amazonaws.com", "states.amazonaws.com"]
        }
    }
    assert hub["ReadCdkAssets"]["Resource"] == [f"arn:aws:s3:::cdk-hnb659fds-assets-{account}-us-east-1/*"]
    # The hub subscribes to the management account's topics, and to those alone.
    management = config.organization.management_account_id
    assert hub["SNSSubscription"]["Resource"] == [
        f"arn:aws:sns:us-east-1:{management}:finops-*",
        f"arn:aws:sns:us-east-1:{management}:finops-*:*",
    ]
    assert not any(
        a.startswith(("dynamodb:GetItem", "dynamodb:Scan", "s3:PutObject")) for s in hub.values() for a in s["Action"]
    )


def test_every_named_resource_matches_its_statement(stacks: list[Stack]) -> None:
    for stack in stacks:
        by_sid = {s["Sid"]: s for s in statements(stack)}
        for logical_id, resource in stack.template["Resources"].items():
            rule = RESOURCE_TYPES[resource["Type"]]
            name = resource.get("Properties", {}).get(rule.name_property or "")
            if not isinstance(name, str) or rule.name_property == "TopicArn":
                continue
            sid = "".join(resource["Type"].split("::")[1:])
            arns = [
                arn.format(partition="aws", region=stack.region, account=stack.account, name=name) for arn in rule.arns
            ]
            assert all(any(fnmatch.fnmatchcase(arn, allowed) for allowed in by_sid[sid]["Resource"]) for arn in arns), (
                f"{stack.name} {logical_id} ({name}) is outside {by_sid[sid]['Resource']}"
            )


def test_each_document_fits_a_managed_policy(stacks: list[Stack]) -> None:
    for stack in stacks:
        for document in policy_documents(stack):
            assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS


def test_the_committed_policies_are_the_current_stacks(stacks: list[Stack]) -> None:
    committed = {path.name: json.loads(path.read_text()) for path in (ROOT / "docs" / "deploy").glob("*.json")}
    generated = {file: document for stack in stacks for file, document in policy_files(stack).items()}

    assert committed == generated, "docs/deploy/ is stale: run `make execution-policies` and commit the result"


def test_the_bootstrap_steps_name_the_account_and_the_policies(
    stacks: list[Stack], config: FinOpsConfig, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    for stack in stacks:
        (cdk_out / f"{stack.name}.template.json").write_text(json.dumps(stack.template))
    manifest = {
        "artifacts": {
            stack.name: {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{stack.account}/{stack.region}".replace("*", "unknown-account", 1),
                "properties": {"templateFile": f"{stack.name}.template.json"},
            }
            for stack in stacks
        }
    }
    (cdk_out / "manifest.json").write_text(json.dumps(manifest))

    code = execution_policy.main(["steps", "--cdk-out", str(cdk_out), "--stacks", "FinOpsManagement", "--cdk", "cdk"])

    management = config.organization.management_account_id
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"# FinOpsManagement: with credentials for account {management}",
        "aws iam create-policy --policy-name finops-cfn-exec-FinOpsManagement "
        "--policy-document file://docs/deploy/execution-policy-FinOpsManagement.json",
        f"cdk bootstrap aws://{management}/us-east-1 "
        f"--cloudformation-execution-policies arn:aws:iam::{management}:policy/finops-cfn-exec-FinOpsManagement",
    ]
    assert execution_policy.main(["steps", "--cdk-out", str(cdk_out), "--stacks", "FinOpsMember"]) == 2


def test_the_management_policy_may_run_only_our_stack_sets(stacks: list[Stack]) -> None:
    management = {s["Sid"]: s for s in statements(by_name(stacks, "FinOpsManagement"))}

    stack_sets = management["CloudFormationStackSet"]
    assert {"cloudformation:CreateStackSet", "cloudformation:CreateStackInstances"} <= set(stack_sets["Action"])
    assert "arn:aws:cloudformation:us-east-1:*:stackset/finops-*:*" in stack_sets["Resource"]
    assert not [arn for arn in stack_sets["Resource"] if ":stackset/" in arn and "finops-" not in arn]
    assert management["CloudFormationStackSetUnscoped"]["Action"] == [
        "cloudformation:GetTemplateSummary",
        "cloudformation:ListStackSets",
        "organizations:ListDelegatedAdministrators",
    ]
    assert not any(a == "iam:PassRole" for s in management.values() for a in s["Action"])


def test_stacks_sharing_an_account_and_region_share_one_bootstrap(
    config: FinOpsConfig, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given the management account included: FinOpsManagementRegional-us-east-1 deploys beside FinOpsManagement
    variant = config_with(config, organization={"include_management_account": True})
    app = App(outdir=str(tmp_path / "cdk.out"))
    create_organization_stacks(app, variant)
    app.synth()

    code = execution_policy.main(
        ["steps", "--cdk-out", str(tmp_path / "cdk.out"), "--stacks", "FinOpsManagementRegional-us-east-1"]
    )

    management = config.organization.management_account_id
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[:2] == [
        f"# FinOpsManagementRegional-us-east-1: with credentials for account {management}",
        "# (its bootstrap of us-east-1 serves FinOpsManagement too)",
    ]
    # the one execution role of that account and region carries both stacks' policies
    assert lines[-1] == (
        f"cdk bootstrap aws://{management}/us-east-1 --cloudformation-execution-policies "
        f"arn:aws:iam::{management}:policy/finops-cfn-exec-FinOpsManagement,"
        f"arn:aws:iam::{management}:policy/finops-cfn-exec-FinOpsManagementRegional-us-east-1"
    )
    assert execution_policy.main(["steps", "--cdk-out", str(tmp_path / "cdk.out"), "--stacks", "FinOpsMember"]) == 2
