# hitkey-bff - everything runs from a project virtualenv that `make` creates on first use.
# Needs only Python 3.11+ and make.

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

.DEFAULT_GOAL := help
.PHONY: help venv sam-venv run sam-local test lint typecheck template-check unit package bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

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

run: $(LOCAL_STAMP) ## Serve the whole BFF on http://localhost:$(PORT) (moto, HitKey emulator, demo SPA)
	@PORT=$(PORT) $(PY) -m local.stack

sam-local: $(LOCAL_STAMP) $(SAM_STAMP) ## The functions under sam local start-api (Docker) against moto and the emulator, on :$(PORT)
	@PORT=$(PORT) $(PY) -m local.samlocal

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check --extend-exclude $(SAM_VENV) .
	$(VENV)/bin/ruff format --check --extend-exclude $(SAM_VENV) .

typecheck: $(STAMP) ## mypy on the layer
	$(VENV)/bin/mypy

template-check: $(SAM_STAMP) ## cfn-lint and sam validate --lint on template.yaml (offline)
	@echo "==> cfn-lint template.yaml"
	@$(SAM_ENV) $(SAM_VENV)/bin/cfn-lint template.yaml
	@echo "==> sam validate --lint"
	@$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml

unit: $(STAMP) ## pytest only
	$(VENV)/bin/pytest

package: $(STAMP) ## Layer + function zips for arm64 Lambda in build/ (no Docker, no Python 3.12)
	@$(PY) -m local.package

bench: $(STAMP) ## Benchmarks: calls per route, cold start, warm CPU, the AWS bill (~5 min)
	$(PY) -m bench.calls
	$(PY) -m bench.coldstart
	$(PY) -m bench.warm
	$(PY) -m bench.cost

test: lint typecheck template-check unit ## Everything CI runs: lint, types, template, tests

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam build
