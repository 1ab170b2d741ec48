# wxlogin: every command a developer or CI needs. `make test` on a fresh machine does it all.
SHELL := /bin/sh
.DEFAULT_GOAL := help

# Looked for once, and only by a target that needs it; when there is none, the one message names the command run.
PYTHON313 ?= $(eval PYTHON313 := $$(shell scripts/find-python313 "make $(or $(MAKECMDGOALS),help)"))$(PYTHON313)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# sam build needs a python3.13 on PATH; the venv's own interpreter is one.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv venv-check lint validate checkov build test unit integration hardening e2e js-test run demo invoke bench clean

help:
	@echo "make run       the whole system locally: HTTP API, moto, WeChat simulator (no AWS, no Docker)"
	@echo "make demo      a scripted Mini Program against the running stack"
	@echo "make invoke    one events/ file through its function: make invoke EVENT=events/login-ok.json [FUNCTION=...]"
	@echo "make test      venv + ruff + sam validate --lint + cfn-lint + checkov + sam build + the whole test suite"
	@echo "make unit      the services with in-memory fakes (seconds; no moto, no sockets)"
	@echo "make integration  the handlers in process against moto and the WeChat simulator"
	@echo "make hardening the contract, properties, fuzz and concurrency (openapi.yaml, local stack)"
	@echo "make e2e       the local stack over HTTP, and the sam build artifacts (runs make build)"
	@echo "make venv      .venv with the whole toolchain (make run installs only what the local stack needs)"
	@echo "make venv-check  .venv was made with Python 3.13 (every target that uses .venv checks it first)"
	@echo "make lint      ruff, with the bandit S rules"
	@echo "make validate  sam validate --lint and cfn-lint (the China regions included)"
	@echo "make checkov   checkov on template.yaml, offline"
	@echo "make build     sam build (no Docker; Python 3.13 on PATH)"
	@echo "make js-test   the Mini Program client's tests (npm ci, then Node's test runner against fakes and the local stack)"
	@echo "make bench     latency, cold start and package size benchmark"
	@echo "make clean     remove .venv, .venv-checkov, .aws-sam, client/node_modules and caches"

venv: $(STAMP)

# A .venv made with another Python would serve `make run` on it and fail `make build` a minute later. Order-only,
# so it runs before every use of .venv without making the stamps out of date.
venv-check:
	@if [ -e $(BIN)/python ] || [ -L $(BIN)/python ]; then \
	  $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || { \
	    echo "$(VENV) was made with $$($(BIN)/python --version 2>/dev/null || echo 'a Python that no longer runs'), not Python 3.13 (the Lambda runtime's)." >&2; \
	    echo "Recreate it: make clean && make $(or $(MAKECMDGOALS),venv)" >&2; exit 1; }; \
	fi

# Only the local stack's packages: a first `make run` does not wait for the whole toolchain, and pip shows its progress.
# Progress goes to stderr, so `make invoke ... | jq` reads only the handler's answer even on a first run.
$(RUN_STAMP): requirements-run.txt layers/wxlogin/requirements.txt | venv-check
	@test -n "$(PYTHON313)" || exit 1
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON313)" >&2; $(PYTHON313) -m venv $(VENV); }
	@echo "installing the local stack's packages into $(VENV) (once, about a minute)" >&2
	@$(BIN)/python -m pip install --disable-pip-version-check -r requirements-run.txt >&2
	@touch $@

$(STAMP): requirements-dev.txt $(RUN_STAMP)
	@echo "installing the development toolchain into $(VENV) (once, a few minutes: sam-cli and the test tools are large)" >&2
	@$(BIN)/python -m pip install --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

validate: $(STAMP)
	$(BIN)/sam validate --lint --template-file template.yaml
	$(BIN)/cfn-lint --regions us-east-1 cn-north-1 cn-northwest-1 -- template.yaml
	$(BIN)/cfn-lint --regions us-east-1 -- deploy/front-door-waf.yaml

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -n "$(PYTHON313)" || exit 1
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON313) -m venv $(CHECKOV_VENV)
	@echo "installing checkov into $(CHECKOV_VENV) (once: its own venv, since it pins an old boto3)" >&2
	@$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check -r requirements-checkov.txt >&2
	@touch $@

# Zero failures; every skip is in the template it concerns, with its reason. --skip-download: the scan needs
# nothing from checkov's vendor (its guideline mappings are only for the vendor's own check ids), so it runs offline.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  --file template.yaml --file deploy/front-door-waf.yaml

build: $(STAMP)
	$(BIN)/sam build --template-file template.yaml

# The Mini Program client: its dev packages from the lockfile, Node's own test runner; the venv runs the local stack.
js-test: $(RUN_STAMP)
	cd client && npm ci --no-audit --no-fund && node --test test/

# The whole suite, with the layer's and the handlers' line coverage (in-process code only: the local
# stack's workers are other processes).
test: lint validate checkov build js-test
	$(BIN)/python -m pytest --cov --cov-report=term-missing:skip-covered

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration tests/test_template.py tests/test_wechat_simulator.py

hardening: $(STAMP)
	$(BIN)/python -m pytest tests/hardening

e2e: build
	$(BIN)/python -m pytest tests/e2e tests/built

run: $(RUN_STAMP)
	$(BIN)/python -m local.stack

demo: $(RUN_STAMP)
	$(BIN)/python -m local.demo

# EVENT=events/<file>.json, FUNCTION optional (the template routes the event); against the running stack, if any.
invoke: $(RUN_STAMP)
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/login-ok.json [FUNCTION=LoginFunction]" >&2; exit 2; }
	@$(BIN)/python -m local.invoke $(if $(FUNCTION),--function $(FUNCTION)) $(EVENT)

bench: build
	$(BIN)/python -m bench

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) client/node_modules .pytest_cache .ruff_cache .coverage
