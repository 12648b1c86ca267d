#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries if they are missing.
#
# Only bench/trade_bench.py --backend postgresql needs them (FerretDB's PostgreSQL backend,
# docs/decisions/0016); the dev stack and the tests use FerretDB on SQLite. Idempotent and quiet
# when /usr/lib/postgresql/<major>/bin/postgres exists. The benchmark launches its own cluster
# (initdb into a temporary directory, a free port, a private unix-socket directory, run as the
# `postgres` user; see PostgreSQLServer in src/trademesh/devstack/processes.py), so the system
# cluster that the Debian package's postinst may create and start is stopped and disabled.
set -euo pipefail

# Prints the newest installed server's bin directory, or nothing.
server_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "${dir}/postgres" ] && [ -x "${dir}/initdb" ]; then
        printf '%s\n' "$dir"
    fi
}

if [ -n "$(server_bindir)" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-postgres.sh: need root (or sudo) to apt-get install postgresql" >&2
        exit 1
    fi
fi

echo "install-postgres.sh: installing postgresql via apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Tell invoke-rc.d not to start the system cluster during install (honoured on Debian without
# systemd, e.g. containers); it is stopped below in case it started anyway.
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
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null

# No system cluster left running: the benchmark starts its own on a free port.
$SUDO service postgresql stop >/dev/null 2>&1 || true
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d postgresql disable >/dev/null 2>&1 || true
fi

bindir="$(server_bindir)"
if [ -z "$bindir" ]; then
    echo "install-postgres.sh: no /usr/lib/postgresql/*/bin/postgres after install" >&2
    exit 1
fi
if ! id postgres >/dev/null 2>&1; then
    echo "install-postgres.sh: the postgresql package did not create the 'postgres' user" >&2
    exit 1
fi
echo "install-postgres.sh: $("${bindir}/postgres" --version) in ${bindir}" >&2
