"""The command line: a role (client or server) per process, the orchestrator by default."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict

from bench.runtime_overhead.client import run_client
from bench.runtime_overhead.common import VARIANTS
from bench.runtime_overhead.orchestrator import orchestrate
from bench.runtime_overhead.report import print_report
from bench.runtime_overhead.servers import (
    quiet_production_logging,
    run_auth_server,
    run_bare_server,
    run_runtime_server,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime_overhead",
        description=sys.modules["bench.runtime_overhead"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (default 32)")
    parser.add_argument("--login-concurrency", type=int, default=0, help="callers for Login (default: --concurrency)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per variant (default 2)")
    parser.add_argument("--payload-bytes", type=int, default=256, help="Echo request/response size (default 256)")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="server variants to run (default all)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the server variants, interleaved; report the median (default 1)"
    )
    parser.add_argument("--skip-login", action="store_true", help="do not run the Login benchmark")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    # Internal: the server and client processes are this script with --role.
    internal = parser.add_argument_group("internal (child processes)")
    internal.add_argument("--role", choices=("orchestrate", "server", "client"), default="orchestrate")
    internal.add_argument("--variant", choices=(*VARIANTS, "login"), default="bare")
    internal.add_argument("--call", choices=("echo", "login"), default="echo")
    internal.add_argument("--target", default="")
    internal.add_argument("--server-pid", type=int, default=0)
    internal.add_argument("--token", default="")
    internal.add_argument("--login-user", default="")
    internal.add_argument("--redis-url", default="")
    internal.add_argument("--mongo-url", default="")
    internal.add_argument("--key-file", default="")
    internal.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.rounds < 1 or args.seconds <= 0 or args.warmup < 0 or args.payload_bytes < 0:
        parser.error("--concurrency and --rounds must be >= 1, --seconds > 0, --warmup >= 0, --payload-bytes >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "server":
        if args.variant == "bare":
            asyncio.run(run_bare_server(args))
            return 0
        runner = run_auth_server if args.variant == "login" else run_runtime_server
        with open(os.devnull, "w") as sink:
            quiet_production_logging("auth" if args.variant == "login" else "bench", sink)
            asyncio.run(runner(args))
        return 0
    if args.role == "client":
        result = asyncio.run(run_client(args))
        sys.stdout.write(json.dumps(asdict(result)) + "\n")
        return 0

    # SIGTERM → SystemExit, so the `finally`/`with` blocks stop every child process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    outcome = orchestrate(args)
    print_report(args, outcome)
    return 0
