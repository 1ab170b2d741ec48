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

.PHONY: help venv lint validate checkov build test js-test run demo bench clean

help:
	@echo "make run       the whole system locally: HTTP API, moto, WeChat simulator (no AWS, no Docker)"
	@echo "make demo      a scripted Mini Program against the running stack"
	@echo "make test      venv + ruff + sam validate --lint + cfn-lint + checkov + sam build + the whole test suite"
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

test: lint validate checkov build js-test
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/python -m local.stack

demo: $(STAMP)
	$(BIN)/python -m local.demo

bench: build
	$(BIN)/python -m bench

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
