# The two commands: `make up STACK=development` deploys; `make test` installs and checks everything.
SHELL := /bin/bash
STACK ?= development
VENV := venv
BIN := $(VENV)/bin
PYTHON ?= python3
# Pulumi state: a local file backend in this folder unless you point PULUMI_BACKEND_URL elsewhere.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state
export PULUMI_SKIP_UPDATE_CHECK := true

.PHONY: up plan install system-packages test lint typecheck pytest clean

up: install
	@command -v pulumi >/dev/null || { echo "make up: the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh); 'make plan STACK=$(STACK)' works without it."; exit 1; }
	@if [ "$(STACK)" = development ] && ! docker info >/dev/null 2>&1; then echo "make up: no Docker daemon answers on this machine: install Docker Engine (https://docs.docker.com/engine/install/) and start it; 'make plan STACK=$(STACK)' works without it."; exit 1; fi
	@mkdir -p .state
	pulumi login "$$PULUMI_BACKEND_URL"
	pulumi stack select --create --secrets-provider passphrase "$(STACK)"
	pulumi up --stack "$(STACK)"

plan: install
	$(BIN)/websys plan $(STACK)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

# The real programs the tests start (PostgreSQL, Redis, nginx, Prometheus, Alertmanager, openssl).
system-packages:
	@scripts/install-system-packages.sh

test: install system-packages lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
