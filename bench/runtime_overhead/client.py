"""The client role: authenticated calls at a fixed concurrency, timed."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
from grpc import aio

from bench.runtime_overhead.common import (
    BENCH_PASSWORD,
    CALL_TIMEOUT_SECONDS,
    ECHO_METHOD,
    SERVER_READY_SECONDS,
    ClientResult,
    percentile,
    process_cpu_seconds,
)
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc


def build_call(channel: aio.Channel, args: argparse.Namespace) -> Callable[[], Awaitable[object]]:
    """Return a zero-argument coroutine factory making one call of the benchmarked kind."""
    if args.call == "login":
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        request = auth_service_pb2.LoginRequest(login=args.login_user, password=BENCH_PASSWORD)

        def login() -> Awaitable[object]:
            return stub.Login(request, timeout=CALL_TIMEOUT_SECONDS)

        return login

    echo: aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(ECHO_METHOD)
    payload = b"\xab" * args.payload_bytes
    metadata = aio.Metadata(("authorization", f"Bearer {args.token}"))

    def call() -> Awaitable[object]:
        return echo(payload, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)

    return call


async def register_user(channel: aio.Channel, username: str) -> None:
    """Create the user the Login benchmark logs in as."""
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    await stub.Register(
        auth_service_pb2.RegisterRequest(email=f"{username}@example.com", username=username, password=BENCH_PASSWORD),
        timeout=CALL_TIMEOUT_SECONDS * 3,
    )


async def run_client(args: argparse.Namespace) -> ClientResult:
    """Drive `concurrency` callers for warm-up + measurement; keep latencies finished inside the window."""
    async with aio.insecure_channel(args.target) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=SERVER_READY_SECONDS)
        if args.call == "login":
            await register_user(channel, args.login_user)
        call = build_call(channel, args)
        start = time.perf_counter_ns()
        window_start = start + int(args.warmup * 1e9)
        window_end = window_start + int(args.seconds * 1e9)
        latencies: list[int] = []
        errors: list[str] = []
        cpu: dict[str, float | None] = {}

        async def caller() -> None:
            while True:
                began = time.perf_counter_ns()
                if began >= window_end:
                    return
                try:
                    await call()
                except grpc.RpcError as error:
                    errors.append(
                        f"{error.code().name}: {error.details()}" if isinstance(error, aio.AioRpcError) else repr(error)
                    )
                    await asyncio.sleep(0.01)  # a failing server must not turn this into a busy loop
                    continue
                ended = time.perf_counter_ns()
                if window_start <= ended <= window_end:
                    latencies.append(ended - began)

        async def sample_cpu() -> None:
            await asyncio.sleep(max(0.0, (window_start - time.perf_counter_ns()) / 1e9))
            cpu["client_start"] = time.process_time()
            cpu["server_start"] = process_cpu_seconds(args.server_pid)
            await asyncio.sleep(max(0.0, (window_end - time.perf_counter_ns()) / 1e9))
            cpu["client_end"] = time.process_time()
            cpu["server_end"] = process_cpu_seconds(args.server_pid)

        tasks = [asyncio.create_task(caller()) for _ in range(args.concurrency)]
        tasks.append(asyncio.create_task(sample_cpu()))
        # Bounded: callers stop issuing at window_end; one call can take at most CALL_TIMEOUT_SECONDS more.
        _, pending = await asyncio.wait(tasks, timeout=args.warmup + args.seconds + CALL_TIMEOUT_SECONDS + 5)
        for task in pending:
            task.cancel()

    latencies.sort()
    calls = len(latencies)
    client_cpu = _delta(cpu.get("client_start"), cpu.get("client_end"))
    server_cpu = _delta(cpu.get("server_start"), cpu.get("server_end"))
    return ClientResult(
        variant=args.variant,
        concurrency=args.concurrency,
        seconds=args.seconds,
        calls=calls,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        requests_per_second=calls / args.seconds,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p90_ms=percentile(latencies, 0.90) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        max_ms=(latencies[-1] / 1e6) if latencies else 0.0,
        client_cpu_us_per_call=(client_cpu / calls * 1e6) if client_cpu is not None and calls else None,
        server_cpu_us_per_call=(server_cpu / calls * 1e6) if server_cpu is not None and calls else None,
        client_cpu_percent=100 * (client_cpu or 0.0) / args.seconds,
        server_cpu_percent=(100 * server_cpu / args.seconds) if server_cpu is not None else None,
    )


def _delta(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start
