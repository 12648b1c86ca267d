"""`make up` supervises its children: one killed with SIGKILL comes back, the mesh works again, the launcher stays.

One mesh (``python -m trademesh.devstack.up`` on free ports, as ``tests/client_mesh.py`` starts it) for the
module; each test kills one of its children for real and waits, with a deadline, until it is back.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.client_mesh import PASSWORD, RunningMesh, new_username, start_mesh
from tests.eventually import eventually
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.stack import SERVICES
from trademesh.devstack.up import RestartBackoff, check_health, check_http_ready
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: Generous: the deadline only matters when something is broken (a restart takes a few seconds).
RECOVERY_SECONDS = 60.0
_ROW = re.compile(r"^  (?P<name>\S+) +(?P<address>\S+) +(?P<pid>\d+) +(?P<health>\S+) +(?P<log>\S+)$", re.MULTILINE)
_RESTART = re.compile(
    r"(?P<name>\S+) \(pid (?P<pid>\d+)\) exited unexpectedly \((?P<reason>[^)]*)\); "
    r"restart attempt (?P<attempt>\d+) in (?P<delay>[\d.]+)s"
)
#: The launcher's children by what they run: ``python -m <module>`` or the binary's name.
_BY_MODULE = {spec.module: spec.name for spec in SERVICES}
_BY_BINARY = {"redis-server": "redis", "ferretdb": "ferretdb", "envoy": "gateway"}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    mesh = start_mesh(tmp_path_factory.mktemp("supervised"))
    try:
        yield mesh
    finally:
        leftovers = list(_children(mesh.process.pid).values())
        mesh.stop()
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _summary(mesh: RunningMesh) -> dict[str, str]:
    """Return each component's address from the launcher's summary."""
    return {row["name"]: row["address"] for row in _ROW.finditer("".join(mesh.output)) if row["name"] != "COMPONENT"}


def _children(launcher: int) -> dict[str, int]:
    """Return the launcher's live child processes by component name."""
    found: dict[str, int] = {}
    for children in Path(f"/proc/{launcher}/task").glob("*/children"):
        try:
            pids = [int(pid) for pid in children.read_text().split()]
        except OSError:  # the launcher has exited
            continue
        for pid in pids:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if "-m" in argv[:-1]:
                name = _BY_MODULE.get(argv[argv.index("-m") + 1])
            else:  # Redis rewrites its command line to "<binary> <address>"
                name = _BY_BINARY.get(Path(argv[0].split(" ")[0]).name)
            if name is not None and _alive(pid):
                found[name] = pid
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(mesh: RunningMesh, name: str) -> int:
    """SIGKILL one child of the launcher; return its PID."""
    pid = _children(mesh.process.pid)[name]
    os.kill(pid, signal.SIGKILL)
    return pid


def _launcher_tail(mesh: RunningMesh) -> Callable[[], str]:
    """The launcher's last output lines, for a failed wait's message."""
    return lambda: "".join(mesh.output[-80:])


async def _replaced(mesh: RunningMesh, name: str, old_pid: int) -> None:
    """Wait until the launcher runs a new process for ``name``."""

    async def check() -> bool:
        return _children(mesh.process.pid).get(name, old_pid) != old_pid

    await eventually(
        check, within=RECOVERY_SECONDS, interval=0.1, what=f"{name} restarted", details=_launcher_tail(mesh)
    )


def _restarts(mesh: RunningMesh, name: str) -> list[re.Match[str]]:
    return [match for match in _RESTART.finditer("".join(mesh.output)) if match["name"] == name]


