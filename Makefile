# mlstack: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install kserve-venv mlserver-venv run test test-unit test-api test-integration docker-test lint fmt typecheck stack bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

install: $(BIN)/.installed

## The kserve SDK's client for tests/integration/test_v2_clients.py, in a virtualenv of
## its own: kserve 0.21 requires pandas<3, mlstack runs on pandas 3.
KSERVE_VENV ?= .venv-kserve
$(KSERVE_VENV)/.installed: tests/v2clients/requirements-kserve.txt
	$(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install -q --upgrade pip
	$(KSERVE_VENV)/bin/pip install -q -r tests/v2clients/requirements-kserve.txt
	touch $@

kserve-venv: $(KSERVE_VENV)/.installed

## MLServer, the bench's batch reference (bench/mlserver_reference.py), in a virtualenv of
## its own: it pins its own web stack.
MLSERVER_VENV ?= .venv-mlserver
$(MLSERVER_VENV)/.installed: bench/mlserver/requirements.txt
	$(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/pip install -q --upgrade pip
	$(MLSERVER_VENV)/bin/pip install -q -r bench/mlserver/requirements.txt
	touch $@

mlserver-venv: $(MLSERVER_VENV)/.installed

## Serve on 127.0.0.1:5000 with SQLite under var/, demo models seeded, one training worker.
run: install
	conf/run-dev.sh

## Run the whole test suite (unit, API on SQLite and PostgreSQL, integration stack).
## The tiers without a stack run in two processes (pytest-xdist; each starts its own
## PostgreSQL on a free port); then the stack's, one at a time (fixed ports 5000/5001,
## timing assertions). JUNIT=prefix writes prefix-fast.xml and prefix-stack.xml.
JUNIT ?=
junit = $(if $(JUNIT),--junitxml=$(JUNIT)-$(1).xml)
test: install kserve-venv mlserver-venv
	$(BIN)/pytest -n 2 tests/unit tests/api tests/ui $(call junit,fast) $(PYTEST_ARGS)
	$(BIN)/pytest tests/bench tests/integration $(call junit,stack) $(PYTEST_ARGS)

## The tiers: the core alone; the HTTP API (Flask test client, SQLite and PostgreSQL);
## the real stack (supervisord, nginx, gunicorn, PostgreSQL) and the bench smoke run.
test-unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-api: install
	$(BIN)/pytest tests/api $(PYTEST_ARGS)

test-integration: install kserve-venv mlserver-venv
	$(BIN)/pytest tests/bench tests/integration $(PYTEST_ARGS)

## Lint and format check (ruff), formatting in place, types (mypy: strict on app/core).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

## The container for real: starts dockerd if none answers, makes the base image if no
## registry gives it, builds the image, runs docker-compose.yml and tests it (tests/docker).
docker-test: install kserve-venv mlserver-venv
	.ci/docker-test

## The production stack natively: supervisord, PostgreSQL, gunicorn, worker, nginx on 5001.
stack: install
	conf/stack.sh

## Benchmarks (not part of the tests): starts the stack, drives it with wrk, writes bench/results/.
bench: install mlserver-venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache
