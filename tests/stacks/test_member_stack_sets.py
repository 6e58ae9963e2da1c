"""The member stacks go out as service-managed StackSets: the very templates the member stacks synthesize, to the
deployment OUs with auto-deployment, the member role in one region and the regional stack in every configured one,
with the configured failure tolerance and concurrency; from the management stack, or from a delegated administrator's
own stack; and the management account, which service-managed StackSets skip, gets the member resources from its own
stacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from finops.models.config import FinOpsConfig
from stacks.app_stacks import FinOpsStacks, OrganizationStacks, create_organization_stacks
from stacks.constructs.member_stack_sets import (
    TEMPLATE_BODY_MAX_BYTES,
    MemberStackSets,
    MemberTemplates,
    StackSetTemplate,
    required_capabilities,
)
from stacks.management_stack import FinOpsManagementStack
from stacks.member_regional_stack import FinOpsMemberRegionalStack
from stacks.member_stack import FinOpsMemberStack
from stacks.naming import ALERTS_REGION
from stacks.policies.scp import MEMBER_STACKSETS
from stacks.tagging import tag_own_resources
from tests.stacks.template_helpers import config_with, only, resources, statements

pytestmark = pytest.mark.slow  # synthesizes the app (once per session)

STACK_SET = "AWS::CloudFormation::StackSet"
MANAGEMENT = "111111111111"
HUB = "222222222222"
DELEGATED = "444444444444"
ORGANIZATION_ID = "o-a1b2c3d4e5"
ROOT_ID = "r-a1b2"
OU = "ou-ab12-cd34ef56"
# The management account included, the StackSets administered from a delegated administrator.
ORGANIZATION_VARIANT = {
    "include_management_account": True,
    "organization_id": ORGANIZATION_ID,
    "stacksets": {"administrator": "delegated", "delegated_admin_account_id": DELEGATED},
}


def stack_sets(template: Template) -> dict[str, dict[str, Any]]:
    """StackSet name -> its properties."""
    found = resources(template, STACK_SET).values()
    return {r["Properties"]["StackSetName"]: r["Properties"] for r in found}


def with_account(value: Any, account: str) -> Any:
    """``value`` with every ``{"Ref": "AWS::AccountId"}`` written as ``account``."""
    if value == {"Ref": "AWS::AccountId"}:
        return account
    if isinstance(value, dict):
        return {key: with_account(item, account) for key, item in value.items()}
    if isinstance(value, list):
        return [with_account(item, account) for item in value]
    return value


def organization_stacks(config: FinOpsConfig, tmp_path: Path, **organization: Any) -> OrganizationStacks:
    app = App(outdir=str(tmp_path / "cdk.out"))
    return create_organization_stacks(app, config_with(config, organization=organization))


@pytest.fixture(scope="module")
def synthesized(app_and_stacks: tuple[App, FinOpsStacks]) -> Path:
    """The shipped config's cloud assembly, as `make synth` writes it to cdk.out."""
    app, _ = app_and_stacks
    return Path(app.synth().directory)


@pytest.fixture(scope="module")
def variant(config: FinOpsConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[App, OrganizationStacks, Path]:
    """The organization stacks for ORGANIZATION_VARIANT, tagged as the app tags them, synthesized."""
    app = App(outdir=str(tmp_path_factory.mktemp("stacksets-variant")))
    variant_config = config_with(config, organization=ORGANIZATION_VARIANT)
    stacks = create_organization_stacks(app, variant_config)
    tag_own_resources(app, variant_config)
    return app, stacks, Path(app.synth().directory)


# -- from the management account (the shipped config) --------------------------------------------------------------


def test_the_management_stack_deploys_both_member_stacks_as_service_managed_stack_sets(
    management_template: Template,
) -> None:
    found = stack_sets(management_template)

    # the names the SCP bundle protects the instances of (stacks StackSet-finops-member-*)
    assert tuple(found) == MEMBER_STACKSETS == ("finops-member", "finops-member-regional")
    for name, properties in found.items():
        assert properties["PermissionModel"] == "SERVICE_MANAGED", name
        assert properties["CallAs"] == "SELF", name
        # an account joining the OUs gets the stacks, one leaving loses them
        assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}, name
        # conflicting operations (an update during an auto-deployment) queue instead of failing
        assert properties["ManagedExecution"] == {"Active": True}, name
        assert "AdministrationRoleARN" not in properties  # service-managed: no self-managed roles
        assert "ExecutionRoleName" not in properties


