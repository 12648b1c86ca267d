#!/usr/bin/env bash
# Install everything trademesh needs on a fresh machine; a no-op when it is already there.
#   - a Python virtualenv in .venv with the project (editable, every optional group) and its dev tools
#     (buf, ruff, mypy, hadolint…)
#   - redis-server (Debian package) and FerretDB v1 (built from the Go module proxy) in .tools/bin
#   - Envoy's rate-limit service (envoyproxy/ratelimit, built from the Go module proxy) in .tools/bin
#   - a Kubernetes control plane (etcd, kube-apiserver, kwok…) for tests/k8s in .tools/bin (install-kube.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "trademesh needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when a dependency list changed (the stamp holds their checksum).
stamp=.venv/.trademesh-installed
projects=(kernel clients/python-api clients/python services gateway .)
want=$(for p in "${projects[@]}"; do cat "$p/pyproject.toml"; done | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing Python packages"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # Every distribution editable, from its folder: the resolver takes trademesh-* from here, never an index.
  .venv/bin/python -m pip install --quiet --config-settings editable_mode=compat \
    -e kernel -e clients/python-api -e clients/python -e services -e gateway -e ".[dev]"
  echo "$want" > "$stamp"
fi

bash scripts/install-redis.sh
bash scripts/install-ferretdb.sh
bash scripts/install-ratelimit.sh
bash scripts/install-codegen.sh
bash scripts/install-browser.sh
bash scripts/install-k8s-tools.sh
bash scripts/install-kube.sh
bash scripts/install-ci-tools.sh
