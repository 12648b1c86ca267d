"""The security suite's world: the mesh `make up` runs (gateway and services), two users and their data.

Everything runs against real processes: the session's mesh (tests/client_mesh.py) with its random token
secret and signing key in its data directory, which the suite reads to forge what only a thief could.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from grpc import aio

from tests.client_mesh import PASSWORD, RunningMesh, acquire_mesh, release_mesh
from tests.security.calls import SHORT_NAMES
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.services.auth.keys import KeyRing
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

#: Where a case is sent: straight to the service, or through the Envoy gateway.
ROUTES = ("direct", "gateway")


@dataclass
class Person:
    """A registered user, their tokens and what they own."""

    user_id: str
    username: str
    email: str
    access_token: str
    refresh_token: str
    trade_ids: list[str] = field(default_factory=list)
    #: The current etag of each trade, by id (an attacker who guesses it must still get NOT_FOUND).
    etags: dict[str, str] = field(default_factory=dict)
    #: A ListTrades page token issued to this user (page size 1, no filters).
    page_token: str = ""


@dataclass
class World:
    """The running mesh, its secrets (as a thief would have them) and two users."""

    mesh: RunningMesh
    ring: KeyRing
    token_secret: bytes
    service_token: str
    victim: Person
    attacker: Person
    channels: dict[tuple[str, str], aio.Channel]

    def channel(self, route: str, service: str) -> aio.Channel:
        """Return the channel to `service` (short name or full name) on `route`."""
        short = SHORT_NAMES.get(service, service)
        return self.channels[(route, "gateway" if route == "gateway" else short)]


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    """The mesh ``make up`` runs, shared with the other client tests of the session."""
    yield acquire_mesh(tmp_path_factory.mktemp("mesh"))
    release_mesh()


async def register(channel: aio.Channel) -> Person:
    """Register a fresh user through auth."""
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    name = f"s{uuid.uuid4().hex[:12]}"
    response = await stub.Register(
        auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    return Person(
        response.user.id, name, f"{name}@example.com", response.tokens.access_token, response.tokens.refresh_token
    )


async def with_trades(channel: aio.Channel, person: Person) -> None:
    stub = trade_service_pb2_grpc.TradeServiceStub(channel)
    metadata = (("authorization", f"Bearer {person.access_token}"),)
    for hours in (3, 2):
        trade = trade_pb2.Trade(
            instrument=instrument_pb2.Instrument(exchange=instrument_pb2.EXCHANGE_NSE, symbol="INFY"),
            side=trade_pb2.SIDE_BUY,
            quantity_micros=1_000_000,
            price_micros=1_500_000_000,
            notes='=HYPERLINK("http://evil.example")',
        )
        trade.trade_time.FromDatetime(datetime.now(UTC) - timedelta(hours=hours))
        created = await stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade), metadata=metadata
        )
        person.trade_ids.append(created.trade.id)
        person.etags[created.trade.id] = created.trade.etag
    page = await stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=1), metadata=metadata)
    person.page_token = page.next_page_token
    assert person.page_token


@pytest.fixture(scope="session")
async def world(mesh: RunningMesh) -> AsyncIterator[World]:
    """Two users with trades and page tokens, channels to every service and to the gateway."""
    keys = mesh.data_dir / "keys"
    addresses = {"gateway": mesh.gateway, "auth": mesh.auth, "trade": mesh.trade, "marketdata": mesh.marketdata}
    if mesh.analytics is not None:
        addresses["analytics"] = mesh.analytics
    if mesh.sync is not None:
        addresses["sync"] = mesh.sync
    channels: dict[tuple[str, str], aio.Channel] = {}
    for name, address in addresses.items():
        channels[("gateway" if name == "gateway" else "direct", name)] = aio.insecure_channel(
            address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
    direct_auth = channels[("direct", "auth")]
    victim, attacker = await register(direct_auth), await register(direct_auth)
    for person in (victim, attacker):
        await with_trades(channels[("direct", "trade")], person)
    yield World(
        mesh=mesh,
        ring=KeyRing.from_files([keys / "signing-1.pem"]),
        token_secret=(keys / "token-secret").read_text().strip().encode(),
        service_token=(keys / "sync-service.token").read_text().strip(),
        victim=victim,
        attacker=attacker,
        channels=channels,
    )
    for channel in channels.values():
        await channel.close()
