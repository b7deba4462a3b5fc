# paysweep: two commands set everything up on a fresh machine.
#   make run    the whole system locally (MiniStack + provider simulators, no AWS account)
#   make test   every test, after installing everything from nothing (make check: the quick loop)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
TOOLS   := .tools
SAM     := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
MINISTACK := $(TOOLS)/ministack/bin/ministack
ARGS    ?=
BUILD_ARGS ?=
# Tests run in parallel, one worker per core; a worker that needs the local stack deploys its own
# (README, Tests). A file whose stack is its own runs on one worker (xdist_group, --dist loadgroup).
PARALLEL ?= -n auto --dist loadgroup
TOOL_PATHS := PAYSWEEP_SAM=$(abspath $(SAM)) PAYSWEEP_CHECKOV=$(abspath $(CHECKOV)) PAYSWEEP_MINISTACK=$(abspath $(MINISTACK))
CHECK_SEEDS ?= 300

.PHONY: help setup run test check soak bench simulate build deploy-local lint clean

help:
	@echo "make run     run paysweep locally: MiniStack, simulators, the sweepers, live outcomes (ARGS=--keep-running)"
	@echo "make test    install everything and run every test"
	@echo "make check   the inner loop: lint, types, unit and contract tests, the simulation on $(CHECK_SEEDS) seeds"
	@echo "make soak    the chaos soak alone, with its figures (ORDERS=n for another size; default 2000)"
	@echo "make bench   the performance benchmark (after make test's set-up)"
	@echo "make simulate  the deterministic simulation (SEEDS=n seeds from START=0; SEED=k replays one)"
	@echo "make build   sam build (the deployable artifacts, in .aws-sam/)"
	@echo "make deploy-local  sam build + sam deploy (README commands) into a local MiniStack, then stop it"
	@echo "make lint    ruff over the repository and mypy --strict over the product (part of make test)"

$(VENV)/.installed: requirements/dev.txt layers/common/requirements.txt functions/teemopay/requirements.txt pyproject.toml local/pyproject.toml
	rm -rf $(VENV)
	"$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . -e local
	touch $@

$(TOOLS)/%/.installed: requirements/%.txt
	rm -rf $(TOOLS)/$*
	"$$(scripts/find-python)" -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/$*.txt
	touch $@

setup: $(VENV)/.installed $(TOOLS)/sam/.installed $(TOOLS)/checkov/.installed $(TOOLS)/ministack/.installed

run: setup
	$(TOOL_PATHS) $(PY) -m paysweep_local.demo $(ARGS)

# Static checks, part of `make test`: ruff over the whole repository; mypy --strict over the layer
# and each function (each function folder is its own import root, as /var/task is in Lambda).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check --quiet .
	@for function in functions/*/; do \
		echo "mypy --strict layers/common/paysweep $$function"; \
		MYPYPATH=layers/common $(VENV)/bin/mypy layers/common/paysweep "$$function" || exit 1; \
	done

test: setup lint
	$(TOOL_PATHS) $(PY) -m pytest $(PARALLEL) $(ARGS)

# What needs no local stack and no SAM build, for every edit: about a minute (README, Tests).
check: $(VENV)/.installed lint
	PAYSWEEP_SIM_SEEDS=$(CHECK_SEEDS) $(PY) -m pytest $(PARALLEL) -q tests/unit tests/contract tests/simulators \
		tests/simulation -k "not seeded_bug" $(ARGS)

soak: setup
	$(TOOL_PATHS) PAYSWEEP_SOAK_ORDERS=$(or $(ORDERS),$${PAYSWEEP_SOAK_ORDERS:-}) $(PY) -m pytest tests/integration/test_soak.py -s -q $(ARGS)

simulate: $(VENV)/.installed
	cd tests && ../$(PY) -m simulation.run $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),10000) --start $(or $(START),0)) $(ARGS)

bench: setup
	$(TOOL_PATHS) $(PY) bench/run.py $(ARGS)

build: $(VENV)/.installed $(TOOLS)/sam/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(SAM) build --template-file template.yaml $(BUILD_ARGS)

# The README's `make build` + `sam deploy` into a MiniStack started for the purpose (x86_64, the
# local simulators' URLs and secrets); prints what it removed and the outputs, then stops it.
deploy-local: setup
	$(TOOL_PATHS) $(PY) -m paysweep_local.demo --deploy-only $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .hypothesis .mypy_cache .ruff_cache
