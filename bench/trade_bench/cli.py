"""The command line: sizes, backend and samples."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bench.trade_bench.common import PAGE
from bench.trade_bench.run import run


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.trade_bench",
        description=sys.modules["bench.trade_bench"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=["postgresql", "sqlite"],
        default="sqlite",
        help="FerretDB's backend: sqlite is the local engine (make up, tests; decision 0025); postgresql "
        "(installed by scripts/install-postgres.sh when missing) is the earlier experiment of decision 0016",
    )
    parser.add_argument("--users", type=int, default=100, help="users loaded; the first is the benchmarked one")
    parser.add_argument("--trades-per-user", "--trades", type=int, default=10_000, help="trades loaded for every user")
    parser.add_argument(
        "--pg-gin-indexes",
        action="store_true",
        help="postgresql only: also create GIN indexes on trades._id/user_id, trade_quotas._id "
        "directly in PostgreSQL (an experiment: FerretDB's btree indexes cannot serve its own `@>` filters)",
    )
    parser.add_argument("--load-workers", type=int, default=2, help="concurrent insert_many calls while loading")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per first-page figure")
    parser.add_argument(
        "--deep-samples",
        type=int,
        default=200,
        help="timed calls per deep-page figure (0 skips)",
    )
    parser.add_argument(
        "--client-process",
        dest="client",
        action="store_const",
        const="both",
        default="in-process",
        help="also time ListTrades from a process of its own (the service's calls and the driver's), as any "
        "real client is, and print both; the default times them from the process hosting the servers",
    )
    parser.add_argument(
        "--client",
        choices=["in-process", "process", "both"],
        default=argparse.SUPPRESS,
        help="where the timed ListTrades callers run: this process (default), a process of their own, or both",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="with the callers in a process of their own: cProfile the server's process (its event loop) "
        "meanwhile and write the stats to FILE (python -m pstats FILE)",
    )
    parser.add_argument(
        "--gc",
        choices=["runtime", "threshold", "cpython"],
        default="runtime",
        help="the collector of the process hosting the servers, once they are up: what every service process "
        "does (runtime: trademesh.services.core.server), only its young threshold, or CPython's defaults "
        "(what the benchmark ran with before)",
    )
    parser.add_argument(
        "--floor-samples",
        type=int,
        default=1000,
        help="timed no-op calls (Health/Check through the trade server's stack, and a bare grpc.aio Echo); 0 skips",
    )
    parser.add_argument("--creates", type=int, default=800, help="CreateTrade calls for the throughput figure")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent CreateTrade callers")
    parser.add_argument(
        "--analytics-samples", type=int, default=5, help="fresh analytics services timed on a cold GetAnalytics"
    )
    args = parser.parse_args()
    if args.users < 1 or args.trades_per_user < 20 * PAGE:
        parser.error(f"need at least 1 user and {20 * PAGE:,} trades per user (the deep page is 90% in)")
    # SIGTERM ends like Ctrl-C: the with-blocks and atexit stop every server this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(run(args))
