# The front door: every developer workflow is a target here.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
ENV ?= local
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2
# pytest-xdist: the tests on TEST_WORKERS processes (0: in this one); the tests of a costly session
# fixture (the one deployed local platform, ...) stay together on one worker (SHARED_MODULES in
# tests/conftest.py). The conformance runs of the real software wait on their task definitions' own
# timeouts, so they run alone, after.
PYTEST_PARALLEL := -n $(TEST_WORKERS)
# mypy's worker processes (its -n, "experimental" in the pinned mypy 2.4.1's own documentation:
# https://mypy.readthedocs.io/en/stable/command_line.html#cmdoption-mypy-n; 0: in one process). Cold,
# as on a fresh machine, two take it from about 75 s to about 57 s here (docs/performance.md); warm it
# takes a second or two either way.
MYPY_WORKERS ?= 2
# `make test` installs the conformance layer's runtimes (images' software, the stock Backstage
# backend) beside the pytest run of the other layers, which leaves a core mostly idle; this is its log.
# Its two pytest runs share one assembly cache of their own (tests/conftest.py), removed at the end.
PREFETCH_LOG := .state/conformance-prefetch.log
# CI sets JUNIT_DIR: one JUnit report per pytest run of `make test`.
JUNIT_DIR ?=
junit = $(if $(JUNIT_DIR),--junitxml=$(JUNIT_DIR)/$(1).xml)
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
# The one-time installs (the project's venv, Node.js and the CDK CLI, checkov's tool environment, the
# conformance layer's Debian packages) depend on none of one another: a target that needs several has
# a sub-make build them side by side, the output of each command printed in one piece when it ends.
# When one fails, make lets the others finish, then stops naming the failed one's target. Each
# install is behind its stamp file, so a second run does nothing. Under `make -jN` the sub-make
# shares that job server instead.
INSTALL_JOBS ?= 4
install = +@$(MAKE) --no-print-directory --output-sync=line $(if $(findstring --jobserver,$(MAKEFLAGS)),,-j$(INSTALL_JOBS)) installs INSTALLS="$(1)"
SETUP_STAMPS := $(BIN)/.installed node_modules/.installed

.PHONY: installs
installs: $(INSTALLS)
	@:

.PHONY: help setup up down pipelines status synth diff deploy outputs test test-fresh test-fast test-conformance load conformance-tools lint format clean docs docs-check check

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# pip itself, pinned like everything else the venv holds: https://pypi.org/project/pip/26.3/
PIP_VERSION := 26.3

$(BIN)/.installed: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: ## Install the pinned Python and Node toolchain, the two side by side (idempotent)
	$(call install,$(SETUP_STAMPS))

up: setup ## Start the embedded local AWS and deploy the whole platform to it
	$(BIN)/blog-infra local up --env local

down: setup ## Destroy the local platform and stop the emulator
	$(BIN)/blog-infra local down --env local

pipelines: setup conformance-tools ## After make up: the local stack's Prefect, with flow runs that run (docs/pipelines-local.md)
	$(BIN)/blog-infra local pipelines up --env local

status: setup ## Is the emulator running, and where
	$(BIN)/blog-infra local status

synth: setup ## Write ENV's CloudFormation templates to cdk.out/ENV (make synth ENV=prod)
	$(BIN)/blog-infra synth --env $(ENV)

diff: setup ## What a deploy of ENV would change
	$(BIN)/blog-infra diff --env $(ENV)

deploy: setup ## Deploy ENV (prod needs credentials for its account)
	$(BIN)/blog-infra deploy --env $(ENV)

outputs: setup ## The deployed outputs of ENV
	$(BIN)/blog-infra outputs --env $(ENV)

lint: setup ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -n $(MYPY_WORKERS)

