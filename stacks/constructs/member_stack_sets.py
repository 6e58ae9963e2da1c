"""The member stacks as service-managed StackSets: their own synthesized templates, deployed to the deployment OUs.

A member stack (``FinOpsMember``, ``FinOpsMemberRegional``) is synthesized with :class:`StackSetTemplate`, which
writes its template to the cloud assembly like ``BootstraplessSynthesizer`` (no assets, no bootstrap-version check:
member accounts are not CDK-bootstrapped) and keeps the very text it wrote. :class:`MemberStackSets`, in the stack
that administers the StackSets, takes that text as each StackSet's ``TemplateBody``: what the StackSet deploys is the
document ``cdk.out/FinOpsMember.template.json`` holds, written as compact JSON, never a copy that could drift.

CDK synthesizes the app's stacks in the order they were created, so the member stacks are created before the stack
that deploys them (``stacks.app_stacks``); :class:`MemberStackSets` refuses the other order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsii
from aws_cdk import (
    CfnParameter,
    CfnResource,
    DockerImageAssetLocation,
    FileAssetLocation,
    IResolveContext,
    IStringProducer,
    ISynthesisSession,
    Lazy,
    Stack,
    StackSynthesizer,
)
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_iam as iam
from constructs import Construct

from finops.models.config import OrganizationConfig, StackSetsConfig
from stacks.naming import MEMBER_REGIONAL_STACK_SET_NAME, MEMBER_STACK_SET_NAME

# CloudFormation's limit for a StackSet's TemplateBody (a larger template needs a TemplateURL in S3).
TEMPLATE_BODY_MAX_BYTES = 51_200
NOT_SYNTHESIZED = "<the member template is written when its stack is synthesized, before this one>"
NO_ASSETS = "a StackSet template cannot have assets (member accounts are not CDK-bootstrapped)"
CallAs = Literal["SELF", "DELEGATED_ADMIN"]


class TemplateBodyTooLargeError(ValueError):
    """A member template is past what a StackSet's TemplateBody holds; the message names the stack and the sizes."""


