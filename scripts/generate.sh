#!/usr/bin/env bash
# Regenerate the Python SDK's protobuf messages, gRPC stubs and .pyi type stubs from proto/.
# Output is deterministic: CI regenerates and fails if anything differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=clients/python/src

# Remove the previous output so deleted protos leave nothing behind.
find "$OUT/trademesh" -path '*/v1/*' \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete 2>/dev/null || true

mapfile -t protos < <(cd proto && find trademesh -name '*.proto' | LC_ALL=C sort)
# mypy-protobuf announces every file it writes; keep real errors, drop that chatter.
PATH="$PWD/$BIN:$PATH" "$BIN/python" -m grpc_tools.protoc \
  --proto_path=proto \
  --python_out="$OUT" \
  --grpc_python_out="$OUT" \
  --mypy_out="$OUT" \
  --mypy_grpc_out="$OUT" \
  "${protos[@]}" 2>&1 | { grep -v '^Writing mypy to ' || true; }

# Every generated directory is a regular, typed package.
while IFS= read -r dir; do
  d="$OUT/$dir"
  while [ "$d" != "$OUT/trademesh" ] && [ "$d" != "$OUT" ]; do
    [ -f "$d/__init__.py" ] || : > "$d/__init__.py"
    d=$(dirname "$d")
  done
done < <(cd proto && find trademesh -name '*.proto' -exec dirname {} \; | LC_ALL=C sort -u)
for pkg in "$OUT"/trademesh/*/; do : > "$pkg/py.typed"; done
echo "generated Python for ${#protos[@]} proto files into $OUT"
