"""The policy bundle in the management account: one ``AWS::Organizations::Policy`` per generated policy."""

from __future__ import annotations

import re

from aws_cdk import aws_organizations as organizations
from constructs import Construct

from stacks.policies.bundle import PolicyBundle


class OrganizationPolicies(Construct):
    """Creates each policy of ``bundle`` (its name, type, description and document as ``Content``, an object so that
    drift detection works), attached to ``bundle.targets``: the config's ``policies.target_ous`` when
    ``policies.attach`` is true, else nothing. Tagged with ``own_tags`` like every resource of the app. Exposes
    ``policies`` (policy name -> ``CfnPolicy``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, bundle: PolicyBundle) -> None:
        super().__init__(scope, construct_id)
        self.bundle = bundle
        self.policies: dict[str, organizations.CfnPolicy] = {}
        for policy in bundle.policies:
            logical = "".join(part.capitalize() for part in re.findall(r"[A-Za-z0-9]+", policy.name))
            self.policies[policy.name] = organizations.CfnPolicy(
                self,
                logical,
                name=policy.name,
                type=policy.type.value,
                description=policy.description,
                content=policy.document,
                target_ids=list(bundle.targets) or None,
            )
