"""``make up``: run the whole local mesh in the foreground until Ctrl-C.

``python -m trademesh.devstack.up [--once] [--no-services] [--data-dir DIR] [--redis-port N]
[--mongo-port N] [--base-port N] [--gateway-port N] [--gateway-admin-port N]``

1. Prepares the data directory (see :mod:`trademesh.devstack.stack`), generating auth's signing key
   on the first run.
2. Checks that every port it needs is free, naming the flag that changes a busy one.
3. Starts Redis and FerretDB, then each service of :data:`~trademesh.devstack.stack.SERVICES` as its
   own OS process (``python -m <module>``, output appended to ``<data>/logs/<name>.log``), a service
   only once the services it depends on report SERVING.
4. Waits (up to 30 s each) for every service to report SERVING on the standard gRPC health service
   (the gateway: Envoy's admin ``/ready`` answering LIVE); prints a summary of addresses, PIDs, health
   and log files, and the gateway's URL.
5. Supervises (decision 0024): a process that exits afterwards — Redis, FerretDB or any service, the
   gateway and the fake broker included — is started again with exponential backoff (0.5 s, doubling
   up to 30 s; back to 0.5 s once it had run for 60 s), on the same port with the same data directory,
   so the services still running reconnect to it by themselves. Each exit is logged with the process,
   its PID and exit code, the tail of its log, the attempt number and the delay; a restarted service is
   logged again once it reports SERVING. The launcher keeps running. A failure *during start-up*
   (steps 1-4) still stops everything and exits 1: that is a broken setup, not a crash.
6. On SIGINT (Ctrl-C), SIGTERM or SIGHUP: stops the services (SIGTERM, then SIGKILL after their grace
   + 5 s), then FerretDB, then Redis, and exits 0 — also while a restart is pending.

Every child runs in its own process group, so a Ctrl-C in the terminal reaches only this launcher,
which then stops the children in that order (services before the databases they use).

``--once`` starts everything, prints the summary, runs the health check once more and stops (exit 0
if all is SERVING); the tests use it.

The parts: :mod:`.cli` (flags, signals), :mod:`.launcher` (start order, summary, the once-check),
:mod:`.children` (the processes it runs), :mod:`.health` (probes), :mod:`.supervision` (restarts with
backoff) and :mod:`.common` (logger, timings, errors).
"""

from trademesh.devstack.up.children import ServiceProcess
from trademesh.devstack.up.cli import main, parse_args, run
from trademesh.devstack.up.common import HEALTH_TIMEOUT_SECONDS, STOP_MARGIN_SECONDS, StackError
from trademesh.devstack.up.health import check_health, check_http_ready
from trademesh.devstack.up.launcher import DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, Launcher, Options, ensure_demo_user
from trademesh.devstack.up.supervision import (
    RESTART_FIRST_DELAY_SECONDS,
    RESTART_MAX_DELAY_SECONDS,
    RESTART_RESET_AFTER_SECONDS,
    RestartBackoff,
)

__all__ = [
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "HEALTH_TIMEOUT_SECONDS",
    "RESTART_FIRST_DELAY_SECONDS",
    "RESTART_MAX_DELAY_SECONDS",
    "RESTART_RESET_AFTER_SECONDS",
    "STOP_MARGIN_SECONDS",
    "Launcher",
    "Options",
    "RestartBackoff",
    "ServiceProcess",
    "StackError",
    "check_health",
    "check_http_ready",
    "ensure_demo_user",
    "main",
    "parse_args",
    "run",
]
