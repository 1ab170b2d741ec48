# wxlogin: every command a developer or CI needs. `make test` on a fresh machine does it all.
SHELL := /bin/sh
.DEFAULT_GOAL := help

PYTHON313 ?= $(shell scripts/find-python313)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# sam build needs a python3.13 on PATH; the venv's own interpreter is one.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv lint validate checkov build test unit integration hardening e2e js-test run demo bench clean

help:
	@echo "make run       the whole system locally: HTTP API, moto, WeChat simulator (no AWS, no Docker)"
	@echo "make demo      a scripted Mini Program against the running stack"
	@echo "make test      venv + ruff + sam validate --lint + cfn-lint + checkov + sam build + the whole test suite"
	@echo "make unit      the services with in-memory fakes (seconds; no moto, no sockets)"
	@echo "make integration  the handlers in process against moto and the WeChat simulator"
	@echo "make hardening the contract, properties, fuzz and concurrency (openapi.yaml, local stack)"
	@echo "make e2e       the local stack over HTTP, and the sam build artifacts (runs make build)"
	@echo "make build     sam build (no Docker; Python 3.13 on PATH)"
	@echo "make js-test   the Mini Program client's tests (Node's test runner, against fakes and the local stack)"
	@echo "make bench     latency, cold start and package size benchmark"

venv: $(STAMP)

$(STAMP): requirements-dev.txt layers/wxlogin/requirements.txt
	@test -n "$(PYTHON313)" || { echo "no Python 3.13: see scripts/find-python313" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON313) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

validate: $(STAMP)
	$(BIN)/sam validate --lint --template-file template.yaml
	$(BIN)/cfn-lint template.yaml

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -n "$(PYTHON313)" || { echo "no Python 3.13: see scripts/find-python313" >&2; exit 1; }
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Zero failures; every skip is in template.yaml with its reason.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation --file template.yaml

build: $(STAMP)
	$(BIN)/sam build --template-file template.yaml

# The Mini Program client: Node's own test runner, no npm packages; the venv runs the local stack.
js-test: $(STAMP)
	cd client && node --test test/

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

run: $(STAMP)
	$(BIN)/python -m local.stack

demo: $(STAMP)
	$(BIN)/python -m local.demo

bench: build
	$(BIN)/python -m bench

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .coverage
