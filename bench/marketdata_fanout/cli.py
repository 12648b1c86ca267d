# ruff: noqa: ASYNC110, ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""The command line: one role per process (``--role``), the orchestrator by default."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bench.marketdata_fanout.grpc_roles import bare_server, grpc_client
from bench.marketdata_fanout.orchestrator import orchestrate
from bench.marketdata_fanout.socketio_roles import socketio_client, socketio_server


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.marketdata_fanout",
        description=sys.modules["bench.marketdata_fanout"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--role", default="orchestrate")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument("--symbols-per-stream", dest="symbols_per_stream", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=500, help="instruments in the universe (default 500)")
    parser.add_argument("--ticks-per-second", type=float, default=2000.0)
    parser.add_argument("--burstiness", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (default 30)")
    parser.add_argument("--setup", type=float, default=15.0, help="seconds to open streams before the window")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds after the feed stops before the check")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8, help="gRPC channels per client process")
    parser.add_argument("--sample-every", type=int, default=4, help="latency from 1 message in N")
    parser.add_argument("--idle-streams", type=int, default=1000)
    parser.add_argument("--idle-setup", type=float, default=8.0)
    parser.add_argument("--variants", nargs="+", default=["service", "bare", "socketio"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--replicas", type=int, default=1, help="market-data replica processes sharing the port (default 1)"
    )
    # Child-role options.
    for name in ("target", "token", "out", "universe", "truth", "redis-url"):
        parser.add_argument(f"--{name}", default="")
    parser.add_argument(
        "--rate", type=int, default=0, help="max_updates_per_second asked by gRPC streams (0 = server default 8)"
    )
    for name in ("port", "first", "last", "per-stream"):
        parser.add_argument(f"--{name}", type=int, default=0)
    for name in ("start", "stop-at"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "orchestrate":
        try:
            asyncio.run(orchestrate(args))
        except BaseException:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        return
    if args.role in ("bare-server", "socketio-server"):
        # The feed runs until `<truth>.stop` appears (the orchestrator's window end).
        stop_file = Path(args.truth + ".stop")
        args.stop_at = float("inf")

        async def watch() -> None:
            while not stop_file.exists():
                await asyncio.sleep(0.05)
            args.stop_at = 0.0

        async def run() -> None:
            watcher = asyncio.create_task(watch())
            await (bare_server(args) if args.role == "bare-server" else socketio_server(args))
            watcher.cancel()

        asyncio.run(run())
        return
    if args.role == "grpc-client":
        asyncio.run(grpc_client(args))
    elif args.role == "socketio-client":
        asyncio.run(socketio_client(args))
