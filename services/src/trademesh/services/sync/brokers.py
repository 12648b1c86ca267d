"""The BrokerGateway port over the broker clients of `trademesh.services.brokers`: one client per broker."""

from __future__ import annotations

from typing import Any, Protocol

from trademesh.services.brokers.sessions import BrokerSession, Login, StoredSession
from trademesh.services.sync.model import Broker
from trademesh.services.sync.service.base import broker_of


class BrokerClient(Protocol):
    """One broker's API (e.g. KiteAdapter, UpstoxAdapter)."""

    async def create_session(self, login: Any) -> BrokerSession: ...

    async def fetch_trades(self, session: StoredSession) -> list[Any]: ...

    async def revoke(self, session: StoredSession) -> None: ...


class BrokerClients:
    """The service's BrokerGateway: dispatches to the client of each broker."""

    def __init__(self, clients: dict[Broker, BrokerClient]) -> None:
        self._clients = clients

    async def create_session(self, login: Login) -> BrokerSession:
        """Exchange a login for a session at its broker."""
        return await self._clients[broker_of(login)].create_session(login)

    async def fetch_trades(self, broker: Broker, session: StoredSession) -> list[Any]:
        """Return today's raw trade rows."""
        return await self._clients[broker].fetch_trades(session)

    async def revoke(self, broker: Broker, session: StoredSession) -> None:
        """End a session at its broker, best effort."""
        await self._clients[broker].revoke(session)
