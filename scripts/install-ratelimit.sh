#!/usr/bin/env bash
# Build Envoy's global rate-limit service (github.com/envoyproxy/ratelimit, backed by Redis) from the Go
# module proxy into <repo>/.tools/bin/ratelimit, unless the binary of this version is already there.
# The module publishes no semver tags past v1.4.0 (2019); the pinned pseudo-version is its main branch of
# 2026-01-22. It has no replace directives, so `go install module/cmd@version` builds it as published.
set -euo pipefail

RATELIMIT_VERSION="v1.4.1-0.20260122083618-3fb702589d36"
MODULE="github.com/envoyproxy/ratelimit"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
BIN="${BIN_DIR}/ratelimit"
STAMP="${BIN}.version"

if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RATELIMIT_VERSION" ]; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:${PATH}"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-ratelimit.sh: error: 'go' not found on PATH; install Go >= 1.25 to build ${MODULE}" >&2
    exit 1
fi

echo "install-ratelimit.sh: building ${MODULE}@${RATELIMIT_VERSION} into ${BIN}" >&2
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ratelimit-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BIN_DIR"
# Outside any module or workspace, so the published go.mod alone decides the dependencies.
(cd "$WORK" && GOWORK=off GOFLAGS=-trimpath CGO_ENABLED=0 GOBIN="$WORK/bin" \
    go install "${MODULE}/src/service_cmd@${RATELIMIT_VERSION}")
install -m 0755 "$WORK/bin/service_cmd" "$BIN"
printf '%s\n' "$RATELIMIT_VERSION" > "$STAMP"
echo "install-ratelimit.sh: installed ${BIN}" >&2
