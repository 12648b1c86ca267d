"""Storage soak (issue 15): the whole local mesh on the local engine under minutes of mixed load.

Starts the mesh exactly as ``make up`` does (``python -m trademesh.devstack.up``: Redis, FerretDB on
SQLite with our patches, every service, Envoy), but private: a temporary data directory, free ports, and
FerretDB's debug listener on (``TRADEMESH_FERRETDB_DEBUG_ADDR``) for its Prometheus metrics. Then:

1. registers ``--users`` traders through the auth service and bulk-inserts ``--trades-per-user`` trades
   for each straight into the trade service's collection (``trademesh.trades``, documents built by the
   store's own ``trade_to_document``, as ``bench/trade_bench/`` does; the trade service's indexes exist
   already, so they are maintained while loading);
2. runs ``--minutes`` of mixed load through the gateway (native gRPC, a bearer token per trader):
   ListTrades first pages and deeper pages (following page tokens), callers that give up after 50 ms
   (ListTrades and GetAnalytics; DEADLINE_EXCEEDED is what they expect and is counted apart, not as an
   error), a 2,000-row generic CSV ImportTrades now and then, CreateTrade, GetAnalytics, and
   SubscribeQuotes streams counting the quotes they receive;
3. every minute, a probe (a ListTrades first page for the first trader, on its own connection, 1 s
   deadline) must answer, and a row of figures is printed: calls, p50/p99 per RPC, errors by status
   code, quotes received, FerretDB's open cursors (``ferretdb_cursors_created_total`` minus the count of
   ``ferretdb_cursors_duration_seconds``, observed when a cursor is removed), its RSS and CPU;
4. after the load it lets in-flight work settle (polls, with a deadline: callers finish, the trade
   service's outbox is published, no cursor is open), probes once more, prints a summary and stops the
   stack with SIGINT, as Ctrl-C would (then checks that no process of the run is left).

Pass criteria (exit code 0 only if all hold): every minute's probe answered within 1 s, no UNAVAILABLE
during the load or after it, no open cursor left once the load has ended, the final probe answered,
no process of the run left after the stack stopped.

    .venv/bin/python -m bench.storage_soak                                   # 100 x 10,000 trades, 10 minutes
    .venv/bin/python -m bench.storage_soak --users 5 --trades-per-user 2000 --minutes 1   # a quick look

Ctrl-C or SIGTERM stops the load and the stack (everything the run started).
"""

from bench.storage_soak.cli import main
from bench.storage_soak.common import MAX_MESSAGE_BYTES, Document
from bench.storage_soak.figures import percentile
from bench.storage_soak.load import Traders
from bench.storage_soak.stack import DevStack

__all__ = ["MAX_MESSAGE_BYTES", "DevStack", "Document", "Traders", "main", "percentile"]
