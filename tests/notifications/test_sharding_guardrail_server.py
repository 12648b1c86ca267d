"""Sharded P&L guardrails on real servers (decision 0340): two notification services, trade, market data's simulated
feed and analytics. Each guarded user's WatchPnl stream is open at exactly one replica (its owner); a loss beyond
the limit fires once; a crashed owner's users are streamed by the survivor after the member timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

from tests.analytics.conftest import Mesh, create_trade, equity_trade, start_mesh
from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.notifications.test_guardrail_server import BUY, create_alert, daily_loss, inbox
from tests.notifications.test_sharding_server import Replica, crash
from trademesh.notifications.v1 import notifications_service_pb2_grpc
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.notifications.server import build_notifications_runtime
from trademesh.services.notifications.service.guardrails import GuardrailWatch
from trademesh.services.notifications.service.sharding import USER_KEY, owner_of
from trademesh.services.notifications.settings import NotificationsSettings

__all__ = ["start_mesh"]  # the analytics mesh fixture (trade, market data's simulator, analytics)

MEMBER_TIMEOUT = 1.0


@pytest.fixture
async def two_guarding(
    start_mesh: Callable[..., Awaitable[Mesh]],
    core_settings: Callable[..., dict[str, Any]],
    key_dir: Path,
    tmp_path: Path,
) -> AsyncIterator[tuple[Mesh, Replica, Replica]]:
    mesh = await start_mesh()
    token = issue_service_token(
        KeyRing.from_files([key_dir / "active.pem"]), "notifications", 1, "trademesh-auth", "trademesh"
    )
    token_file = tmp_path / "notifications-service.token"
    token_file.write_text(token)
    settings = NotificationsSettings(
        **core_settings(
            analytics_target=f"127.0.0.1:{mesh.runtime.host.port}",
            service_token_file=token_file,
            alert_timer_interval_seconds=0.2,
            notifications_member_timeout_seconds=MEMBER_TIMEOUT,
        )
    )
    replicas, channels = [], []
    for _ in range(2):
        runtime = await build_notifications_runtime(settings)
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        channels.append(channel)
        replicas.append(Replica(runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel), settings))
    a, b = replicas

    async def views() -> tuple[frozenset[str], frozenset[str]]:
        return a.shard.members, b.shard.members

    both = {a.shard.member_id, b.shard.member_id}
    await eventually(views, until=lambda seen: seen[0] == seen[1] == both, what="both replicas see both")
    yield mesh, a, b
    for channel in channels:
        await channel.close()
    for replica in replicas:
        await replica.runtime.host.stop(0)


def guardrails(replica: Replica) -> GuardrailWatch:
    watch = replica.runtime.app.guardrails
    assert watch is not None
    return watch


async def test_each_guarded_users_stream_is_open_at_its_owner_only_and_moves_when_the_owner_crashes(
    two_guarding: tuple[Mesh, Replica, Replica], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh, a, b = two_guarding
    alice, bob = await new_user(), await new_user()
    # 10 INFY bought at ₹2,500 while the simulated feed quotes about ₹1,574: a loss of ~₹9,260 + charges.
    await create_trade(mesh.trade, alice.metadata, equity_trade("INFY", BUY, 10, 2500))
    await create_alert(a.stub, bob, daily_loss(5000))  # bob has no position: never fires, stays armed
    members = [a.shard.member_id, b.shard.member_id]
    bob_owner = a if owner_of(USER_KEY + bob.user_id, members) == a.shard.member_id else b
    survivor = b if bob_owner is a else a

    async def streams() -> tuple[frozenset[str], frozenset[str]]:
        return guardrails(a).streaming(), guardrails(b).streaming()

    mine, none = frozenset({bob.user_id}), frozenset[str]()
    expected = (mine, none) if bob_owner is a else (none, mine)
    await eventually(streams, until=lambda seen: seen == expected, what="bob's stream at his owner only")
    assert guardrails(a).users() == guardrails(b).users() == {bob.user_id}  # both track the guardrail

    alert = await create_alert(b.stub, alice, daily_loss(5000))
    [notice] = await eventually(lambda: inbox(a.stub, alice), within=30, what="alice's guardrail fires")
    assert notice.alert_id == alert.id
    assert a.runtime.app.evaluator.fired + b.runtime.app.evaluator.fired == 1

    await crash(bob_owner)

    async def survivor_streams() -> frozenset[str]:
        return guardrails(survivor).streaming()

    await eventually(survivor_streams, until=lambda users: users == {bob.user_id}, what="the survivor streams bob")
    assert survivor.shard.members == {survivor.shard.member_id}
    assert [n.alert_id for n in await inbox(survivor.stub, alice)] == [alert.id]