async def _every_component_serving(mesh: RunningMesh) -> None:
    addresses = _summary(mesh)

    async def check() -> bool:
        statuses = await asyncio.gather(
            *(
                asyncio.to_thread(check_health, address)
                for name, address in addresses.items()
                if name not in ("redis", "ferretdb", "gateway", "fake-kite", "mail", "push", "sms")
            ),
            asyncio.to_thread(check_http_ready, f"http://{addresses['fake-kite']}/__fake/ready"),
            asyncio.to_thread(check_http_ready, f"http://{addresses['mail']}/ready"),
            asyncio.to_thread(check_http_ready, f"http://{addresses['push']}/ready"),
            asyncio.to_thread(check_http_ready, f"http://{addresses['sms']}/__fake/ready"),
        )
        return all(status == "SERVING" for status in statuses) and await _gateway_answers(mesh)

    await eventually(
        check, within=RECOVERY_SECONDS, interval=0.1, what="every service SERVING", details=_launcher_tail(mesh)
    )


def _channel(address: str) -> aio.Channel:
    # A fresh subchannel each time: no reconnect backoff carried over from the outage.
    return aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


async def _register(mesh: RunningMesh) -> tuple[str, str]:
    """Register a fresh user through the gateway (auth: MongoDB and Redis); return the username and token."""
    username = new_username()
    async with _channel(mesh.gateway) as channel:
        response = await auth_service_pb2_grpc.AuthServiceStub(channel).Register(
            auth_service_pb2.RegisterRequest(email=f"{username}@example.com", username=username, password=PASSWORD),
            timeout=5,
        )
    return username, response.tokens.access_token


async def _gateway_answers(mesh: RunningMesh) -> bool:
    try:
        async with _channel(mesh.gateway) as channel:
            await auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest(), timeout=2)
    except grpc.RpcError:
        return False
    return True


async def _mesh_works(mesh: RunningMesh) -> bool:
    """Register, log in and list trades through the gateway: auth, trade, MongoDB and Redis all answer."""
    try:
        username, token = await _register(mesh)
        async with _channel(mesh.gateway) as channel:
            login = await auth_service_pb2_grpc.AuthServiceStub(channel).Login(
                auth_service_pb2.LoginRequest(login=username, password=PASSWORD), timeout=5
            )
            assert login.tokens.access_token
            trades = await trade_service_pb2_grpc.TradeServiceStub(channel).ListTrades(
                trade_service_pb2.ListTradesRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=5
            )
    except grpc.RpcError:
        return False
    return not trades.trades


def test_restart_delays_double_up_to_the_cap_and_start_afresh_after_a_long_run() -> None:
    backoff = RestartBackoff(first=0.5, cap=30.0, reset_after=60.0)
    delays = [backoff.next_delay(uptime=1.0) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.attempt == 9
    assert backoff.next_delay(uptime=61.0) == 0.5  # it had stayed up: a fresh start
    assert backoff.attempt == 1


async def test_a_killed_redis_comes_back_on_its_port_and_the_services_use_it_again(mesh: RunningMesh) -> None:
    url = _summary(mesh)["redis"]
    old = _kill(mesh, "redis")
    await _replaced(mesh, "redis", old)

    async def pong() -> bool:
        client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(await client.ping())
        except RedisError:
            return False
        finally:
            await client.aclose()

    await eventually(
        pong,
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="Redis answers PING on its old port",
        details=_launcher_tail(mesh),
    )
    # auth keeps refresh sessions and login throttles in Redis: registering and logging in need it.
    await eventually(
        lambda: _mesh_works(mesh),
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="register, login and ListTrades through the gateway",
        details=_launcher_tail(mesh),
    )
    await _every_component_serving(mesh)
    assert mesh.process.poll() is None, "the launcher exited"
    [restart] = _restarts(mesh, "redis")
    assert (restart["pid"], restart["reason"], restart["attempt"], restart["delay"]) == (
        str(old),
        "signal SIGKILL",
        "1",
        "0.5",
    )


async def test_a_killed_ferretdb_comes_back_with_its_data_and_the_services_use_it_again(mesh: RunningMesh) -> None:
    url = _summary(mesh)["ferretdb"]
    username, _ = await _register(mesh)
    old = _kill(mesh, "ferretdb")
    await _replaced(mesh, "ferretdb", old)

    async def ping() -> bool:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url, serverSelectionTimeoutMS=1000)
        try:
            await client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            await client.close()
        return True

    async def login_of_the_earlier_user() -> bool:
        try:
            async with _channel(mesh.gateway) as channel:
                await auth_service_pb2_grpc.AuthServiceStub(channel).Login(
                    auth_service_pb2.LoginRequest(login=username, password=PASSWORD), timeout=5
                )
        except grpc.RpcError:
            return False
        return True

    await eventually(
        ping,
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="FerretDB answers ping on its old port",
        details=_launcher_tail(mesh),
    )
    # The same data directory: the user registered before the crash is still there.
    await eventually(
        login_of_the_earlier_user,
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="login of a user registered before the crash",
        details=_launcher_tail(mesh),
    )
    await eventually(
        lambda: _mesh_works(mesh),
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="register, login and ListTrades through the gateway",
        details=_launcher_tail(mesh),
    )
    await _every_component_serving(mesh)
    assert mesh.process.poll() is None, "the launcher exited"
    assert [restart["attempt"] for restart in _restarts(mesh, "ferretdb")] == ["1"]


@pytest.mark.parametrize("name", ["trade", "gateway", "fake-kite"])
async def test_a_killed_service_comes_back_serving_and_answers_again(mesh: RunningMesh, name: str) -> None:
    old = _kill(mesh, name)
    await _replaced(mesh, name, old)
    await _every_component_serving(mesh)
    await eventually(
        lambda: _mesh_works(mesh),
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="register, login and ListTrades through the gateway",
        details=_launcher_tail(mesh),
    )
    assert mesh.process.poll() is None, "the launcher exited"
    assert any(restart["pid"] == str(old) for restart in _restarts(mesh, name))

    async def logged_back() -> bool:  # the launcher notices within its next poll
        return f"{name} is SERVING again" in "".join(mesh.output)

    await eventually(
        logged_back,
        within=RECOVERY_SECONDS,
        interval=0.1,
        what=f"the launcher logs {name} SERVING again",
        details=_launcher_tail(mesh),
    )


async def test_a_service_that_dies_again_at_once_waits_twice_as_long(mesh: RunningMesh) -> None:
    first = _kill(mesh, "analytics")
    await _replaced(mesh, "analytics", first)
    second = _kill(mesh, "analytics")  # before it had a chance to stay up: the backoff goes on
    await _replaced(mesh, "analytics", second)
    await _every_component_serving(mesh)
    restarts = {int(restart["pid"]): restart for restart in _restarts(mesh, "analytics")}
    assert int(restarts[second]["attempt"]) == int(restarts[first]["attempt"]) + 1
    assert float(restarts[second]["delay"]) == 2 * float(restarts[first]["delay"])
    assert mesh.process.poll() is None, "the launcher exited"


async def test_ctrl_c_after_restarts_still_stops_everything_and_exits_zero(mesh: RunningMesh) -> None:
    children = _children(mesh.process.pid)
    assert set(children) >= {"redis", "ferretdb", "auth", "trade", "gateway", "fake-kite"}
    mesh.process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(mesh.process.wait, 60) == 0, "".join(mesh.output[-80:])

    async def last_line_read() -> bool:
        return "everything stopped" in "".join(mesh.output[-3:])

    await eventually(
        last_line_read,
        within=RECOVERY_SECONDS,
        interval=0.1,
        what="the launcher's last line",
        details=_launcher_tail(mesh),
    )
    output = "".join(mesh.output)
    # Services first (the gateway, started last, stops first), the databases they use last.
    order = [output.rindex(f"stopping {name} (pid {children[name]})") for name in ("gateway", "ferretdb", "redis")]
    assert order == sorted(order)
    assert not [name for name, pid in children.items() if _alive(pid)]
