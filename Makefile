# Two promises: `make demo` and `make test` work on a fresh machine with Python 3.11, 3.12 or 3.13,
# pip and make.
SHELL := /bin/bash
# The newest supported interpreter on PATH that starts (a pyenv shim of a version that is not
# selected does not); `make PYTHON=/path/to/python3.x ...` chooses another one.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
PYTHON ?= $(shell for p in $(SUPPORTED_PYTHONS); do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c '' >/dev/null 2>&1; then command -v $$p; exit; fi; done)
VENV ?= .venv
BIN := $(VENV)/bin
export FRAUD_HOME ?= $(CURDIR)/.fraud
export DAGSTER_HOME ?= $(FRAUD_HOME)/dagster
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE :=
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
UI_PORT ?= 3000

# Quick tests for a second interpreter: pure logic, the feature store and the Dagster definitions.
FAST_TESTS ?= tests/test_synthetic.py tests/test_feature_logic.py tests/test_windows.py tests/test_on_demand.py \
	tests/test_definitions.py tests/feature_store tests/training/test_model.py

.PHONY: demo run test test-fast test-cluster lint ui serve bench clean venv

venv: $(VENV)/.installed

# The environment is rebuilt when the pinned set or the project's metadata changes.
$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || { \
	  test -n "$(PYTHON)" || { echo "no Python 3.11, 3.12 or 3.13 found on PATH: install one, or run make PYTHON=/path/to/python3.x" >&2; exit 1; }; \
	  $(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || { \
	    echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); supported: 3.11, 3.12, 3.13" >&2; exit 1; }; \
	  echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; $(PYTHON) -m venv $(VENV); }
	@echo "installing pinned dependencies from requirements.lock (about a minute on a fresh machine)"
	$(BIN)/python -m pip install --progress-bar on -r requirements.lock
	$(BIN)/python -m pip install --no-deps -e .
	@touch $@

demo: venv
	$(BIN)/python -m fraud_pipelines.cli demo

# The whole graph on your own files: make run CONTRACT=my_data.yaml [START=YYYY-MM-DD END=YYYY-MM-DD]
run: venv
	@test -n "$(CONTRACT)" || { echo "usage: make run CONTRACT=my_data.yaml [START=... END=...] (see the README, 'Bring your own data')"; exit 2; }
	$(BIN)/python -m fraud_pipelines.cli run --contract $(CONTRACT) $(if $(START),--start $(START)) $(if $(END),--end $(END))

test: lint
	$(BIN)/python -m pytest

test-fast: lint
	$(BIN)/python -m pytest $(FAST_TESTS)

# The same graph on PostgreSQL, Celery, S3 (moto), an MLflow server and a Redis Cluster, all started on
# 127.0.0.1 by the test and stopped at its end (tests/cluster; about 5 minutes). Installs the pinned
# `cluster` extra into the venv first; needs PostgreSQL's server programs and redis-server.
test-cluster: venv $(VENV)/.installed-cluster
	FRAUD_TEST_CLUSTER=1 $(BIN)/python -m pytest tests/cluster

$(VENV)/.installed-cluster: requirements-cluster.lock $(VENV)/.installed
	$(BIN)/python -m pip install --progress-bar on -r requirements.lock -r requirements-cluster.lock
	@touch $@

# Style and layer contracts (pyproject.toml: [tool.ruff], [tool.importlinter]); a few seconds.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

ui: venv
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(UI_PORT)

# The REST service (docs at /docs) on $(HOST):$(PORT) with $(WORKERS) worker processes; it serves
# the champion `make demo` leaves.
serve: venv
	$(BIN)/python -m fraud_pipelines.serving --host $(HOST) --port $(PORT) --workers $(WORKERS)

bench: venv
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(FRAUD_HOME)
