"""The start most sync tests share: a new user, a Kite app holding a sample book, a sync service, the account linked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import MeshUser
from tests.sync.conftest import Mesh, RunningSync, kite_app, link_kite
from trademesh.services.brokers.fake_server import BrokerApp
from trademesh.services.brokers.fakes import sample_book
from trademesh.services.brokers.zerodha.fake import FakeKite


async def linked_kite(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]], trades: int
) -> tuple[MeshUser, BrokerApp, RunningSync, Any]:
    """A new user whose Kite app holds `sample_book(trades)`, linked on a freshly started sync service: (user, app,
    sync, the linked account)."""
    user = await new_user()
    app = kite_app(fake_kite, sample_book(trades))
    sync = await mesh.start()
    return user, app, sync, await link_kite(sync, user, app)
