"""The command line: one role per process (``--role``), the whole benchmark by default."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.sync_bench.fake import _serve_fake
from bench.sync_bench.orchestration import run


def main() -> None:
    """Parse flags and run the benchmark (or, with --role fake, serve the fake Kite)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync_bench",
        description=sys.modules["bench.sync_bench"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--solo-trades", type=int, default=10_000, help="trades of the single account")
    parser.add_argument("--accounts", type=int, default=1_000, help="accounts of the sweep")
    parser.add_argument("--trades-per-account", type=int, default=20, help="trades per sweep account")
    parser.add_argument(
        "--baseline-solo-trades", type=int, default=1000, help="trades the baseline reconciles in solo (sample)"
    )
    parser.add_argument(
        "--baseline-accounts", type=int, default=50, help="accounts the baseline runs in the sweep (sample)"
    )
    parser.add_argument(
        "--sweep-real-accounts",
        type=int,
        default=1_000_000,
        help="at most this many sweep accounts go into the real trade service (default: all)",
    )
    parser.add_argument("--small", action="store_true", help="quick run: 1 x 1,000 and 100 x 20")
    parser.add_argument("--role", choices=["bench", "fake"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--fake-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.small:
        args.solo_trades, args.accounts = min(args.solo_trades, 1_000), min(args.accounts, 100)
        args.baseline_solo_trades, args.baseline_accounts = min(args.baseline_solo_trades, 100), 5
        args.sweep_real_accounts = min(args.sweep_real_accounts, 50)
    if args.role == "fake":
        asyncio.run(_serve_fake(args.fake_port, args.solo_trades, args.accounts, args.trades_per_account))
    else:
        asyncio.run(run(args))
