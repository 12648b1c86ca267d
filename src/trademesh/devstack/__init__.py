"""Local development/test infrastructure: private Redis and FerretDB processes.

See :mod:`trademesh.devstack.processes` and
``docs/decisions/0002-ferretdb-local-database.md``.
"""

from trademesh.devstack.processes import (
    FerretDBServer,
    ManagedProcess,
    ProcessStartError,
    RedisServer,
    find_free_port,
    repo_root,
)

__all__ = [
    "FerretDBServer",
    "ManagedProcess",
    "ProcessStartError",
    "RedisServer",
    "find_free_port",
    "repo_root",
]
