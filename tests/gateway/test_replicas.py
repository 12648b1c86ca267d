"""Two auth replicas behind the real Envoy: round-robin spread, and a replica dying mid-run.

Each replica publishes one extra key in its JWKS, so every GetJwks answer names the replica that served
it — the count per replica is taken from the services' answers, and checked against Envoy's own stats.
The replica that dies runs in its own process and is killed (SIGKILL), as a crash or the OOM killer
would. The gateway retries an idempotent read only when it cannot have reached a service (connect
failure, refused stream): calls sent after the kill reach the survivor, while a call in flight at the kill
fails UNAVAILABLE and is not replayed by the edge — the SDK's retry policy (UNAVAILABLE, idempotent
methods, with backoff) sends it again (decision 0030).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
import pytest
from grpc import aio

from tests.eventually import eventually
from tests.gateway.conftest import AUTH_CLUSTER, Gateway, ServiceCalls, StartGateway, StartReplica
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.sdk import ClientOptions

CALLERS = 4


async def _register(stub: auth_service_pb2_grpc.AuthServiceAsyncStub) -> str:
    name = f"user_{uuid.uuid4().hex[:10]}"
    response = await stub.Register(
        auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password="Correct-Horse-42")
    )
    return response.tokens.access_token


async def test_calls_are_spread_over_two_replicas(auth_replicas: StartReplica, start_gateway: StartGateway) -> None:
    first = await auth_replicas("previous.pem")
    second = await auth_replicas("stranger.pem")
    gateway = await start_gateway({"auth": [first.endpoint, second.endpoint]}, [first.jwks])
    served: Counter[str] = Counter()
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        for _ in range(40):
            jwks = await stub.GetJwks(auth_service_pb2.GetJwksRequest())
            served[jwks.keys[1].kid] += 1
        # Authenticated reads are spread too (users live in the shared database).
        token = await _register(stub)
        for _ in range(20):
            await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=[("authorization", f"Bearer {token}")])
    assert set(served) == {first.marker, second.marker}
    # Round robin over two healthy replicas: an even split, give or take the health checker's timing.
    assert min(served.values()) >= 15, served
    hosts = {host.address: host for host in gateway.envoy.hosts(AUTH_CLUSTER)}
    assert len(hosts) == 2
    assert all(host.requests >= 20 for host in hosts.values()), hosts


def _host_stat(gateway: Gateway, address: str, name: str) -> int:
    """One per-host counter or gauge of ``AUTH_CLUSTER`` from Envoy's admin ``/clusters`` (e.g. ``rq_active``)."""
    _, body = gateway.envoy.admin_get("/clusters?format=json")
    for status in json.loads(body or "{}").get("cluster_statuses", []):
        if status.get("name") != AUTH_CLUSTER:
            continue
        for host in status.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            if f"{socket['address']}:{socket['port_value']}" == address:
                return sum(int(stat.get("value", 0)) for stat in host.get("stats", []) if stat["name"] == name)
    raise AssertionError(f"{address} is not a host of {AUTH_CLUSTER}")


@dataclass
class _Call:
    """One call of a caller: when it started and ended, and its status."""

    started: float
    ended: float
    method: str
    code: grpc.StatusCode


@dataclass
class _Run:
    """What the callers saw."""

    calls: list[_Call] = field(default_factory=list)
    #: (time, replica marker) of every GetJwks answer.
    answers: list[tuple[float, str]] = field(default_factory=list)

    @property
    def failures(self) -> list[_Call]:
        """The calls that did not succeed."""
        return [call for call in self.calls if call.code != grpc.StatusCode.OK]


