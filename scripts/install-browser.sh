#!/usr/bin/env bash
# Install what the browser client and its end-to-end tests need; a no-op when it is already there.
#   - Debian's `chromium` (apt-get), driven headless by playwright-core in the browser tests
#     (playwright's own browser download is not used: it cannot be fetched here, and is not needed)
#   - the browser client's npm dependencies (`npm ci` in clients/web, from package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
  echo "install-browser.sh: installing Debian's chromium" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# The client depends on the TypeScript SDK (file:../typescript), whose own modules install-codegen.sh
# provides; reinstall the client's modules only when its lock file changed.
web=clients/web
want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$web/node_modules" ] || [ "$(cat "$web/node_modules/.lock-sha" 2>/dev/null)" != "$want" ]; then
  command -v npm >/dev/null || { echo "install-browser.sh: 'npm' (Node.js) is needed for the browser client" >&2; exit 1; }
  echo "install-browser.sh: npm ci in $web" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$web/node_modules/.lock-sha"
fi
