"""Two auth replicas behind the real Envoy: round-robin spread, and a replica dying mid-run.

Each replica publishes one extra key in its JWKS, so every GetJwks answer names the replica that served
it — the count per replica is taken from the services' answers, and checked against Envoy's own stats.
The replica that dies runs in its own process and is killed (SIGKILL), as a crash or the OOM killer
would: its connections are reset, which the gateway retries idempotent reads after (unlike a status a
service answered, see test_retries.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
from grpc import aio

from tests.eventually import eventually
from tests.gateway.conftest import AUTH_CLUSTER, StartGateway, StartReplica
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc

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


@dataclass
class _Run:
    """What the callers saw."""

    calls: int = 0
    failures: list[tuple[float, str, grpc.StatusCode]] = field(default_factory=list)
    #: (time, replica marker) of every GetJwks answer.
    answers: list[tuple[float, str]] = field(default_factory=list)


async def test_a_replica_killed_mid_run_leaves_the_rotation_without_failed_calls(
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
                try:
                    if method == "GetJwks":
                        jwks = await stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=5)
                        run.answers.append((time.monotonic(), jwks.keys[1].kid))
                    else:
                        await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata, timeout=5)
                except aio.AioRpcError as error:
                    run.failures.append((time.monotonic(), method, error.code()))
                run.calls += 1

    async with gateway.channel() as channel:
        token = await _register(auth_service_pb2_grpc.AuthServiceStub(channel))
        tasks = [asyncio.create_task(caller(channel, token)) for _ in range(CALLERS)]
        try:
            await eventually(
                lambda: asyncio.to_thread(lambda: {marker for _, marker in run.answers}),
                within=15,
                until=lambda markers: markers == {survivor.marker, victim.marker},
                what="both replicas serving",
            )
            # Abruptly: the process dies, its in-flight calls are cut off and its connections reset.
            killed_at = time.monotonic()
            await asyncio.to_thread(victim.kill)
            await eventually(
                lambda: asyncio.to_thread(
                    lambda: any(
                        not host.healthy and "failed_active_health_check" in host.flags
                        for host in gateway.envoy.hosts(AUTH_CLUSTER)
                    )
                ),
                within=15,
                what="Envoy's health check marks the dead replica",
            )
            noticed_at = time.monotonic()
            calls_when_noticed = run.calls
            await eventually(
                lambda: asyncio.to_thread(lambda: run.calls),
                within=15,
                until=lambda calls: calls >= calls_when_noticed + 200,
                what="200 more calls",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    after_notice = [marker for at, marker in run.answers if at > noticed_at]
    assert after_notice
    assert set(after_notice) == {survivor.marker}
    # Idempotent reads are retried on the other replica after a reset or a refused connection, so not even
    # the calls cut off by the kill fail; and certainly none once the health check has noticed.
    assert [failure for failure in run.failures if failure[0] > noticed_at] == []
    failed_at_edge = [
        (entry["flags"], entry["attempts"], entry["details"])
        for entry in gateway.envoy.access_log()
        if entry.get("grpc_status") not in ("OK", None)
    ]
    assert run.failures == [], (run.failures, failed_at_edge)
    # The calls in flight at the kill were retried, and every retry succeeded.
    retries = gateway.envoy.stat(f"cluster.{AUTH_CLUSTER}.upstream_rq_retry")
    assert retries >= 1
    assert gateway.envoy.stat(f"cluster.{AUTH_CLUSTER}.upstream_rq_retry_success") == retries
    assert any(at > killed_at for at, _ in run.answers)