def test_the_role_goes_to_one_region_and_the_regional_stack_to_every_configured_one(
    management_template: Template, config: FinOpsConfig
) -> None:
    found = stack_sets(management_template)

    # shipped: no target_ous, so the Organization root: every account but the management account
    assert found["finops-member"]["StackInstancesGroup"] == [
        {"DeploymentTargets": {"OrganizationalUnitIds": [ROOT_ID]}, "Regions": ["us-east-1"]}
    ]
    assert found["finops-member-regional"]["StackInstancesGroup"] == [
        {"DeploymentTargets": {"OrganizationalUnitIds": [ROOT_ID]}, "Regions": ["eu-west-1", "us-east-1"]}
    ]
    assert config.organization.regions == ("eu-west-1", "us-east-1")


def test_the_operation_preferences_are_the_configured_ones(management_template: Template) -> None:
    for name, properties in stack_sets(management_template).items():
        assert properties["OperationPreferences"] == {
            "FailureTolerancePercentage": 10,
            "MaxConcurrentPercentage": 25,
            "ConcurrencyMode": "STRICT_FAILURE_TOLERANCE",
            "RegionConcurrencyType": "PARALLEL",
        }, name


def test_each_stack_set_acknowledges_the_named_roles_its_template_creates(management_template: Template) -> None:
    # FinOpsMember names the member role; FinOpsMemberRegional the forwarding role finops-cloudtrail-forwarding-<region>
    for name, properties in stack_sets(management_template).items():
        assert properties["Capabilities"] == ["CAPABILITY_NAMED_IAM"], name


def test_the_template_body_is_the_member_stacks_own_synthesized_template(
    management_template: Template, synthesized: Path
) -> None:
    found = stack_sets(management_template)

    for name, template_file in (
        ("finops-member", "FinOpsMember.template.json"),
        ("finops-member-regional", "FinOpsMemberRegional.template.json"),
    ):
        body = found[name]["TemplateBody"]
        # the file `make synth` writes, compacted; well within what a TemplateBody holds
        assert json.loads(body) == json.loads((synthesized / template_file).read_text()), name
        assert body == json.dumps(json.loads(body), separators=(",", ":"))
        assert len(body.encode()) < TEMPLATE_BODY_MAX_BYTES / 4, (name, len(body.encode()))


def test_the_member_trust_requires_the_organization_id_the_stack_set_passes(management_template: Template) -> None:
    member = stack_sets(management_template)["finops-member"]
    body = json.loads(member["TemplateBody"])
    _, role = only(Template.from_json(body), "AWS::IAM::Role")
    workers, _auto_tagger = statements(role, "AssumeRolePolicyDocument")

    # the deployed role (test_member_stack.py has its whole trust): the hub account, each worker's exact role ARN, and
    # principals of the Organization whose id the StackSet passes from the management stack's OrganizationId
    assert workers["Principal"] == {"AWS": f"arn:${{AWS::Partition}}:iam::{HUB}:root"}
    assert (
        f"arn:${{AWS::Partition}}:iam::{HUB}:role/finops-scheduler-worker"
        in (workers["Condition"]["ArnEquals"]["aws:PrincipalArn"])
    )
    assert workers["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}
    assert member["Parameters"] == [{"ParameterKey": "OrganizationId", "ParameterValue": {"Ref": "OrganizationId"}}]
    assert "OrganizationId" in management_template.to_json()["Parameters"]
    # the regional template has no parameter to pass
    assert "Parameters" not in json.loads(stack_sets(management_template)["finops-member-regional"]["TemplateBody"])
    assert "Parameters" not in stack_sets(management_template)["finops-member-regional"]


def test_member_templates_stay_stack_set_templates(synthesized: Path) -> None:
    manifest = json.loads((synthesized / "manifest.json").read_text())["artifacts"]

    for name in ("FinOpsMember", "FinOpsMemberRegional"):
        template = json.loads((synthesized / f"{name}.template.json").read_text())
        assert manifest[name]["environment"] == "aws://unknown-account/unknown-region", name
        assert "Rules" not in template  # no CheckBootstrapVersion: member accounts are not bootstrapped
        assert "BootstrapVersion" not in template.get("Parameters", {})
        assert not (synthesized / f"{name}.assets.json").exists()


# -- what the config says -------------------------------------------------------------------------------------------


def test_target_ous_excluded_accounts_and_counts_reach_the_stack_sets(config: FinOpsConfig, tmp_path: Path) -> None:
    stacks = organization_stacks(
        config,
        tmp_path,
        target_ous=[OU],
        excluded_accounts=["555555555555"],
        stacksets={
            # a count replaces the percentage (config_with writes the shipped percentages in, as a user's file would not)
            "failure_tolerance_percentage": None,
            "failure_tolerance_count": 2,
            "max_concurrent_percentage": None,
            "max_concurrent_count": 3,
            "concurrency_mode": "soft",
            "region_concurrency": "sequential",
            "retain_stacks_on_account_removal": True,
            "member_region": "eu-west-1",
        },
    )
    found = stack_sets(Template.from_stack(stacks.management))

    member = found["finops-member"]
    assert member["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {
                "OrganizationalUnitIds": [OU],
                "Accounts": ["555555555555"],
                "AccountFilterType": "DIFFERENCE",
            },
            "Regions": ["eu-west-1"],
        }
    ]
    assert member["OperationPreferences"] == {
        "FailureToleranceCount": 2,
        "MaxConcurrentCount": 3,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        "RegionConcurrencyType": "SEQUENTIAL",
    }
    assert member["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": True}
    assert found["finops-member-regional"]["StackInstancesGroup"][0]["DeploymentTargets"]["OrganizationalUnitIds"] == [
        OU
    ]


