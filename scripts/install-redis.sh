#!/usr/bin/env bash
# Install Debian's redis-server if it is not already on PATH.
#
# Idempotent and quiet when redis-server is present. The trademesh dev stack
# and test fixtures always launch their own redis-server processes on chosen
# ports (see src/trademesh/devstack/processes/), so any system service that
# the Debian package's postinst starts on :6379 is stopped and disabled.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install-service.sh" redis-server redis-server

# Make sure no system redis is left running: we launch our own per port.
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ -f /run/redis/redis-server.pid ]; then
    pid="$(cat /run/redis/redis-server.pid 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        $SUDO kill "$pid" 2>/dev/null || true
    fi
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "install-redis.sh: redis-server still not on PATH after install" >&2
    exit 1
fi
echo "install-redis.sh: $(redis-server --version)" >&2
