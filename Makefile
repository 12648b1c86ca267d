# trademesh — the two commands: `make up` runs the whole mesh locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
GENERATED := clients/python-api/src clients/typescript/src clients/go/gen

.PHONY: setup up test check lint typecheck proto-lint proto-breaking generate generate-check sdk-check pytest bench k8s-check k8s-render web clean

## setup: install what is missing (virtualenv, Python packages, redis-server, FerretDB, the Kubernetes test control plane)
setup:
	@bash scripts/setup.sh

## up: start Redis, the database, every service, Envoy and the browser client; Ctrl-C stops them all
up: setup web
	@$(PY) -m trademesh.devstack.up

## web: build the browser client into clients/web/dist (served by the gateway at /)
web:
	cd clients/web && npm run --silent build

## test: every check and the whole test suite against real servers
test: setup check pytest

## check: lint, types, contracts, generated-code drift, SDKs compile
check: lint typecheck proto-lint proto-breaking generate-check sdk-check

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy src/trademesh kernel/src/trademesh services/src/trademesh gateway/src/trademesh clients/python/src/trademesh tests bench
	$(BIN)/lint-imports

proto-lint:
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code

## proto-breaking: compare the contracts against main's (skipped until main has them)
proto-breaking:
	@if git cat-file -e main:buf.yaml 2>/dev/null; then \
	  $(BIN)/buf breaking --against '.git#branch=main'; \
	else echo "buf breaking: main has no contracts yet, skipped"; fi

## generate: regenerate the Python, TypeScript and Go SDK code from proto/
generate:
	@bash scripts/generate.sh

## generate-check: fail if the committed generated code differs from a fresh generation
generate-check: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  echo "Generated code is out of date; run 'make generate' and commit:"; \
	  git status --porcelain -- $(GENERATED); exit 1; fi

## sdk-check: the Go and TypeScript SDKs compile
sdk-check:
	cd clients/go && go vet ./...
	cd clients/typescript && node_modules/.bin/tsc -p tsconfig.json --noEmit

pytest:
	$(BIN)/pytest

## k8s-check: lint, render and validate the Helm chart and k8s/, lint the Dockerfile and the image workflow, offline (also part of pytest)
k8s-check:
	bash scripts/install-k8s-tools.sh
	bash scripts/install-ci-tools.sh
	$(BIN)/pytest tests/k8s -q

## k8s-render: regenerate helm/trademesh/files/envoy.yaml and k8s/trademesh.yaml from the chart
k8s-render:
	bash scripts/render-k8s.sh

## bench: the benchmarks (not part of `make test`); each prints its figures beside its baseline
bench: setup
	$(PY) -m bench.runtime_overhead
	$(PY) -m bench.trade_bench
	$(PY) -m bench.marketdata_fanout
	$(PY) bench/analytics_bench.py
	$(PY) -m bench.sync_bench
	$(PY) bench/notifications_index_bench.py

clean:
	rm -rf .venv .tools .data
