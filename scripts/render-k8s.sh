#!/usr/bin/env bash
# Regenerate what is derived from the chart and the gateway generator (run after changing either):
#   helm/trademesh/files/envoy.yaml   the gateway's Envoy bootstrap for Kubernetes (trademesh.gateway)
#   k8s/trademesh.yaml                the chart rendered with default values, for kubectl-only users
# tests/k8s fails when either differs from a fresh render.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-k8s-tools.sh
exec .venv/bin/python -m tests.k8s.render
