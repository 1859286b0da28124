# mlstack: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test docker-test stack bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

## Serve on 127.0.0.1:5000 with SQLite under var/, demo models seeded, one training worker.
run: install
	conf/run-dev.sh

## Run the whole test suite (unit, API on SQLite and PostgreSQL, integration stack).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

## The container for real: starts dockerd if none answers, makes the base image if no
## registry gives it, builds the image, runs docker-compose.yml and tests it (tests/docker).
docker-test: install
	.ci/docker-test

## The production stack natively: supervisord, PostgreSQL, gunicorn, worker, nginx on 5001.
stack: install
	conf/stack.sh

## Benchmarks (not part of the tests): starts the stack, drives it with wrk, writes bench/results/.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache
