"""Readiness follows the real dependencies: a service's health name turns NOT_SERVING while its Redis or
database has failed (refused, an error) past TRADEMESH_READINESS_FAILURE_SECONDS or shown no sign of life
past TRADEMESH_READINESS_HUNG_SECONDS, and SERVING when it is back; a slow dependency that still answers,
or whose real traffic succeeds, stays ready; liveness ("") stays SERVING.

The rule is tested on scripted dependencies and an injected clock (no waiting); the classification of
real client errors against a closed port and a port that never answers; the whole path against real
Redis and FerretDB processes that are killed or frozen.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grpc import aio
from grpc_health.v1 import health, health_pb2

from tests.conftest import DatabaseServer
from tests.eventually import eventually
from tests.rpc import health_status
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.core.connections import build_mongo, build_redis, required_dependencies
from trademesh.services.core.readiness import CheckOutcome, Dependency, ReadinessMonitor
from trademesh.services.core.server import ServiceHost
from trademesh.services.core.settings import CoreSettings
from trademesh.services.trade.server import SERVICE_NAME, build_trade_server
from trademesh.services.trade.settings import TradeSettings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FAILURE_SECONDS = 10.0
HUNG_SECONDS = 90.0
INTERVAL_SECONDS = 2.0


@dataclass
class Clock:
    """The monitor's clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedDependency:
    """A dependency whose next check answers, runs out of time or is refused, as the test says."""

    outcome: CheckOutcome = CheckOutcome.ANSWERED
    #: When (on the test's clock) real traffic last succeeded.
    traffic: float | None = None

    async def check(self) -> None:
        if self.outcome is CheckOutcome.NO_ANSWER:
            raise TimeoutError  # what wait_for raises when the ping is still waiting at the timeout
        if self.outcome is CheckOutcome.FAILED:
            raise ConnectionRefusedError(111, "Connection refused")

    def dependency(self) -> Dependency:
        return Dependency("database", self.check, last_success=lambda: self.traffic)


def _monitor(clock: Clock, scripted: ScriptedDependency) -> ReadinessMonitor:
    return ReadinessMonitor(
        health.aio.HealthServicer(),
        ["trademesh.test.v1.TestService"],
        [scripted.dependency()],
        failure_seconds=FAILURE_SECONDS,
        hung_seconds=HUNG_SECONDS,
        interval_seconds=INTERVAL_SECONDS,
        timeout_seconds=1.0,
        clock=clock,
    )


async def _ready_over(
    monitor: ReadinessMonitor, clock: Clock, seconds: float, scripted: ScriptedDependency
) -> list[bool]:
    """Run the checks of ``seconds`` of the clock, one per interval; real traffic, if any, just succeeded each time."""
    results = []
    end = clock.now + seconds
    while clock.now < end:
        clock.now += INTERVAL_SECONDS
        if scripted.traffic is not None:
            scripted.traffic = clock.now - 0.5
        results.append(await monitor.check_once())
    return results


def _ticks(start: float, results: list[bool]) -> list[float]:
    return [start + INTERVAL_SECONDS * (index + 1) for index in range(len(results))]


async def test_a_slow_dependency_that_still_answers_stays_ready() -> None:
    clock, scripted = Clock(), ScriptedDependency()
    monitor = _monitor(clock, scripted)
    assert await monitor.check_once()

    # Busy: pings miss their timeout for far longer than the failure threshold, but the hung one is not reached.
    scripted.outcome = CheckOutcome.NO_ANSWER
    assert all(await _ready_over(monitor, clock, HUNG_SECONDS - 2 * INTERVAL_SECONDS, scripted))
    # One ping gets through: alive, and the hung clock starts again.
    scripted.outcome = CheckOutcome.ANSWERED
    assert await monitor.check_once()
    scripted.outcome = CheckOutcome.NO_ANSWER
    assert all(await _ready_over(monitor, clock, HUNG_SECONDS - 2 * INTERVAL_SECONDS, scripted))


async def test_real_traffic_that_succeeds_keeps_a_dependency_ready_while_its_pings_time_out() -> None:
    clock, scripted = Clock(), ScriptedDependency()
    monitor = _monitor(clock, scripted)
    # A bulk load: the pings wait behind it for ten minutes, its own inserts keep succeeding.
    scripted.outcome, scripted.traffic = CheckOutcome.NO_ANSWER, clock.now
    assert all(await _ready_over(monitor, clock, 600.0, scripted))
    assert monitor.states["database"].alive_at == clock.now - 0.5


