#!/usr/bin/env bash
# Build a real Kubernetes control plane into <repo>/.tools, for the tests that apply the chart to a
# real API server (tests/k8s, docs/decisions/0041-real-kube-apiserver-in-tests.md):
#   - etcd                        v3.7.4   (go.etcd.io/etcd/server/v3)
#   - kube-apiserver, kubectl,
#     kube-controller-manager,
#     kube-scheduler              v1.37.2  (k8s.io/kubernetes, staging modules at v0.37.2)
#   - kwok                        v0.8.0   (fake nodes and pods; its Stage YAMLs in .tools/kwok-stages)
# A no-op when the stamp .tools/kube/installed names these versions and every binary is there.
#
# Needs only Go (>= 1.26) and the Go module proxy; everything is built with CGO disabled. The Go
# module and build caches are reused, so only the first run pays the build (~20 min on 2 cores).
#
# Why not `go install …@version`? Both etcd's server module and k8s.io/kubernetes have `replace`
# directives to paths inside their repositories, which `go install pkg@version` refuses and which the
# module zips do not carry (k8s.io/kubernetes has no staging/ in its zip). So, as for FerretDB, the
# module source is copied out of the read-only module cache and its go.mod pointed at the published
# modules of the same release.
set -euo pipefail

ETCD_VERSION="v3.7.4"
KUBE_VERSION="v1.37.2"
KUBE_STAGING_VERSION="v0.37.2"   # k8s.io/<staging module> tag of the same release
KWOK_VERSION="v0.8.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
STAGE_DIR="${REPO_ROOT}/.tools/kwok-stages"
STAMP="${REPO_ROOT}/.tools/kube/installed"
WANTED="etcd=${ETCD_VERSION} kubernetes=${KUBE_VERSION} kwok=${KWOK_VERSION}"
KUBE_BINS=(kube-apiserver kubectl kube-controller-manager kube-scheduler)

all_there() {
    local b
    for b in etcd "${KUBE_BINS[@]}" kwok; do
        [ -x "${BIN_DIR}/${b}" ] || return 1
    done
    [ -f "${STAGE_DIR}/pod-general.yaml" ] && [ -f "${STAGE_DIR}/node-fast.yaml" ]
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ] && all_there; then
    exit 0
fi

# Go's default install location is often not on PATH in non-login shells.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:${PATH}"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-kube.sh: error: 'go' not found on PATH; install Go >= 1.26 to build the control plane" >&2
    exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kube-build.XXXXXX")"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Outside any enclosing module / workspace; -mod=mod lets go.sum gain the published modules' sums.
cd "$WORK"
export GO111MODULE=on GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
mkdir -p "$BIN_DIR" "$STAGE_DIR" "$(dirname "$STAMP")"
rm -f "$STAMP"

# Copies module@version out of the module cache into $WORK/<name>, writable; prints the copy's path.
module_copy() {
    local mod="$1" name="$2" dir
    dir="$(go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
    if [ -z "$dir" ] || [ ! -f "${dir}/go.mod" ]; then
        echo "install-kube.sh: error: could not download ${mod}" >&2
        exit 1
    fi
    cp -R "$dir" "${WORK}/${name}"
    chmod -R u+w "${WORK}/${name}"
    printf '%s\n' "${WORK}/${name}"
}

# --- etcd -----------------------------------------------------------------------------------------
echo "install-kube.sh: building etcd ${ETCD_VERSION}" >&2
src="$(module_copy "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" etcd)"
# The `replace go.etcd.io/etcd/… => ../…` block points into etcd's repository; the require block already
# names the published api, client/pkg, client and pkg modules at ${ETCD_VERSION}.
for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
    (cd "$src" && go mod edit -dropreplace="go.etcd.io/etcd/${m}" -require="go.etcd.io/etcd/${m}@${ETCD_VERSION}")
done
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/etcd.tmp" .)
mv -f "${BIN_DIR}/etcd.tmp" "${BIN_DIR}/etcd"

# --- kube-apiserver, kubectl, kube-controller-manager, kube-scheduler -----------------------------
echo "install-kube.sh: building ${KUBE_BINS[*]} ${KUBE_VERSION} (the long part)" >&2
src="$(module_copy "k8s.io/kubernetes@${KUBE_VERSION}" kubernetes)"
# Every `k8s.io/<x> => ./staging/src/k8s.io/<x>` becomes `k8s.io/<x> => k8s.io/<x> ${KUBE_STAGING_VERSION}`.
replaces=()
while read -r m; do
    replaces+=("-replace=${m}=${m}@${KUBE_STAGING_VERSION}")
done < <(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*|\1|p' "${src}/go.mod")
if [ "${#replaces[@]}" -eq 0 ]; then
    echo "install-kube.sh: error: no staging replaces found in k8s.io/kubernetes go.mod" >&2
    exit 1
fi
(cd "$src" && rm -rf vendor go.work go.work.sum && go mod edit "${replaces[@]}")
# Without the version stamp (hack/lib/version.sh sets the same variables) the binaries say v0.0.0 and
# helm refuses the chart's kubeVersion.
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "${WORK}/kube-out"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "${WORK}/kube-out/" \
    "${KUBE_BINS[@]/#/./cmd/}")
for b in "${KUBE_BINS[@]}"; do
    mv -f "${WORK}/kube-out/${b}" "${BIN_DIR}/${b}"
done
if ! "${BIN_DIR}/kube-apiserver" --version | grep -qx "Kubernetes ${KUBE_VERSION}"; then
    echo "install-kube.sh: error: kube-apiserver does not report ${KUBE_VERSION}:" >&2
    "${BIN_DIR}/kube-apiserver" --version >&2 || true
    exit 1
fi

# --- kwok -----------------------------------------------------------------------------------------
echo "install-kube.sh: building kwok ${KWOK_VERSION}" >&2
(cd "$WORK" && GOFLAGS=-buildvcs=false GOBIN="$BIN_DIR" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}")
# kwok simulates nothing without Stages: node heartbeat (Ready) and pod lifecycle (Running) from its module.
kwok_dir="$(go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
# Node: initialise (Ready) + heartbeat with a Lease (the launcher passes --node-lease-duration-seconds).
# Pod: the general lifecycle (scheduled -> Running/Ready, deleted -> gone, Jobs' pods complete).
stages() {  # concatenates the Stage files a kustomization lists (`resources:`), as one YAML stream
    local dir f
    for dir in "$@"; do
        for f in $(sed -n 's/^- \(.*\.yaml\)$/\1/p' "${dir}/kustomization.yaml"); do
            printf -- '---\n'
            cat "${dir}/${f}"
        done
    done
}
stages "${kwok_dir}/kustomize/stage/node/fast" "${kwok_dir}/kustomize/stage/node/heartbeat-with-lease" \
    > "${STAGE_DIR}/node-fast.yaml"
stages "${kwok_dir}/kustomize/stage/pod/general" > "${STAGE_DIR}/pod-general.yaml"

printf '%s\n' "$WANTED" > "$STAMP"
echo "install-kube.sh: installed ${WANTED} in ${BIN_DIR}" >&2
