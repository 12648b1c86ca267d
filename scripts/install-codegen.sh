#!/usr/bin/env bash
# Install the TypeScript and Go code generators at pinned versions (no-op when present):
#   - protoc-gen-go and protoc-gen-go-grpc into .tools/bin (go install from the Go module proxy)
#   - the TypeScript SDK's npm dependencies, protoc-gen-es and the Node gRPC transport among them (npm ci)
#   - the Go SDK's modules (go mod download)
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.0
mkdir -p .tools/bin
tools="$PWD/.tools/bin"

install_go_tool() {
  local package=$1 version=$2 binary=$3
  local stamp="$tools/.$binary.version"
  if [ -x "$tools/$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return
  fi
  command -v go >/dev/null || { echo "install-codegen.sh: 'go' is needed to build $binary" >&2; exit 1; }
  echo "install-codegen.sh: go install $package@$version" >&2
  GOBIN="$tools" GOFLAGS=-mod=mod go install "$package@$version"
  echo "$version" > "$stamp"
}
install_go_tool google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO" protoc-gen-go
install_go_tool google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC" protoc-gen-go-grpc

# Reinstall node modules only when the lock file changed.
ts=clients/typescript
want=$(sha256sum "$ts/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$ts/node_modules" ] || [ "$(cat "$ts/node_modules/.lock-sha" 2>/dev/null)" != "$want" ]; then
  command -v npm >/dev/null || { echo "install-codegen.sh: 'npm' (Node.js) is needed for the TypeScript SDK" >&2; exit 1; }
  echo "install-codegen.sh: npm ci in $ts" >&2
  (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$ts/node_modules/.lock-sha"
fi

# The Go SDK's module dependencies, so the cross-language tests can build clients/go/cmd/trademesh-journey
# offline (a no-op when the module cache has them).
(cd clients/go && GOFLAGS=-mod=mod go mod download)
