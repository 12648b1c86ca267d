"""The benchmark's fixed names: database, secrets, page size, PostgreSQL settings."""

from __future__ import annotations

from typing import Any

Document = dict[str, Any]
SECRET = "bench-token-secret-0123456789abcdef"
DATABASE = "bench_trade"
PAGE = 50
# PostgreSQL settings for the benchmark's private cluster (the rest are PostgreSQL's defaults,
# fsync and synchronous_commit included): a quarter of a small server's memory for the buffer
# cache, and WAL room so the bulk load does not checkpoint every few seconds.
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}
