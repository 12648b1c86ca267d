#!/usr/bin/env bash
# apt-install-service.sh PACKAGE SERVICE — install a Debian package that ships a system service,
# without leaving that service running.
#
# Used by install-redis.sh and install-postgres.sh: trademesh always launches its own server
# processes on chosen ports (src/trademesh/devstack/processes/), so the service the package's
# postinst would start is kept from starting where possible (policy-rc.d) and stopped and disabled
# in case it started anyway. Needs root or sudo.
set -euo pipefail

package="$1"
service="$2"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "apt-install-service.sh: need root (or sudo) to apt-get install ${package}" >&2
        exit 1
    fi
fi

echo "apt-install-service.sh: installing ${package} via apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Tell invoke-rc.d not to start services during install (honoured on Debian without systemd,
# e.g. containers).
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
$SUDO apt-get install -y -qq --no-install-recommends "$package" >/dev/null

$SUDO service "$service" stop >/dev/null 2>&1 || true
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d "$service" disable >/dev/null 2>&1 || true
fi
