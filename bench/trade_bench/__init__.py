"""Trade service benchmark: CreateTrade throughput and ListTrades first/deep page latency.

Each figure is measured side by side, in the same run, with the same operation issued directly
through the database driver (PyMongo), so the service's own overhead is visible apart from the
database's. Starts private Redis, the database (FerretDB on SQLite or on PostgreSQL) and the
auth/trade services on free ports.

    .venv/bin/python -m bench.trade_bench                                   # 1,000,000 trades, 100 users, local engine
    .venv/bin/python -m bench.trade_bench --backend sqlite --users 1 --trades-per-user 100000

Bulk data is loaded with insert_many of documents built by the trade store's own
`trade_to_document` (the stored shape cannot drift), then the store's `ensure_indexes` runs.
The benchmarked user is the first of `--users`, with `--trades-per-user` trades like every other.

On the local engine (FerretDB on SQLite with our patches, decision 0025) the queries are served by
the store's indexes; the target (issue 15) is ListTrades first and deep page p99 <= 50 ms and
<= 1.5x the driver's, and CreateTrade >= 300/s with 8 callers. `--backend postgresql` is decision
0016's earlier experiment (FerretDB's own PostgreSQL backend), kept for comparison: it also prints
what FerretDB pushes down there and PostgreSQL's own time for the first page's SQL (EXPLAIN ANALYZE).
"""

from bench.trade_bench.cli import main

__all__ = [
    "main",
]
