"""The command line: start the mesh, soak it, stop it; exit 0 only if every criterion passed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType

from bench.storage_soak.soak import soak
from bench.storage_soak.stack import DevStack, StackError


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.storage_soak",
        description=sys.modules["bench.storage_soak"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=100, help="users registered and loaded (default 100)")
    parser.add_argument("--trades-per-user", type=int, default=10_000, help="trades loaded per user (default 10,000)")
    parser.add_argument("--minutes", type=int, default=10, help="minutes of mixed load (default 10)")
    parser.add_argument("--listers", type=int, default=6, help="ListTrades callers (first and deeper pages)")
    parser.add_argument("--max-depth", type=int, default=10, help="further pages a lister follows at most")
    parser.add_argument("--abandoners", type=int, default=4, help="callers with a 50 ms deadline")
    parser.add_argument("--importers", type=int, default=1, help="ImportTrades callers")
    parser.add_argument("--import-rows", type=int, default=2000, help="rows of each imported generic CSV")
    parser.add_argument("--import-every", type=float, default=30.0, help="seconds between an importer's imports")
    parser.add_argument("--creators", type=int, default=2, help="CreateTrade callers")
    parser.add_argument("--analysts", type=int, default=2, help="GetAnalytics callers")
    parser.add_argument("--streams", type=int, default=2, help="SubscribeQuotes streams")
    parser.add_argument("--load-workers", type=int, default=2, help="concurrent insert_many calls while loading")
    parser.add_argument("--drain-seconds", type=float, default=150.0, help="how long the last calls may take")
    parser.add_argument("--settle-seconds", type=float, default=120.0, help="how long to wait for zero open cursors")
    parser.add_argument(
        "--keep-data", action="store_true", help="keep FerretDB's files (GBs at full size); the logs are always kept"
    )
    parser.add_argument("--start-timeout", type=float, default=300.0, help="how long the mesh may take to start")
    args = parser.parse_args()
    if args.users < 1 or args.trades_per_user < 0 or args.minutes < 1:
        parser.error("need at least 1 user and 1 minute")
    return args


def main() -> None:
    """Start the mesh, soak it, stop it; exit 0 only if every criterion passed."""
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # until the event loop runs: SIGTERM ends like Ctrl-C
    stack = DevStack(Path(tempfile.mkdtemp(prefix="storage-soak-")), args.start_timeout)
    code = 1
    try:
        stack.start()
        code = asyncio.run(soak(stack, args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted", flush=True)
        code = 130
    except StackError as error:
        print(f"error: {error}", flush=True)
    except Exception:
        traceback.print_exc()
        print("error: the soak failed (traceback above)", flush=True)
    finally:
        # A second Ctrl-C must not leave the stack half stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    strays = stack.strays()
    if strays:
        print(f"FAIL  {len(strays)} process(es) of this run left after the stop (killed now):")
        for pid, command in strays:
            print(f"        {pid} {command[:150]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = code or 1
    else:
        print("PASS  no process of this run left after the stop")
    if not args.keep_data:
        for database in (stack.data_dir / "ferretdb").glob("*.sqlite*"):  # ferretdb.log stays
            database.unlink(missing_ok=True)
    print(f"logs: {stack.data_dir / 'logs'} and {stack.log_path}" + ("" if args.keep_data else " (database removed)"))
    sys.exit(code)