async def test_a_replica_killed_mid_run_leaves_the_rotation_and_only_calls_in_flight_fail(
    auth_replicas: StartReplica, start_gateway: StartGateway
) -> None:
    survivor = await auth_replicas("previous.pem")
    victim = await auth_replicas("stranger.pem", own_process=True)
    gateway = await start_gateway({"auth": [survivor.endpoint, victim.endpoint]}, [survivor.jwks])
    run = _Run()
    stop = asyncio.Event()

    async def caller(channel: aio.Channel, token: str) -> None:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        metadata = [("authorization", f"Bearer {token}")]
        while not stop.is_set():
            for method in ("GetJwks", "GetMe"):
                started, code = time.monotonic(), grpc.StatusCode.OK
                try:
                    if method == "GetJwks":
                        jwks = await stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=5)
                        run.answers.append((time.monotonic(), jwks.keys[1].kid))
                    else:
                        await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata, timeout=5)
                except aio.AioRpcError as error:
                    code = error.code()
                run.calls.append(_Call(started, time.monotonic(), method, code))

    victim_address = str(victim.endpoint)
    async with gateway.channel() as channel:
        token = await _register(auth_service_pb2_grpc.AuthServiceStub(channel))
        tasks = [asyncio.create_task(caller(channel, token)) for _ in range(CALLERS)]
        try:
            await eventually(
                lambda: asyncio.to_thread(lambda: {m for _, m in run.answers} == {survivor.marker, victim.marker}),
                within=15,
                what="both replicas serving",
            )
            # Abruptly: the process dies, its in-flight calls are cut off and its connections reset.
            killed_at = time.monotonic()
            await asyncio.to_thread(victim.kill)
            # From here on a call Envoy sends to the dead replica needs a new connection, which is refused.
            await eventually(
                lambda: asyncio.to_thread(lambda: _host_stat(gateway, victim_address, "cx_active") == 0),
                within=15,
                what="Envoy to see its connections to the dead replica close",
            )
            disconnected_at = time.monotonic()
            await eventually(
                lambda: asyncio.to_thread(
                    lambda: any(
                        not host.healthy and "failed_active_health_check" in host.flags
                        for host in gateway.envoy.hosts(AUTH_CLUSTER)
                    )
                ),
                within=15,
                what="Envoy's health check to mark the dead replica",
            )
            noticed_at = time.monotonic()
            calls_when_noticed = len(run.calls)
            await eventually(
                lambda: asyncio.to_thread(lambda: len(run.calls) >= calls_when_noticed + 200),
                within=15,
                what="200 more calls",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    after_notice = [marker for at, marker in run.answers if at > noticed_at]
    assert after_notice
    assert set(after_notice) == {survivor.marker}
    assert any(at > killed_at for at, _ in run.answers)
    failed_at_edge = [
        (entry["flags"], entry["attempts"], entry["details"])
        for entry in gateway.envoy.access_log()
        if entry.get("grpc_status") not in ("OK", None)
    ]
    # Only calls that were on the replica's connections when it died may fail, and they fail UNAVAILABLE
    # (not INTERNAL, not a hang until the deadline); a call sent once Envoy saw the connections close is
    # retried on the survivor after the refused connection, and once the health check noticed, the dead
    # replica is not even tried.
    assert all(call.code == grpc.StatusCode.UNAVAILABLE for call in run.failures), (run.failures, failed_at_edge)
    assert all(killed_at - 5 < call.started < disconnected_at for call in run.failures), run.failures
    assert all(call.code == grpc.StatusCode.OK for call in run.calls if call.started > disconnected_at)
    # The edge tried each failed call once: it may have run on the replica before it died.
    assert all(attempts == 1 for _, attempts, _ in failed_at_edge), failed_at_edge
    # Every retry the edge made (after a refused connection) succeeded.
    retries = gateway.envoy.stat(f"cluster.{AUTH_CLUSTER}.upstream_rq_retry")
    assert gateway.envoy.stat(f"cluster.{AUTH_CLUSTER}.upstream_rq_retry_success") == retries


async def _get_jwks(
    stub: auth_service_pb2_grpc.AuthServiceAsyncStub, request_id: str
) -> auth_service_pb2.GetJwksResponse:
    return await stub.GetJwks(auth_service_pb2.GetJwksRequest(), metadata=(("x-request-id", request_id),), timeout=10)


async def _call_held_by(
    gateway: Gateway, address: str, channel: aio.Channel
) -> tuple[str, asyncio.Task[auth_service_pb2.GetJwksResponse]]:
    """Send GetJwks calls one at a time until Envoy has sent one to ``address``; return its request id and task."""
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    for attempt in range(20):
        request_id = f"held-{uuid.uuid4().hex[:10]}-{attempt}"
        active = _host_stat(gateway, address, "rq_active")
        call = asyncio.create_task(_get_jwks(stub, request_id))
        await eventually(
            lambda: asyncio.to_thread(
                lambda: call.done() or _host_stat(gateway, address, "rq_active") > active  # noqa: B023 - awaited here
            ),
            within=15,
            what="the call answered, or held by the frozen replica",
        )
        if not call.done():
            return request_id, call
        await call  # the other replica answered it: round robin sends the next one to the frozen replica
    raise AssertionError(f"no call reached {address}")


async def test_a_call_in_flight_on_a_killed_replica_fails_unavailable_and_is_not_replayed(
    auth_replicas: StartReplica, start_gateway: StartGateway, service_calls: ServiceCalls
) -> None:
    survivor = await auth_replicas("previous.pem")
    victim = await auth_replicas("stranger.pem", own_process=True)
    assert victim.process is not None
    gateway = await start_gateway({"auth": [survivor.endpoint, victim.endpoint]}, [survivor.jwks])
    await gateway.wait_healthy(AUTH_CLUSTER, 2)
    victim_address = str(victim.endpoint)
    sdk_options = ClientOptions().channel_options()

    async with gateway.channel() as plain, aio.insecure_channel(gateway.address, options=sdk_options) as sdk:
        # Frozen first, so that a call is certainly in flight there when it dies: its kernel takes the
        # request, the process never answers.
        os.kill(victim.process.pid, signal.SIGSTOP)
        plain_id, plain_call = await _call_held_by(gateway, victim_address, plain)
        sdk_id, sdk_call = await _call_held_by(gateway, victim_address, sdk)
        await asyncio.to_thread(victim.kill)

        with pytest.raises(aio.AioRpcError) as failure:
            await plain_call
        # UNAVAILABLE at once (not INTERNAL, not DEADLINE_EXCEEDED after the 10 s deadline).
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        # The SDK's channel retries UNAVAILABLE on an idempotent method with backoff: the survivor answers.
        recovered = await sdk_call
        assert recovered.keys[1].kid == survivor.marker

        # Calls sent after the kill reach the survivor (a refused connection is retried at the edge).
        await eventually(
            lambda: asyncio.to_thread(lambda: _host_stat(gateway, victim_address, "cx_active") == 0),
            within=15,
            what="Envoy to see its connections to the dead replica close",
        )
        stub = auth_service_pb2_grpc.AuthServiceStub(plain)
        for _ in range(20):
            jwks = await stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=10)
            assert jwks.keys[1].kid == survivor.marker

    # The edge sent the cut-off call once and did not replay it on the survivor.
    [entry] = await gateway.access_log(plain_id, 1)
    assert entry["attempts"] == 1
    assert service_calls.with_request_id(plain_id) == []
    # The SDK's call: one failed attempt at the edge, then the client's own second call, run once.
    entries = await gateway.access_log(sdk_id, 2)
    assert [entry["attempts"] for entry in entries] == [1, 1]
    assert [call.code for call in service_calls.with_request_id(sdk_id)] == ["OK"]