def test_disabled_stack_sets_are_not_deployed_from_anywhere(config: FinOpsConfig, tmp_path: Path) -> None:
    stacks = organization_stacks(config, tmp_path, stacksets={"enabled": False})

    assert not resources(Template.from_stack(stacks.management), STACK_SET)
    assert stacks.stack_sets is None
    # the templates are still written, for whoever deploys them otherwise
    assert {stacks.member.stack_name, stacks.member_regional.stack_name} == {"FinOpsMember", "FinOpsMemberRegional"}


# -- from a delegated administrator -----------------------------------------------------------------------------------


def test_a_delegated_administrator_gets_its_own_stack_calling_as_delegated_admin(
    variant: tuple[App, OrganizationStacks, Path],
) -> None:
    _, stacks, _ = variant
    assert stacks.stack_sets is not None
    assert (stacks.stack_sets.account, stacks.stack_sets.region) == (DELEGATED, ALERTS_REGION)
    assert stacks.stack_sets.stack_name == "FinOpsStackSets"
    template = Template.from_stack(stacks.stack_sets)

    found = stack_sets(template)
    assert tuple(found) == MEMBER_STACKSETS
    for name, properties in found.items():
        assert properties["CallAs"] == "DELEGATED_ADMIN", name
        assert properties["PermissionModel"] == "SERVICE_MANAGED", name
    # the same templates, with this stack's OrganizationId (defaulting to the configured one)
    assert json.loads(found["finops-member"]["TemplateBody"]) == Template.from_stack(stacks.member).to_json()
    assert template.to_json()["Parameters"]["OrganizationId"]["Default"] == ORGANIZATION_ID
    # and the management stack holds none
    assert not resources(Template.from_stack(stacks.management), STACK_SET)


# -- the management account, which service-managed StackSets skip ---------------------------------------------------


def test_an_included_management_account_gets_the_regional_stack_in_every_configured_region(
    variant: tuple[App, OrganizationStacks, Path], config: FinOpsConfig
) -> None:
    _, stacks, synthesized = variant

    assert [(s.stack_name, s.account, s.region) for s in stacks.management_regional] == [
        ("FinOpsManagementRegional-eu-west-1", MANAGEMENT, "eu-west-1"),
        ("FinOpsManagementRegional-us-east-1", MANAGEMENT, "us-east-1"),
    ]
    member_regional = json.loads((synthesized / "FinOpsMemberRegional.template.json").read_text())["Resources"]
    for stack in stacks.management_regional:
        template = json.loads((synthesized / f"{stack.stack_name}.template.json").read_text())
        # exactly the resources the regional StackSet deploys in every member account (where this stack, bound to the
        # management account, writes its id, the StackSet's template has the pseudo parameter)
        ours = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"}
        theirs = {k: v for k, v in member_regional.items() if v["Type"] != "AWS::CDK::Metadata"}
        assert ours == with_account(theirs, MANAGEMENT), stack.stack_name
    # and the member role comes from the management stack (test_management_stack.py)
    assert only(
        Template.from_stack(stacks.management), "AWS::IAM::Role", {"RoleName": config.organization.member_role_name}
    )


def test_the_shipped_config_has_no_management_account_stacks(stacks: FinOpsStacks) -> None:
    assert stacks.management_regional == ()
    assert stacks.stack_sets is None


