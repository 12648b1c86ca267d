"""ImportTrades of a large Zerodha tradebook, directly against the trade service and through the Envoy gateway.

The gateway ends a unary call at its route's timeout (15 s by default); ImportTrades has a longer one of
its own, ``IMPORT_TIMEOUT_SECONDS`` in ``trademesh.gateway.mesh`` (decision 0030). This measures what that
timeout must cover: a ``--rows`` (50,000) row Zerodha equity tradebook, in the layout of
``tests/trade/data/zerodha_tradebook_eq.csv``, imported in one call by a fresh user into an empty journal —
once straight to the trade service and once through Envoy (native gRPC over h2c, the CLI's and SDK's path),
``--rounds`` times, alternating. The client's deadline is the route timeout, so a gateway that cut the call
short would show up as DEADLINE_EXCEEDED, not as a slow figure.

Starts private Redis and FerretDB (SQLite, as ``make up``), the auth service in this process, the trade
service in its own process (restarted on an empty database before every import: FerretDB scans
collections, so a journal left by one import would slow the next one down, decision 0015), and Envoy from
the generated bootstrap with the real catalog's route timeouts.

    .venv/bin/python bench/import_bench.py                    # 50,000 rows, one round each way
    .venv/bin/python bench/import_bench.py --rows 5000 --rounds 3

Printed: rows, file size, seconds and rows/s per import; then the slowest import scaled linearly to the
largest file the contract allows (100,000 rows) against the route timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import TradeProcess, private_stack, trade_env, wait_serving
from trademesh.devstack.processes import find_free_port
from trademesh.devstack.tradebooks import zerodha_tradebook
from trademesh.gateway.envoy_config import HEALTH_SERVICE_HEADER, write_bootstrap
from trademesh.gateway.mesh import Endpoint, build_mesh
from trademesh.gateway.runner import EnvoyProcess
from trademesh.trade.v1 import import_pb2, trade_service_pb2, trade_service_pb2_grpc

#: The most data rows one ImportTrades call may carry (trade_service.proto, reason TOO_MANY_ROWS).
CONTRACT_MAX_ROWS = 100_000
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    """One import."""

    path: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Throughput of the import."""
        return self.rows / self.seconds


async def _import(address: str, token: str, content: bytes, deadline: float) -> tuple[int, float]:
    """Import ``content`` as a Zerodha tradebook at ``address``; return (rows created, seconds)."""
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    async with aio.insecure_channel(address, options=options) as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        request = trade_service_pb2.ImportTradesRequest(
            request_id=str(uuid.uuid4()),
            format=import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV,
            content=content,
            file_name="tradebook.csv",
        )
        started = time.perf_counter()
        response = await stub.ImportTrades(request, metadata=(("authorization", f"Bearer {token}"),), timeout=deadline)
        seconds = time.perf_counter() - started
    if response.rows_failed:
        raise RuntimeError(f"{response.rows_failed} rows failed: {list(response.row_errors)[:3]}")
    return response.rows_created, seconds


async def run(args: argparse.Namespace) -> int:
    """Start everything, import the tradebook both ways ``--rounds`` times, print the figures."""
    content = zerodha_tradebook(args.rows)
    print(f"Zerodha tradebook: {args.rows:,} rows, {len(content) / 2**20:.1f} MiB")
    async with private_stack("import-bench-") as stack:
        auth = stack.auth.host
        trade = TradeProcess(
            trade_env(stack.auth.target, stack.database.url, stack.redis.url),
            find_free_port(),
            stack.workdir / "trade.log",
        )
        mesh = build_mesh(
            {"auth": [Endpoint("127.0.0.1", auth.port)], "trade": [Endpoint("127.0.0.1", trade.port)]},
            [Endpoint("127.0.0.1", auth.extra_ports["jwks-http"])],
            listen=Endpoint("127.0.0.1", find_free_port()),
            admin=Endpoint("127.0.0.1", find_free_port()),
            health_check_interval_seconds=0.5,
        )
        route_timeout = next(s for s in mesh.services if s.name == "trade").unary_timeout("ImportTrades")
        envoy = EnvoyProcess(
            write_bootstrap(mesh, stack.workdir / "envoy.json"), mesh.admin, stack.workdir / "envoy.log"
        )
        measurements: list[Measurement] = []
        try:
            await asyncio.to_thread(envoy.start)
            targets = {"direct": f"127.0.0.1:{trade.port}", "gateway": str(mesh.listen)}
            for round_number in range(args.rounds):
                for path, address in targets.items():
                    await trade.restart(f"bench_import_{round_number}_{path}")
                    # Through the gateway too: Envoy has a connection to the new process and finds it SERVING.
                    await wait_serving(str(mesh.listen), metadata=((HEALTH_SERVICE_HEADER, "trade"),))
                    registered = await stack.auth.register()
                    created, seconds = await _import(address, registered.tokens.access_token, content, route_timeout)
                    if created != args.rows:
                        raise RuntimeError(f"{created:,} of {args.rows:,} rows created")
                    measurement = Measurement(path, args.rows, seconds)
                    measurements.append(measurement)
                    print(
                        f"  {path:<8} {args.rows:>8,} rows {seconds:8.1f} s {measurement.rows_per_second:>9,.0f} rows/s"
                    )
        finally:
            trade.stop()
            await asyncio.to_thread(envoy.stop)

    print()
    print(f"{'path':<8} {'rows':>8} {'median s':>9} {'max s':>7} {'rows/s':>8}")
    for path in ("direct", "gateway"):
        durations = [m.seconds for m in measurements if m.path == path]
        median = statistics.median(durations)
        print(f"{path:<8} {args.rows:>8,} {median:>9.1f} {max(durations):>7.1f} {args.rows / median:>8,.0f}")
    slowest = max(m.seconds for m in measurements)
    largest = slowest * CONTRACT_MAX_ROWS / args.rows
    print(
        f"ImportTrades route timeout {route_timeout:.0f} s; the largest file the contract allows "
        f"({CONTRACT_MAX_ROWS:,} rows) at the slowest rate here: ~{largest:.0f} s "
        f"({route_timeout / largest:.1f}x margin)"
    )
    return 0


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the generated Zerodha tradebook")
    parser.add_argument("--rounds", type=int, default=1, help="imports each way (direct, gateway), alternating")
    args = parser.parse_args()
    if not 1 <= args.rows <= CONTRACT_MAX_ROWS or args.rounds < 1:
        parser.error(f"--rows must be 1..{CONTRACT_MAX_ROWS:,} and --rounds at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
