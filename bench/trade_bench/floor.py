"""The floor: a no-op call through the trade service's runtime, timed beside the driver's own round trip."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2

from bench.trade_bench.measure import _percentile, _timed


async def _floor(
    channel: aio.Channel, metadata: list[tuple[str, str]], samples: int, query: Callable[[], Awaitable[Any]]
) -> tuple[list[float], list[float], list[float]]:
    """Time what gRPC in Python costs with none of the service's work.

    Our stack: grpc.health.v1.Health/Check on the trade server, with the bench's bearer token (the
    same interceptors as ListTrades: access log, errors, token check). Bare: `grpc.aio.server()`
    without interceptors echoing an empty message, in this process like the trade server. Bare +
    query: the same bare server whose handler runs the driver's first-page query and answers an empty
    message (no mapping, no interceptors): gRPC's own share of the gap. All from this process's event
    loop, as ListTrades and the driver's query are.
    """
    health_check: aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse] = (
        channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
    )
    check = health_pb2.HealthCheckRequest(service="")
    bare = aio.server()

    async def echo(request: bytes, context: object) -> bytes:
        return request

    async def find(request: bytes, context: object) -> bytes:
        await query()
        return b""

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Find": grpc.unary_unary_rpc_method_handler(find),
    }
    bare.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", handlers),))
    port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    bare_channel = aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        call: aio.UnaryUnaryMultiCallable[bytes, bytes] = bare_channel.unary_unary("/bench.Echo/Echo")
        call_find: aio.UnaryUnaryMultiCallable[bytes, bytes] = bare_channel.unary_unary("/bench.Echo/Find")

        async def ours() -> None:
            await health_check(check, metadata=metadata)

        async def plain() -> None:
            await call(b"")

        async def wrapped() -> None:
            await call_find(b"")

        for _ in range(50):  # warm-up
            await ours()
            await plain()
            await wrapped()
        return await _timed(ours, samples), await _timed(plain, samples), await _timed(wrapped, samples)
    finally:
        await bare_channel.close()
        await bare.stop(0)


def _print_floor(floor: tuple[list[float], list[float], list[float]], driver: list[float]) -> None:
    ours, bare, wrapped = floor
    d50, d99 = statistics.median(driver), _percentile(driver, 0.99)
    for name, values in (
        ("no-op RPC, our stack", ours),
        ("no-op RPC, bare grpc.aio", bare),
        ("bare grpc.aio + driver query", wrapped),
    ):
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        print(
            f"{name:<30} {p50:>10.2f} {p99:>10.2f}   "
            f"(vs the driver's first page: p50 {p50 - d50:+.2f} ms, p99 {p99 / d99:.2f}x)"
        )