# -- every variant template is clean ----------------------------------------------------------------------------------


def test_the_variant_stacks_pass_cdk_nag_and_cfn_lint(variant: tuple[App, OrganizationStacks, Path]) -> None:
    app, _, synthesized = variant
    report = AwsSolutionsChecks(verbose=True).validate_scope(app)
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []

    problems = []
    for path in sorted(synthesized.glob("*.template.json")):
        for match in lint_file(path, config=ManualArgs(regions=["us-east-1"])):
            if match.rule.id == "W3005":  # the accepted warning of test_app_synth.py (Functions): none here
                continue
            problems.append(f"{path.name}: {match.rule.id} {match.message} at {'/'.join(map(str, match.path))}")
    assert problems == []
    assert {p.name for p in synthesized.glob("*.template.json")} == {
        "FinOpsMember.template.json",
        "FinOpsMemberRegional.template.json",
        "FinOpsManagement.template.json",
        "FinOpsStackSets.template.json",
        "FinOpsManagementRegional-eu-west-1.template.json",
        "FinOpsManagementRegional-us-east-1.template.json",
    }


# -- what the construct refuses ---------------------------------------------------------------------------------------


def _member_stack_sets(
    management: Stack, member: FinOpsMemberStack, regional: FinOpsMemberRegionalStack, config: FinOpsConfig
) -> MemberStackSets:
    return MemberStackSets(
        management,
        "StackSets",
        templates=MemberTemplates(member=member, member_regional=regional),
        organization=config.organization,
        parameters={"OrganizationId": ORGANIZATION_ID},
        call_as="SELF",
    )


def test_a_stack_set_stack_created_before_its_member_stacks_stops_the_synth(config: FinOpsConfig) -> None:
    app = App()
    management = Stack(app, "Management")
    member = FinOpsMemberStack(app, "FinOpsMember", config=config, synthesizer=StackSetTemplate())
    regional = FinOpsMemberRegionalStack(app, "FinOpsMemberRegional", config=config, synthesizer=StackSetTemplate())

    with pytest.raises(
        ValueError, match="Management deploys FinOpsMember as a StackSet, so FinOpsMember must be created"
    ):
        _member_stack_sets(management, member, regional, config)


def test_a_member_parameter_without_a_default_must_be_passed(config: FinOpsConfig) -> None:
    app = App()
    member = FinOpsMemberStack(app, "FinOpsMember", config=config, synthesizer=StackSetTemplate())
    regional = FinOpsMemberRegionalStack(app, "FinOpsMemberRegional", config=config, synthesizer=StackSetTemplate())
    CfnParameter(regional, "RetentionDays", type="Number")
    management = Stack(app, "Management")

    with pytest.raises(
        ValueError, match=r"FinOpsMemberRegional: the StackSet must pass its parameters \['RetentionDays'\]"
    ):
        _member_stack_sets(management, member, regional, config)


def test_the_management_stack_needs_the_member_stacks_when_it_deploys_the_stack_sets(config: FinOpsConfig) -> None:
    with pytest.raises(ValueError, match=r"organization\.stacksets: the management stack deploys the member StackSets"):
        FinOpsManagementStack(
            App(), "FinOpsManagement", config=config, env=Environment(account=MANAGEMENT, region=ALERTS_REGION)
        )


def test_a_template_past_what_a_template_body_holds_stops_the_synth(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    big = Stack(app, "Big", synthesizer=StackSetTemplate())
    for n in range(200):  # ~330 bytes of compact JSON each: ~66 KB in all
        sns.Topic(big, f"Topic{n}", display_name="x" * 100, topic_name=f"finops-big-{n:03}-" + "y" * 200)

    with pytest.raises(RuntimeError, match=r"Big: its template is [\d,]+ bytes as compact JSON, and a StackSet's "):
        app.synth()


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda stack: sns.Topic(stack, "Topic"), []),
        (lambda stack: iam.Role(stack, "Role", assumed_by=iam.AccountRootPrincipal()), ["CAPABILITY_IAM"]),
        (
            lambda stack: iam.Role(stack, "Role", role_name="named", assumed_by=iam.AccountRootPrincipal()),
            ["CAPABILITY_NAMED_IAM"],
        ),
    ],
)
def test_the_capabilities_follow_what_the_template_creates(build: Any, expected: list[str]) -> None:
    stack = Stack(App(), "Member", synthesizer=StackSetTemplate())
    build(stack)

    assert required_capabilities(stack) == expected
