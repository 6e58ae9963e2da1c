"""`make org-resource-policy`: the Organizations resource-policy statement the hub needs, as JSON, to merge into yours.

An Organization has exactly one resource policy. With ``organization.manage_resource_policy: false`` the management
stack leaves it to you, and this prints the statement it would have deployed (the same function builds both:
``stacks.constructs.organizations_delegation.delegation_statement``). stdout is the statement alone; how to merge it
goes to stderr. Never calls AWS.

Exit codes: 0 printed; 2 the config is invalid (each problem with its key path on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from finops.models.config import ConfigError, FinOpsConfig, load_config
from stacks.constructs.organizations_delegation import delegation_statement
from stacks.naming import NAME_PREFIX

MERGE_STEPS = """\
Merge this statement into the Statement list of your Organization's resource policy, in the management account:
  aws organizations describe-resource-policy --query ResourcePolicy.Content --output text > policy.json
  # add the statement above to policy.json's "Statement" list (replace an older one with Sid {sid})
  aws organizations put-resource-policy --content file://policy.json
With no resource policy yet, put {{"Version": "2012-10-17", "Statement": [<the statement>]}}.
"""
MANAGED_NOTE = (
    "note: organization.manage_resource_policy is true, so FinOpsManagement creates this policy itself; you need "
    "this statement only if you set it to false (docs/coexistence.md).\n"
)


def hub_statement(config: FinOpsConfig, *, partition: str = "aws") -> dict[str, Any]:
    """The statement delegating the hub's read-only Organizations calls to its ``finops-*`` roles."""
    return delegation_statement(
        reader_account_id=config.organization.automation_account_id,
        reader_role_prefix=NAME_PREFIX,
        partition=partition,
    )


def main(argv: list[str] | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="finops.yaml", help="the FinOps config file (default: finops.yaml)")
    parser.add_argument("--partition", default="aws", help="the AWS partition: aws, aws-cn or aws-us-gov")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=err)
        return 2
    statement = hub_statement(config, partition=args.partition)
    print(json.dumps(statement, indent=2), file=out)
    if config.organization.manage_resource_policy:
        err.write(MANAGED_NOTE)
    err.write(MERGE_STEPS.format(sid=statement["Sid"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
