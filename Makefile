# trademesh — the two commands: `make up` runs the whole mesh locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup up test check lint typecheck proto-lint proto-breaking generate generate-check pytest bench clean

## setup: install what is missing (virtualenv, Python packages, redis-server, FerretDB)
setup:
	@bash scripts/setup.sh

## up: start Redis, the database and every service; Ctrl-C stops them all
up: setup
	@$(PY) -m trademesh.devstack.up

## test: every check and the whole test suite against real servers
test: setup check pytest

## check: lint, types, contracts, generated-code drift
check: lint typecheck proto-lint proto-breaking generate-check

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy src/trademesh tests bench
	$(BIN)/lint-imports

proto-lint:
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code

## proto-breaking: compare the contracts against main's (skipped until main has them)
proto-breaking:
	@if git cat-file -e main:buf.yaml 2>/dev/null; then \
	  $(BIN)/buf breaking --against '.git#branch=main'; \
	else echo "buf breaking: main has no contracts yet, skipped"; fi

## generate: regenerate Python messages, gRPC stubs and .pyi stubs from proto/
generate:
	@bash scripts/generate.sh

## generate-check: fail if the committed generated code differs from a fresh generation
generate-check: generate
	@if [ -n "$$(git status --porcelain -- clients/python/src)" ]; then \
	  echo "Generated code is out of date; run 'make generate' and commit:"; \
	  git status --porcelain -- clients/python/src; exit 1; fi

pytest:
	$(BIN)/pytest

## bench: the benchmarks (not part of `make test`)
bench: setup
	$(PY) bench/runtime_overhead.py

clean:
	rm -rf .venv .tools .data
