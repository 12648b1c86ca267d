"""The sync service's use cases, wired to their ports (free of gRPC, MongoDB, Redis and HTTP).

`accounts` links, updates, unlinks and lists broker accounts; `runs` starts, executes and ends sync
runs and lists their logs; `base` holds what both share (ports, clock, ownership, token expiry, cursors).
"""

from __future__ import annotations

from trademesh.services.sync.service.accounts import AccountUseCases
from trademesh.services.sync.service.base import (
    DEFAULT_ACCOUNT_PAGE,
    DEFAULT_LOG_PAGE,
    MANUAL_SYNC_INTERVAL,
    MAX_ACCOUNT_PAGE,
    MAX_LOG_PAGE,
    REQUEST_MEMORY,
)
from trademesh.services.sync.service.runs import RunUseCases, normalise_rows

__all__ = [
    "DEFAULT_ACCOUNT_PAGE",
    "DEFAULT_LOG_PAGE",
    "MANUAL_SYNC_INTERVAL",
    "MAX_ACCOUNT_PAGE",
    "MAX_LOG_PAGE",
    "REQUEST_MEMORY",
    "SyncService",
    "normalise_rows",
]


class SyncService(AccountUseCases, RunUseCases):
    """The sync service's use cases: accounts and runs over the ports of `ports.py`."""
