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
# Four small source patches are applied (see apply_patches below and
# docs/decisions/0002-ferretdb-local-database.md); their level is recorded in
# build/version/package.txt and shown by `ferretdb --version` as
# "package: trademesh-pN", so bumping PATCH_LEVEL forces a rebuild.
#
# Needs only Go (>= 1.24) and the Go module proxy. SQLite is modernc.org/sqlite
# (pure Go), so CGO is disabled.
set -euo pipefail

FERRETDB_VERSION="v1.24.2"
PATCH_LEVEL="trademesh-p3"
MODULE="github.com/FerretDB/FerretDB"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
BIN="${BIN_DIR}/ferretdb"

# Prints "<version> <package>" from `ferretdb --version`, e.g.
# "v1.24.2 trademesh-p1", or nothing. Output is captured first: `cmd | grep -q`
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
    echo "install-ferretdb.sh: error: 'go' not found on PATH; install Go >= 1.24 to build FerretDB ${FERRETDB_VERSION}" >&2
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

# Patch 1 (performance): the SQLite backend looks documents up by _id with
# `_ferretdb_sjson->'$._id'`, but the unique _id index is on
# `_ferretdb_sjson->"_id"`; SQLite only uses an expression index for the same
# expression, so every find/update/delete by _id was a full table scan.
# `->'_id'` is the same JSON lookup and matches the index.
#
# Patch 2 (correctness): update, findAndModify and delete read the matching
# documents, apply the change in Go and write them back by _id, with nothing
# tying the read to the write. Concurrent connections therefore lose updates
# ($inc), let two writers pass the same {_id, version} check and make
# find_one_and_delete hand out one document twice. A process-wide mutex around
# those three commands restores MongoDB's single-document atomicity (SQLite
# serialises writes anyway).
apply_patches() {
    local meta="${SRC}/internal/backends/sqlite/metadata/metadata.go"
    sed -i "s|IDColumn = DefaultColumn + \"->'\\\$\._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$meta"
    grep -qF "IDColumn = DefaultColumn + \"->'_id'\"" "$meta" || {
        echo "install-ferretdb.sh: error: patch 1 (_id index) did not apply to ${meta}" >&2
        exit 1
    }

    local hdir="${SRC}/internal/handler"
    cat > "${hdir}/trademesh_writelock.go" <<'GO'
package handler

import "sync"

// trademeshWriteMu serialises read-modify-write commands (trademesh patch).
var trademeshWriteMu sync.Mutex
GO
    local cmd file
    for cmd in Update:msg_update.go FindAndModify:msg_findandmodify.go Delete:msg_delete.go; do
        file="${hdir}/${cmd#*:}"
        sed -i "/^func (h \*Handler) Msg${cmd%%:*}(connCtx context.Context, msg \*wire.OpMsg) (\*wire.OpMsg, error) {\$/a\\
\ttrademeshWriteMu.Lock()\\
\tdefer trademeshWriteMu.Unlock()\\
" "$file"
        [ "$(grep -c 'trademeshWriteMu.Lock()' "$file")" = 1 ] || {
            echo "install-ferretdb.sh: error: patch 2 (write lock) did not apply to ${file}" >&2
            exit 1
        }
    done

    # Patch 3 (PostgreSQL backend, used by bench/trade_bench.py): an `_id` equality on a string or
    # ObjectID becomes `_jsonb->'_id' = $n`, the expression of FerretDB's own unique `_id` index, instead
    # of `_jsonb->$k @> $n`, which no btree serves (every point read scanned the table).
    local query="${SRC}/internal/backends/postgresql/query.go"
    sed -i '/^func filterEqual(p \*metadata.Placeholder, k any, v any, operator string) (filter string, args \[\]any) {$/a\
\tif key, ok := k.(string); ok \&\& key == "_id" \&\& operator == "->" {\
\t\tswitch v.(type) {\
\t\tcase string, types.ObjectID:\
\t\t\treturn fmt.Sprintf("%s = %s", metadata.IDColumn, p.Next()), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\
\t\t}\
\t}\
' "$query"
    grep -qF 'return fmt.Sprintf("%s = %s", metadata.IDColumn, p.Next())' "$query" || {
        echo "install-ferretdb.sh: error: patch 3 (PostgreSQL _id equality) did not apply to ${query}" >&2
        exit 1
    }

    # Patch 4 (performance, SQLite backend): only a filter that is exactly `{_id: <string|ObjectID>}`
    # was pushed down to SQLite; any other filter read and decoded the whole collection. Now an `_id`
    # equality beside other conditions (`{_id, version}`, `{_id, status}`: conditional writes) and
    # `{_id: {$in: [...]}}` of up to 1,000 strings/ObjectIDs (batched point reads) are pushed down as
    # `_id = ?` / `_id IN (...)` on the `_id` index. Safe because every handler (find, count, update,
    # findAndModify, delete) applies the full filter again to what the backend returns.
    local sqlite_dir="${SRC}/internal/backends/sqlite"
    cat > "${sqlite_dir}/trademesh_idpushdown.go" <<'GO'
package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// trademeshIDWhere returns the WHERE clause serving the filter's `_id` condition from the `_id`
// index, or "" (trademesh patch). The caller re-applies the whole filter to the rows returned.
func trademeshIDWhere(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}
	found := 0
	for _, key := range filter.Keys() {
		if key == "_id" {
			found++
		}
	}
	if found != 1 {
		return "", nil
	}
	v := must.NotFail(filter.Get("_id"))
	switch v := v.(type) {
	case string, types.ObjectID:
		return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
	case *types.Document:
		keys := v.Keys()
		if len(keys) != 1 || keys[0] != "$in" {
			return "", nil
		}
		values, ok := must.NotFail(v.Get("$in")).(*types.Array)
		if !ok || values.Len() == 0 || values.Len() > 1000 {
			return "", nil
		}
		args := make([]any, 0, values.Len())
		for i := 0; i < values.Len(); i++ {
			switch value := must.NotFail(values.Get(i)).(type) {
			case string, types.ObjectID:
				args = append(args, string(must.NotFail(sjson.MarshalSingleValue(value))))
			default:
				return "", nil
			}
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
		return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, marks), args
	}
	return "", nil
}
GO
    local coll="${sqlite_dir}/collection.go"
    # Query: the `Len() == 1` block becomes the helper (Explain keeps FerretDB's own, narrower rule).
    perl -0pi -e 's/\tif params\.Filter\.Len\(\) == 1 \{\n\t\tv, _ := params\.Filter\.Get\("_id"\)\n\t\tswitch v\.\(type\) \{\n\t\tcase string, types\.ObjectID:\n\t\t\twhereClause = fmt\.Sprintf\(` WHERE %s = \?`, metadata\.IDColumn\)\n\t\t\targs = \[\]any\{string\(must\.NotFail\(sjson\.MarshalSingleValue\(v\)\)\)\}\n\t\t\}\n\t\}\n\n\tq \+= whereClause/\twhereClause, args = trademeshIDWhere(params.Filter)\n\n\tq += whereClause/' "$coll"
    grep -qF 'whereClause, args = trademeshIDWhere(params.Filter)' "$coll" || {
        echo "install-ferretdb.sh: error: patch 4 (_id pushdown) did not apply to ${coll}" >&2
        exit 1
    }
}
apply_patches

mkdir -p "$BIN_DIR"
cd "$SRC"
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