class StackSetTemplate(StackSynthesizer):
    """Synthesizes an environment-agnostic, asset-free stack as a StackSet template, and keeps what it wrote.

    ``template_body`` is a token for the template as compact JSON; it resolves once the stack is synthesized (before
    that, to a placeholder). A template past :data:`TEMPLATE_BODY_MAX_BYTES` stops the synth.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body: str | None = None
        self.template_body: str = Lazy.uncached_string(_TemplateBody(self))

    def add_file_asset(self, *_: Any, **__: Any) -> FileAssetLocation:
        raise TypeError(f"{self._name()}: {NO_ASSETS}")

    def add_docker_image_asset(self, *_: Any, **__: Any) -> DockerImageAssetLocation:
        raise TypeError(f"{self._name()}: {NO_ASSETS}")

    def synthesize(self, session: ISynthesisSession) -> None:
        self._synthesize_template(session)
        self._emit_artifact(session)
        written = json.loads((Path(session.outdir) / self._bound_stack.template_file).read_text())
        body = json.dumps(written, separators=(",", ":"))
        size = len(body.encode())
        if size > TEMPLATE_BODY_MAX_BYTES:
            raise TemplateBodyTooLargeError(
                f"{self._name()}: its template is {size:,} bytes as compact JSON, and a StackSet's TemplateBody holds "
                f"at most {TEMPLATE_BODY_MAX_BYTES:,}: make the stack smaller, or deploy it from a TemplateURL"
            )
        self.body = body

    def _name(self) -> str:
        return self._bound_stack.stack_name


@jsii.implements(IStringProducer)
class _TemplateBody:
    def __init__(self, synthesizer: StackSetTemplate) -> None:
        self.synthesizer = synthesizer

    def produce(self, context: IResolveContext) -> str:
        return self.synthesizer.body or NOT_SYNTHESIZED


@dataclass(frozen=True)
class MemberTemplates:
    """The two member stacks, each synthesized with :class:`StackSetTemplate`."""

    member: Stack
    member_regional: Stack


def template_of(stack: Stack) -> StackSetTemplate:
    synthesizer = stack.synthesizer
    if not isinstance(synthesizer, StackSetTemplate):
        raise TypeError(f"{stack.node.path} is not synthesized as a StackSet template (synthesizer=StackSetTemplate())")
    return synthesizer


def required_capabilities(stack: Stack) -> list[str]:
    """What CloudFormation must be told the template does: ``CAPABILITY_NAMED_IAM`` for a named role or managed
    policy, ``CAPABILITY_IAM`` for other IAM resources, nothing without any."""
    iam_resources = [
        child
        for child in stack.node.find_all()
        if isinstance(child, CfnResource) and child.cfn_resource_type.startswith("AWS::IAM::")
    ]
    named = [
        r
        for r in iam_resources
        if (isinstance(r, iam.CfnRole) and stack.resolve(r.role_name))
        or (isinstance(r, iam.CfnManagedPolicy) and stack.resolve(r.managed_policy_name))
    ]
    if named:
        return ["CAPABILITY_NAMED_IAM"]
    return ["CAPABILITY_IAM"] if iam_resources else []


def stack_parameters(stack: Stack, values: Mapping[str, str]) -> list[cloudformation.CfnStackSet.ParameterProperty]:
    """The StackSet's parameters for ``stack``'s template: the ``values`` it declares a parameter for. A parameter
    without a default that ``values`` does not give stops the synth (the StackSet could not create an instance)."""
    declared = {
        str(stack.resolve(child.logical_id)): child for child in stack.node.children if isinstance(child, CfnParameter)
    }
    missing = sorted(name for name, parameter in declared.items() if parameter.default is None and name not in values)
    if missing:
        raise ValueError(f"{stack.stack_name}: the StackSet must pass its parameters {missing}, which have no default")
    return [
        cloudformation.CfnStackSet.ParameterProperty(parameter_key=name, parameter_value=values[name])
        for name in sorted(declared)
        if name in values
    ]


class MemberStackSets(Construct):
    """The StackSets ``finops-member`` (the member role: ``member_region`` only, IAM being global) and
    ``finops-member-regional`` (every region of ``organization.regions``), both service-managed, to the OUs of
    :meth:`~finops.models.config.OrganizationConfig.stackset_ous` less ``excluded_accounts``, with auto-deployment
    (an account joining the OUs gets them; one leaving loses them unless ``retain_stacks_on_account_removal``), the
    operation preferences of ``organization.stacksets``, managed execution (conflicting operations queue instead of
    failing) and the capabilities each template needs.

    ``call_as`` is ``SELF`` from the management account, ``DELEGATED_ADMIN`` from a registered delegated
    administrator. ``parameters`` go to both templates where they have them (``OrganizationId``). Exposes
    ``member`` and ``member_regional`` (the ``CfnStackSet`` resources).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        templates: MemberTemplates,
        organization: OrganizationConfig,
        parameters: Mapping[str, str],
        call_as: CallAs,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = organization.stacksets
        self._synthesized_before_this_stack(templates)
        common: dict[str, Any] = {
            "permission_model": "SERVICE_MANAGED",
            "call_as": call_as,
            "auto_deployment": cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=settings.retain_stacks_on_account_removal
            ),
            "managed_execution": {"Active": True},
            "operation_preferences": operation_preferences(settings),
        }
        self.member = self._stack_set(
            "Member",
            MEMBER_STACK_SET_NAME,
            templates.member,
            regions=[settings.member_region],
            organization=organization,
            parameters=parameters,
            description="FinOps: the role the hub assumes in every target account (one region: IAM is global)",
            **common,
        )
        self.member_regional = self._stack_set(
            "MemberRegional",
            MEMBER_REGIONAL_STACK_SET_NAME,
            templates.member_regional,
            regions=list(organization.regions),
            organization=organization,
            parameters=parameters,
            description="FinOps: Recycle Bin rules and CloudTrail event forwarding in every configured region",
            **common,
        )

    def _stack_set(
        self,
        construct_id: str,
        name: str,
        stack: Stack,
        *,
        regions: list[str],
        organization: OrganizationConfig,
        parameters: Mapping[str, str],
        **properties: Any,
    ) -> cloudformation.CfnStackSet:
        excluded = list(organization.excluded_accounts)
        targets = cloudformation.CfnStackSet.DeploymentTargetsProperty(
            organizational_unit_ids=list(organization.stackset_ous()),
            # Auto-deployment ignores account filters: an excluded account joining the OUs later gets the stacks
            # (the engine still never assumes its role).
            accounts=excluded or None,
            account_filter_type="DIFFERENCE" if excluded else None,
        )
        return cloudformation.CfnStackSet(
            self,
            construct_id,
            stack_set_name=name,
            template_body=template_of(stack).template_body,
            capabilities=required_capabilities(stack) or None,
            parameters=stack_parameters(stack, parameters) or None,
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(deployment_targets=targets, regions=regions)
            ],
            **properties,
        )

    def _synthesized_before_this_stack(self, templates: MemberTemplates) -> None:
        own = Stack.of(self)
        order = list(own.node.root.node.children)
        for stack in (templates.member, templates.member_regional):
            template_of(stack)
            if stack.node.root is not own.node.root or order.index(stack) > order.index(own):
                raise ValueError(
                    f"{own.stack_name} deploys {stack.stack_name} as a StackSet, so {stack.stack_name} must be "
                    f"created first in the same app: CDK synthesizes stacks in that order, and the StackSet takes "
                    "the template it wrote"
                )


def operation_preferences(settings: StackSetsConfig) -> cloudformation.CfnStackSet.OperationPreferencesProperty:
    """``organization.stacksets``' failure tolerance, concurrency and region order, as CloudFormation names them."""
    return cloudformation.CfnStackSet.OperationPreferencesProperty(
        failure_tolerance_percentage=settings.failure_tolerance_percentage,
        failure_tolerance_count=settings.failure_tolerance_count,
        max_concurrent_percentage=settings.max_concurrent_percentage,
        max_concurrent_count=settings.max_concurrent_count,
        concurrency_mode=f"{settings.concurrency_mode.upper()}_FAILURE_TOLERANCE",
        region_concurrency_type=settings.region_concurrency.upper(),
    )
