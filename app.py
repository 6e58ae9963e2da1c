#!/usr/bin/env python3
"""CDK entry: load the config once, create the stacks, add cdk-nag, synth. Never calls AWS.

Usage: ``python app.py --config finops.yaml`` (default: the CDK context value finops:config, else finops.yaml).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "lambdas"))  # the config model lives with the Lambda code: one model for both

from aws_cdk import App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from finops.models.config import ConfigError, load_config  # noqa: E402
from stacks.app_stacks import create_stacks  # noqa: E402
from stacks.constructs.layers import LayerNotBuiltError  # noqa: E402

LAYER_DIR = ROOT / "build" / "layer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="the FinOps config file (default: context finops:config, else finops.yaml)")
    args = parser.parse_args(argv)

    # CDK_OUTDIR is the CDK CLI's own protocol for where to write; run by hand, write to cdk.out like the CLI.
    app = App(outdir=os.environ.get("CDK_OUTDIR", str(ROOT / "cdk.out")))
    config_path = args.config or app.node.try_get_context("finops:config") or "finops.yaml"
    try:
        config = load_config(config_path)
        create_stacks(app, config, layer_dir=LAYER_DIR)
    except (ConfigError, LayerNotBuiltError) as exc:
        print(exc, file=sys.stderr)
        return 2
    # cdk-nag v3 is a policy-validation plugin: any unacknowledged finding fails the synth with a report.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