format: setup ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: ## Every test: lint, types, unit, synth, gates, docs, CLI, emulator, integration, conformance
	$(call install,$(SETUP_STAMPS) $(CHECKOV_VENV)/.installed conformance-tools)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -n $(MYPY_WORKERS)
	mkdir -p $(dir $(PREFETCH_LOG)); \
	export BLOG_INFRA_TEST_SESSION_CACHE=$$(mktemp -d -t blog-infra-test-cache-XXXXXX); \
	$(BIN)/python -m tests.conformance.prefetch > $(PREFETCH_LOG) 2>&1 & prefetch=$$!; \
	trap 'kill $$prefetch 2>/dev/null; rm -rf "$$BLOG_INFRA_TEST_SESSION_CACHE"' EXIT; \
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not conformance" $(call junit,tests) || exit $$?; \
	wait $$prefetch; cat $(PREFETCH_LOG); \
	$(BIN)/pytest -m "conformance and not load" $(call junit,conformance)

test-fresh: ## make test as a fresh machine runs it: a clone of HEAD, no installs, caches or sandbox runtimes (.ci/fresh-machine)
	bash .ci/fresh-machine

test-fast: setup ## Under a minute: the tests that deploy nothing, run no image's software and are not marked slow
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not integration and not conformance and not slow"

test-conformance: setup conformance-tools ## The real Prefect (and portal backend) run with the synthesized configuration
	$(BIN)/pytest -m "conformance and not load"

load: setup conformance-tools ## Bounded load on the standard profile's two API replicas (LOAD_RUNS=120); figures in bench/load-results.json
	$(BIN)/pytest -m load -s -p no:cacheprovider

clean: ## Remove build output and local state (stops the emulator first)
	-$(BIN)/blog-infra local down --env local
	rm -rf cdk.out .state .pytest_cache .mypy_cache .ruff_cache

docs: setup ## Regenerate the docs, catalog-info.yaml and the diagram from the code (installs Graphviz)
	@command -v dot >/dev/null || { echo "Installing Graphviz (dot) to draw docs/architecture.png..."; \
		apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
	$(BIN)/blog-infra docs

docs-check: setup ## Fail, naming each file, when a generated doc is out of date
	$(BIN)/blog-infra docs --check

CONFORMANCE_PACKAGES := postgresql-15 redis-server redis-tools tini python3.11-venv util-linux iproute2

conformance-tools: ## Install what the conformance layer runs beside the images (Debian packages; root)
	@missing=$$(for p in $(CONFORMANCE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "error: the conformance layer needs root and: $$missing (apt-get install)" >&2; exit 2; fi; \
		echo "Installing $$missing for the conformance layer..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

CHECKOV_VENV := .tools/checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

gate-tools: $(CHECKOV_VENV)/.installed ## Install checkov into its own tool environment (.tools/checkov)

check: ## The five safety gates on prod and local; fails on any unacknowledged finding
	$(call install,$(SETUP_STAMPS) $(CHECKOV_VENV)/.installed)
	$(BIN)/blog-infra check --env prod --env local

.PHONY: bench
bench: setup ## Time synth, check, up/redeploy/down and the tests against the floor (BENCH_ARGS="--skip-test")
	$(BIN)/python bench/run.py $(BENCH_ARGS)

MUTATION_STAMP := $(VENV)/.mutation-installed

$(MUTATION_STAMP): requirements-mutation.txt $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	@touch $@

.PHONY: mutation
mutation: setup ## Mutation score of the decision code -> reports/mutation.md (about 15 min; not in make test)
	$(call install,$(MUTATION_STAMP))
	@mkdir -p reports
	rm -rf mutants
	@echo "Mutating infra/config.py, blog_infra/{planning,operations,cost}.py (log: reports/mutation-run.log)..."
	timeout 1500 $(BIN)/mutmut run --max-children 2 > reports/mutation-run.log 2>&1 || \
		{ tail -n 20 reports/mutation-run.log >&2; exit 1; }
	$(BIN)/python bench/mutation_report.py
