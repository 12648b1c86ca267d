"""Service-to-service calls are balanced per call, and a replica added later gets calls from existing callers.

The caller resolves a name through a small DNS server of the test's own (gRPC's resolver takes the DNS
server from the target's authority, `dns://127.0.0.1:<port>/name:port`), as a pod resolves a headless
Service: one A record per ready replica. The replicas are real `start_server` hosts on 127.0.0.1 and
127.0.0.2, same port, with the production server options (max connection age) and the production channel.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import dns.message
import dns.rdatatype
import dns.rrset
import grpc
import pytest
from grpc import aio

from tests.eventually import eventually
from trademesh.services.core.channels import build_channel
from trademesh.services.core.server import ServiceHost, ServiceRegistration, build_remote_verifier, start_server
from trademesh.services.core.settings import CoreSettings

SERVICE = "test.Replica"
StartReplica = Callable[..., Awaitable[ServiceHost]]
NAME = "replicas.trademesh.test"


class Zone(asyncio.DatagramProtocol):
    """A DNS server answering A queries for any name with `addresses` (what a headless Service does)."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        for question in query.question:
            if question.rdtype == dns.rdatatype.A and self.addresses:
                response.answer.append(dns.rrset.from_text_list(question.name, 1, "IN", "A", self.addresses))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port


@pytest.fixture
async def zone() -> AsyncIterator[Zone]:
    zone = Zone()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: zone, local_addr=("127.0.0.1", 0))
    yield zone
    transport.close()


@pytest.fixture
async def replicas(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[StartReplica]:
    """Start replicas that answer with their own address; stop them all at the end."""
    hosts: list[ServiceHost] = []

    async def start(address: str, port: int = 0, max_connection_age_seconds: float = 0.5) -> ServiceHost:
        settings = CoreSettings(
            **core_settings(
                service_name="replica",
                grpc_host=address,
                grpc_port=port,
                grpc_max_connection_age_seconds=max_connection_age_seconds,
            )
        )

        async def whoami(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
            return address.encode()

        handler = grpc.method_handlers_generic_handler(SERVICE, {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)})
        registration = ServiceRegistration(
            name=SERVICE,
            add_to_server=lambda server: server.add_generic_rpc_handlers((handler,)),
            public_methods={"WhoAmI"},
        )
        host = await start_server(settings, [registration], build_remote_verifier(settings, None))
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        await host.stop(0)


async def test_a_new_replica_receives_calls_from_an_existing_caller(zone: Zone, replicas: StartReplica) -> None:
    first = await replicas("127.0.0.1")
    zone.addresses = ["127.0.0.1"]
    channel = build_channel(f"dns://127.0.0.1:{zone.port}/{NAME}:{first.port}", resolve_interval_seconds=0.2)
    who_am_i: aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/WhoAmI")
    served: Counter[str] = Counter()

    async def call() -> str:
        replica = (await who_am_i(b"", timeout=5)).decode()
        served[replica] += 1
        return replica

    try:
        assert {await call() for _ in range(10)} == {"127.0.0.1"}

        # The autoscaler adds a pod: it becomes ready and the headless Service's answer grows.
        await replicas("127.0.0.2", first.port)
        zone.addresses = ["127.0.0.1", "127.0.0.2"]

        async def new_replica_served() -> bool:
            return await call() == "127.0.0.2"

        # The first replica's connection reaches its maximum age, the channel resolves again and connects
        # to both; no new channel, no restart of the caller.
        await eventually(new_replica_served, within=20)
        # From then on both serve (each connection still ages out and is re-made now and then, so the
        # exact alternation is checked in the next test, with ageless servers).
        assert {await call() for _ in range(40)} == {"127.0.0.1", "127.0.0.2"}
    finally:
        await channel.close()


async def test_calls_are_spread_over_every_resolved_replica(zone: Zone, replicas: StartReplica) -> None:
    first = await replicas("127.0.0.1", max_connection_age_seconds=0)
    await replicas("127.0.0.2", first.port, max_connection_age_seconds=0)
    zone.addresses = ["127.0.0.1", "127.0.0.2"]
    channel = build_channel(f"dns://127.0.0.1:{zone.port}/{NAME}:{first.port}")
    who_am_i: aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/WhoAmI")
    try:
        # Round robin starts once the subchannels are connected; until then a call may only reach one.
        await channel.channel_ready()

        async def both_connected() -> bool:
            replies = {(await who_am_i(b"", timeout=5)).decode() for _ in range(4)}
            return replies == {"127.0.0.1", "127.0.0.2"}

        await eventually(both_connected)
        replies = Counter([(await who_am_i(b"", timeout=5)).decode() for _ in range(30)])
        assert replies == {"127.0.0.1": 15, "127.0.0.2": 15}
    finally:
        await channel.close()


def test_servers_close_connections_after_the_configured_age() -> None:
    from trademesh.services.core.server import server_options

    options = dict(server_options(CoreSettings(grpc_max_connection_age_seconds=90)))
    assert options["grpc.max_connection_age_ms"] == 90_000
    # No grace limit: a stream open at the deadline (WatchTrades, SubscribeQuotes) is not cut.
    assert "grpc.max_connection_age_grace_ms" not in options
    assert "grpc.max_connection_age_ms" not in dict(server_options(CoreSettings(grpc_max_connection_age_seconds=0)))
