#!/usr/bin/env bash
# Build FerretDB v1.24.2 (MongoDB wire protocol, SQLite backend) into
# <repo>/.tools/bin/ferretdb, unless a binary reporting that version is there.
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`?
# build/version/version.go embeds build/version/*.txt and panics at start-up
# unless version.txt (generated from `git describe`, not shipped in the module
# zip) starts with "v". So we copy the module source out of the read-only
# module cache, write the generated files ourselves and `go build` from there.
#
# The source patches in scripts/ferretdb-patches/ are applied (see apply_patches below and
# docs/decisions/0025-local-engine-ferretdb-patched.md); their level, a hash of the patch files, is
# recorded in build/version/package.txt and shown by `ferretdb --version` as
# "package: trademesh-<hash>", so changing any patch forces a rebuild.
#
# Needs only Go (>= 1.26, or an older Go with GOTOOLCHAIN=auto fetching it) and the Go module proxy. SQLite is modernc.org/sqlite
# (pure Go), so CGO is disabled.
set -euo pipefail

FERRETDB_VERSION="v1.24.2"
MODULE="github.com/FerretDB/FerretDB"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATCH_DIR="${REPO_ROOT}/scripts/ferretdb-patches"
PATCH_LEVEL="trademesh-$(cat "${PATCH_DIR}"/*.patch | sha256sum | cut -c1-12)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
BIN="${BIN_DIR}/ferretdb"

# Prints "<version> <package>" from `ferretdb --version`, e.g.
# "v1.24.2 trademesh-0123456789ab", or nothing. Output is captured first: `cmd | grep -q`
# under pipefail can fail on SIGPIPE.
installed_version() {
    local out
    out="$("$BIN" --version 2>/dev/null || true)"
    printf '%s %s\n' \
        "$(printf '%s\n' "$out" | sed -n 's/^version: //p' | head -n 1)" \
        "$(printf '%s\n' "$out" | sed -n 's/^package: //p' | head -n 1)"
}
WANTED="${FERRETDB_VERSION} ${PATCH_LEVEL}"

if [ -x "$BIN" ] && [ "$(installed_version)" = "$WANTED" ]; then
    exit 0
fi

# Go's default install location is often not on PATH in non-login shells.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:${PATH}"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-ferretdb.sh: error: 'go' not found on PATH; install Go >= 1.26 to build FerretDB ${FERRETDB_VERSION}" >&2
    exit 1
fi

echo "install-ferretdb.sh: building FerretDB ${FERRETDB_VERSION} into ${BIN}" >&2

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferretdb-build.XXXXXX")"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Work outside any enclosing module / workspace so `go mod download` resolves
# the module by itself.
cd "$WORK"
export GO111MODULE=on GOWORK=off GOFLAGS=-mod=mod
# Allow Go to fetch the toolchain named in FerretDB's go.mod if the local one
# is older (a newer local Go is used as is).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

MOD_DIR="$(go mod download -json "${MODULE}@${FERRETDB_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$MOD_DIR" ] || [ ! -f "${MOD_DIR}/go.mod" ]; then
    echo "install-ferretdb.sh: error: could not download ${MODULE}@${FERRETDB_VERSION}" >&2
    exit 1
fi

SRC="${WORK}/src"
cp -R "$MOD_DIR" "$SRC"
chmod -R u+w "$SRC"   # the module cache is read-only

# Files normally produced by `go generate ./build/version` (git describe etc.).
printf '%s\n' "$FERRETDB_VERSION" > "${SRC}/build/version/version.txt"
printf '%s\n' "$PATCH_LEVEL" > "${SRC}/build/version/package.txt"
# commit.txt / branch.txt are optional ("unknown" when absent).

# The patches in scripts/ferretdb-patches/: unified diffs against the module source, applied in
# order with `git apply` (which needs no repository); each starts with what it does and why.
apply_patches() {
    local patch
    for patch in "${PATCH_DIR}"/*.patch; do
        # GIT_CEILING_DIRECTORIES: apply to these files even if TMPDIR lies inside some repository
        (cd "$SRC" && GIT_CEILING_DIRECTORIES="$WORK" git apply -p1 --whitespace=nowarn "$patch") || {
            echo "install-ferretdb.sh: error: ${patch##*/} did not apply" >&2
            exit 1
        }
    done
}
apply_patches

mkdir -p "$BIN_DIR"
cd "$SRC"
# Patches 0007 and 0009 replace how stored documents are decoded and projected: their differential
# tests (and the packages' own) must pass before the binary is installed. FerretDB's test helpers find the source root by a
# `.git` entry, which the module zip does not have.
mkdir -p "${SRC}/.git"
CGO_ENABLED=0 go test -count=1 -buildvcs=false ./internal/handler/sjson/ ./internal/handler/common/ >&2 || {
    echo "install-ferretdb.sh: error: the sjson or projection tests failed on the patched source" >&2
    exit 1
}
# -buildvcs=false: no .git here, and version.go cross-checks vcs.revision
# against commit.txt when VCS info is present.
CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "${BIN}.tmp" ./cmd/ferretdb
mv -f "${BIN}.tmp" "$BIN"

if [ "$(installed_version)" != "$WANTED" ]; then
    echo "install-ferretdb.sh: error: built binary does not report ${WANTED}:" >&2
    "$BIN" --version >&2 || true
    exit 1
fi
echo "install-ferretdb.sh: installed FerretDB $(installed_version) at ${BIN}" >&2
