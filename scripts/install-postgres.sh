#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries if they are missing.
#
# Only bench/trade_bench/ --backend postgresql needs them (FerretDB's PostgreSQL backend,
# docs/decisions/0016); the dev stack and the tests use FerretDB on SQLite. Idempotent and quiet
# when /usr/lib/postgresql/<major>/bin/postgres exists. The benchmark launches its own cluster
# (initdb into a temporary directory, a free port, a private unix-socket directory, run as the
# `postgres` user; see PostgreSQLServer in src/trademesh/devstack/processes/), so the system
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

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install-service.sh" postgresql postgresql

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
