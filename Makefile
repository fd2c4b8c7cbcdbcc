# Two promises: `make demo` and `make test` work on a fresh machine with Python 3.11, pip and make.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
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

.PHONY: demo test ui serve bench clean venv

venv: $(VENV)/.installed

# The environment is rebuilt when the pinned set or the project's metadata changes.
$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing pinned dependencies from requirements.lock (about a minute on a fresh machine)"
	$(BIN)/python -m pip install --progress-bar on -r requirements.lock
	$(BIN)/python -m pip install --no-deps -e .
	@touch $@

demo: venv
	$(BIN)/python -m fraud_pipelines.cli demo

test: venv
	$(BIN)/python -m pytest

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
