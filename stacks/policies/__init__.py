"""The policy bundle (issue 7, section 1): Organizations Tag Policies and SCPs generated from the config's taxonomy,
deployed by the management stack (``stacks.constructs.policy_bundle``), written for review by ``make policies``
(``tools/policies.py`` -> ``docs/policies/``). Pure functions: no AWS call, no clock, no CDK construct.
"""

from __future__ import annotations

from stacks.policies.bundle import PolicyBundle, build_bundle, bundle_summary, explain_denied_example
from stacks.policies.evaluate import Decision, Request, evaluate
from stacks.policies.limits import SCP_MAX_CHARS, TAG_POLICY_MAX_CHARS, PolicyLimitError
from stacks.policies.model import Explanation, Policy, PolicyType

__all__ = [
    "SCP_MAX_CHARS",
    "TAG_POLICY_MAX_CHARS",
    "Decision",
    "Explanation",
    "Policy",
    "PolicyBundle",
    "PolicyLimitError",
    "PolicyType",
    "Request",
    "build_bundle",
    "bundle_summary",
    "evaluate",
    "explain_denied_example",
]
