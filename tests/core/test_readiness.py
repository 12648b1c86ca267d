"""Readiness follows the real dependencies: a service's health name turns NOT_SERVING while its Redis or
database is down (or hung) past the threshold and SERVING when it is back; liveness ("") stays SERVING."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2

from tests.eventually import eventually
from tests.rpc import health_status
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.core.server import ServiceHost
from trademesh.services.trade.server import SERVICE_NAME, build_trade_server
from trademesh.services.trade.settings import TradeSettings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "private-redis") as server:
        yield server


@pytest.fixture
async def trade_host(
    core_settings: Callable[..., dict[str, Any]], private_redis: RedisServer, restartable_database: FerretDBServer
) -> AsyncIterator[tuple[ServiceHost, aio.Channel]]:
    settings = TradeSettings(
        **core_settings(
            redis_url=private_redis.url,
            mongo_url=restartable_database.url,
            readiness_failure_seconds=0.5,
            readiness_check_interval_seconds=0.2,
            dependency_timeout_seconds=1.0,
        )
    )
    host = await build_trade_server(settings)
    channel = aio.insecure_channel(f"127.0.0.1:{host.port}")
    yield host, channel
    await channel.close()
    await host.stop(0)


def _status_is(channel: aio.Channel, name: str, wanted: int) -> Callable[[], Any]:
    async def check() -> bool:
        return await health_status(channel, name, timeout=2) == wanted

    return check


async def test_readiness_follows_redis_and_liveness_stays(
    trade_host: tuple[ServiceHost, aio.Channel], private_redis: RedisServer
) -> None:
    _, channel = trade_host
    assert await health_status(channel, SERVICE_NAME) == SERVING

    private_redis.kill()
    try:
        await eventually(_status_is(channel, SERVICE_NAME, NOT_SERVING), within=20)
        assert await health_status(channel, "") == SERVING
    finally:
        private_redis.restart()

    await eventually(_status_is(channel, SERVICE_NAME, SERVING), within=20)


async def test_readiness_follows_a_hung_database(
    trade_host: tuple[ServiceHost, aio.Channel], restartable_database: FerretDBServer
) -> None:
    _, channel = trade_host
    assert await health_status(channel, SERVICE_NAME) == SERVING
    pid = restartable_database.pid
    assert pid is not None

    # SIGSTOP: the database accepts connections but never answers, as in the incident (a hang, not a refusal).
    os.kill(pid, signal.SIGSTOP)
    try:
        await eventually(_status_is(channel, SERVICE_NAME, NOT_SERVING), within=20)
        assert await health_status(channel, "") == SERVING
    finally:
        os.kill(pid, signal.SIGCONT)

    await eventually(_status_is(channel, SERVICE_NAME, SERVING), within=20)


async def test_shutdown_is_not_serving_everywhere(trade_host: tuple[ServiceHost, aio.Channel]) -> None:
    host, channel = trade_host
    assert host.readiness is not None
    assert host.readiness.ready

    await host.health.enter_graceful_shutdown()

    assert await health_status(channel, SERVICE_NAME) == NOT_SERVING
    assert await health_status(channel, "") == NOT_SERVING
    # A later passing check must not undo the shutdown.
    assert await host.readiness.check_once()
    assert await health_status(channel, SERVICE_NAME) == NOT_SERVING
