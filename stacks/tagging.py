"""The tags on every resource this app owns: ``own_tags`` from the config.

Our own resources must pass the tag policy we ask everyone else to follow. The values are the config's
(``own_tags``, defaulting to ``finops.models.config.DEFAULT_OWN_TAGS``), and the config model checks them against the
taxonomy the same file ships, so a taxonomy that adds a required tag stops the synth with
``own_tags.<key>: required by taxonomy.tags[<i>] (<key>) ...`` until ``own_tags`` has it.
"""

from __future__ import annotations

from aws_cdk import Tags
from constructs import IConstruct

from finops.models.config import FinOpsConfig


def own_resource_tags(config: FinOpsConfig) -> dict[str, str]:
    """``own_tags``, already validated against ``taxonomy`` when the config was loaded."""
    return dict(config.own_tags)


def tag_own_resources(scope: IConstruct, config: FinOpsConfig) -> None:
    """Tag every taggable resource under ``scope`` with :func:`own_resource_tags`."""
    for key, value in sorted(own_resource_tags(config).items()):
        Tags.of(scope).add(key, value)
