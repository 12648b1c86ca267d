#!/usr/bin/env bash
# Install Debian's redis-server if it is not already on PATH.
#
# Idempotent and quiet when redis-server is present. The trademesh dev stack
# and test fixtures always launch their own redis-server processes on chosen
# ports (see src/trademesh/devstack/processes.py), so any system service that
# the Debian package's postinst starts on :6379 is stopped and disabled.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-redis.sh: need root (or sudo) to apt-get install redis-server" >&2
        exit 1
    fi
fi

echo "install-redis.sh: installing redis-server via apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Tell invoke-rc.d not to start services during install (honoured on Debian
# without systemd, e.g. containers); we still stop the service below in case.
policy_rc=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
    $SUDO chmod +x "$policy_rc"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" -eq 1 ]; then
        $SUDO rm -f "$policy_rc"
    fi
}
trap cleanup EXIT

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null

# Make sure no system redis is left running: we launch our own per port.
$SUDO service redis-server stop >/dev/null 2>&1 || true
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d redis-server disable >/dev/null 2>&1 || true
fi
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
