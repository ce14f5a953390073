# hitkey-bff - everything runs from a project virtualenv that `make` creates on first use.
# Needs only Python 3.11+ and make.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
PORT   ?= 3000

.DEFAULT_GOAL := help
.PHONY: help venv run test lint typecheck unit bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml layers/bff/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hitkey-bff needs Python 3.11 or newer: set PYTHON=python3.11 (or newer) and run make again")'
	@echo "==> creating $(VENV) and installing hitkey-bff with its dev tools (first run takes a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv and install everything

run: $(STAMP) ## Serve the whole BFF on http://localhost:$(PORT) (moto, HitKey emulator, demo SPA)
	@PORT=$(PORT) $(PY) -m local.stack

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## mypy on the layer
	$(VENV)/bin/mypy

unit: $(STAMP) ## pytest only
	$(VENV)/bin/pytest

test: lint typecheck unit ## Everything CI runs: lint, types, tests

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam build