async def test_a_refused_dependency_goes_not_ready_after_the_threshold_and_comes_back() -> None:
    clock, scripted = Clock(), ScriptedDependency()
    monitor = _monitor(clock, scripted)
    assert await monitor.check_once()

    scripted.outcome = CheckOutcome.FAILED
    failed_at = clock.now
    readiness = await _ready_over(monitor, clock, FAILURE_SECONDS + INTERVAL_SECONDS, scripted)
    # Ready while the failure is younger than the threshold, not ready from then on.
    assert readiness == [
        clock_at - failed_at < FAILURE_SECONDS + INTERVAL_SECONDS for clock_at in _ticks(failed_at, readiness)
    ]
    assert not monitor.ready
    # Still down while it keeps failing or merely times out: no sign of life since the failure.
    scripted.outcome = CheckOutcome.NO_ANSWER
    assert not any(await _ready_over(monitor, clock, 3 * INTERVAL_SECONDS, scripted))

    scripted.outcome = CheckOutcome.ANSWERED
    assert await monitor.check_once()
    assert monitor.ready


async def test_real_traffic_after_a_failed_check_ends_the_failure() -> None:
    clock, scripted = Clock(), ScriptedDependency(outcome=CheckOutcome.FAILED)
    monitor = _monitor(clock, scripted)
    assert await monitor.check_once()
    clock.now += FAILURE_SECONDS
    scripted.traffic = clock.now - 1.0  # a query succeeded after the first failed check
    assert await monitor.check_once()
    assert monitor.states["database"].failing_since is not None  # this check failed again: a new failure
    clock.now += FAILURE_SECONDS
    assert not await monitor.check_once()


async def test_a_hung_dependency_goes_not_ready_after_the_hung_threshold() -> None:
    clock, scripted = Clock(), ScriptedDependency()
    monitor = _monitor(clock, scripted)
    assert await monitor.check_once()
    last_answer = clock.now

    # Accepts connections, answers nothing, and nothing else succeeds either (issue 15).
    scripted.outcome = CheckOutcome.NO_ANSWER
    readiness = await _ready_over(monitor, clock, HUNG_SECONDS + INTERVAL_SECONDS, scripted)
    assert readiness == [at - last_answer < HUNG_SECONDS for at in _ticks(last_answer, readiness)]
    assert readiness[-1] is False
    assert not monitor.ready

    scripted.outcome = CheckOutcome.ANSWERED
    assert await monitor.check_once()


def _silent_port() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers (the kernel completes the handshake)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, listener.getsockname()[1]


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


async def _outcomes(mongo_url: str, redis_url: str) -> dict[str, CheckOutcome]:
    settings = CoreSettings(mongo_url=mongo_url, redis_url=redis_url, dependency_timeout_seconds=0.3)
    mongo, redis = build_mongo(settings), build_redis(settings)
    try:
        monitor = ReadinessMonitor(
            health.aio.HealthServicer(),
            ["trademesh.test.v1.TestService"],
            required_dependencies(mongo, redis),
            failure_seconds=FAILURE_SECONDS,
            hung_seconds=HUNG_SECONDS,
            interval_seconds=INTERVAL_SECONDS,
            timeout_seconds=2.0,  # longer than the clients' own timeouts: their errors are what is classified
        )
        await monitor.check_once()
        return {name: state.outcome for name, state in monitor.states.items()}
    finally:
        await mongo.close()
        await redis.aclose()


async def test_real_clients_tell_a_refused_connection_from_no_answer() -> None:
    closed = _closed_port()
    assert await _outcomes(f"mongodb://127.0.0.1:{closed}/", f"redis://127.0.0.1:{closed}/0") == {
        "mongodb": CheckOutcome.FAILED,
        "redis": CheckOutcome.FAILED,
    }
    listener, silent = _silent_port()
    with listener:
        assert await _outcomes(f"mongodb://127.0.0.1:{silent}/", f"redis://127.0.0.1:{silent}/0") == {
            "mongodb": CheckOutcome.NO_ANSWER,
            "redis": CheckOutcome.NO_ANSWER,
        }


async def test_successful_queries_of_the_service_are_signs_of_life(
    database_server: DatabaseServer, redis_server: RedisServer
) -> None:
    settings = CoreSettings(
        mongo_url=database_server.url,
        mongo_database=database_server.new_database_name(),
        redis_url=redis_server.url,
    )
    mongo, redis = build_mongo(settings), build_redis(settings)
    try:
        database, _ = required_dependencies(mongo, redis)
        before = database.last_success()
        await mongo[settings.mongo_database]["things"].insert_one({"n": 1})
        after = database.last_success()
        assert after is not None
        assert before is None or after > before
    finally:
        await mongo.close()
        await redis.aclose()


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
            readiness_hung_seconds=2.0,
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

    # SIGSTOP: the database accepts connections but never answers, as in the incident (a hang, not a refusal):
    # NOT_SERVING once it has shown no sign of life for the hung threshold (2 s here).
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
