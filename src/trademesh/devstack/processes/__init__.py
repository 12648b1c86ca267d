"""Launch and supervise local Redis and FerretDB server processes.

Used by the pytest fixtures and by the ``make up`` dev launcher. Every
instance is a private child process bound to ``127.0.0.1`` on its own port
with its own data directory, so several can run side by side (for example one
per test session) without touching any system-wide service.

Binaries:

* ``redis-server`` from ``PATH`` (installed by ``scripts/install-redis.sh``),
  overridable with ``TRADEMESH_REDIS_SERVER_BIN``.
* ``<repo>/.tools/bin/ferretdb`` (built by ``scripts/install-ferretdb.sh``),
  overridable with ``TRADEMESH_FERRETDB_BIN``.
* ``<repo>/.tools/bin/ratelimit`` (Envoy's global rate-limit service, built by
  ``scripts/install-ratelimit.sh``), overridable with ``TRADEMESH_RATELIMIT_BIN``.

Example::

    with RedisServer(tmp_path / "redis") as redis, FerretDBServer(tmp_path / "db") as db:
        print(redis.url, db.url)
        redis.kill()      # simulate a crash
        redis.restart()   # same port, same data dir

The parts: :mod:`.base` (:class:`ManagedProcess`, free ports), :mod:`.redis_server`, :mod:`.ferretdb`,
:mod:`.ratelimit` and :mod:`.postgresql`.
"""

from trademesh.devstack.processes.base import ManagedProcess, ProcessStartError, find_free_port, repo_root
from trademesh.devstack.processes.ferretdb import FerretDBServer
from trademesh.devstack.processes.postgresql import FerretDBPostgreSQLServer, PostgreSQLServer
from trademesh.devstack.processes.ratelimit import RateLimitServer, ratelimit_environment
from trademesh.devstack.processes.redis_server import RedisServer

__all__ = [
    "FerretDBPostgreSQLServer",
    "FerretDBServer",
    "ManagedProcess",
    "PostgreSQLServer",
    "ProcessStartError",
    "RateLimitServer",
    "RedisServer",
    "find_free_port",
    "ratelimit_environment",
    "repo_root",
]
