"""P&L guardrails on real servers (decision 0300): trade, market data's simulated feed, analytics' WatchPnl read
by notifications under its service token, Redis and the database. A day's loss beyond the limit reaches the inbox
exactly once, however many ticks follow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc import aio

from tests.analytics.conftest import Mesh, create_trade, equity_trade, start_mesh
from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.calendar import IST
from trademesh.notifications.v1 import (
    alert_pb2,
    notification_pb2,
    notifications_service_pb2,
    notifications_service_pb2_grpc,
)
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.service_token import ON_BEHALF_OF
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.trade.v1 import trade_pb2

if TYPE_CHECKING:
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub

__all__ = ["start_mesh"]  # the analytics mesh fixture (trade, market data's simulator, analytics)

BUY = trade_pb2.SIDE_BUY
INR = 1_000_000
pb = notifications_service_pb2


@pytest.fixture
async def guarded_mesh(
    start_mesh: Callable[..., Awaitable[Mesh]],
    core_settings: Callable[..., dict[str, Any]],
    key_dir: Path,
    tmp_path: Path,
) -> AsyncIterator[tuple[Mesh, NotificationsRuntime, NotificationsServiceAsyncStub]]:
    mesh = await start_mesh()
    token = issue_service_token(
        KeyRing.from_files([key_dir / "active.pem"]), "notifications", 1, "trademesh-auth", "trademesh"
    )
    token_file = tmp_path / "notifications-service.token"
    token_file.write_text(token)
    runtime = await build_notifications_runtime(
        NotificationsSettings(
            **core_settings(
                analytics_target=f"127.0.0.1:{mesh.runtime.host.port}",
                service_token_file=token_file,
                alert_timer_interval_seconds=0.2,
            )
        )
    )
    channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
    yield mesh, runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel)
    await channel.close()
    await runtime.host.stop(0)


def daily_loss(limit_inr: int) -> alert_pb2.Alert:
    return alert_pb2.Alert(
        condition=alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND, level_micros=limit_inr * INR, rearm=True
    )


async def create_alert(stub: NotificationsServiceAsyncStub, user: MeshUser, alert: alert_pb2.Alert) -> alert_pb2.Alert:
    response = await stub.CreateAlert(
        pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert), metadata=user.metadata
    )
    return response.alert


async def inbox(stub: NotificationsServiceAsyncStub, user: MeshUser) -> list[notification_pb2.Notification]:
    page = await stub.ListNotifications(pb.ListNotificationsRequest(), metadata=user.metadata)
    return list(page.notifications)


async def test_a_days_loss_beyond_the_limit_reaches_the_inbox_exactly_once(
    guarded_mesh: tuple[Mesh, NotificationsRuntime, NotificationsServiceAsyncStub],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    mesh, runtime, stub = guarded_mesh
    alice, bob = await new_user(), await new_user()
    # 10 INFY bought at ₹2,500 while the simulated feed quotes about ₹1,574: marked live, a loss of ~₹9,260 + charges.
    await create_trade(mesh.trade, alice.metadata, equity_trade("INFY", BUY, 10, 2500))
    alert = await create_alert(stub, alice, daily_loss(5000))
    bob_alert = await create_alert(stub, bob, daily_loss(5000))  # bob has no position: never fires
    assert alert.condition == alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND
    assert not alert.HasField("instrument")

    [notice] = await eventually(lambda: inbox(stub, alice), within=30, what="the guardrail notice")
    assert notice.alert_id == alert.id
    assert notice.kind == notification_pb2.NOTIFICATION_KIND_PRICE_ALERT
    assert notice.title.startswith("Daily loss limit reached: -")

    # The day's P&L stays beyond the limit while ticks keep coming: alice's own WatchPnl sees more marks.
    stream = mesh.analytics.WatchPnl(
        analytics_service_pb2.WatchPnlRequest(max_updates_per_second=10), metadata=alice.metadata
    )
    updates = 0
    async for message in stream:
        if message.HasField("update"):
            assert (
                -(message.update.totals.realized_pnl_today_micros + message.update.totals.net_unrealized_pnl_micros)
                >= 5000 * INR
            )
            updates += 1
            if updates == 5:
                break
    stream.cancel()
    fired = (await stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id), metadata=alice.metadata)).alert
    assert fired.state == alert_pb2.ALERT_STATE_COOLING_DOWN
    assert fired.trigger_count == 1
    assert fired.last_trigger_pnl_micros <= -5000 * INR
    tomorrow = (datetime.now(UTC).astimezone(IST) + timedelta(days=1)).date()
    assert fired.rearm_time.ToDatetime(UTC).astimezone(IST) == datetime.combine(tomorrow, datetime.min.time(), IST)
    assert [n.alert_id for n in await inbox(stub, alice)] == [alert.id]
    assert await inbox(stub, bob) == []
    bob_now = (await stub.GetAlert(pb.GetAlertRequest(alert_id=bob_alert.id), metadata=bob.metadata)).alert
    assert bob_now.state == alert_pb2.ALERT_STATE_ARMED
    assert runtime.app.guardrails is not None
    assert alice.user_id not in runtime.app.guardrails.users()

    # Another user can neither read nor delete alice's guardrail.
    for call in (
        stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id), metadata=bob.metadata),
        stub.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id), metadata=bob.metadata),
    ):
        with pytest.raises(aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_guardrail_limits_are_checked_with_field_violations(
    guarded_mesh: tuple[Mesh, NotificationsRuntime, NotificationsServiceAsyncStub],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    _, _, stub = guarded_mesh
    alice = await new_user()
    bad = alert_pb2.Alert(
        condition=alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK,
        level_micros=3000 * INR,
        change_basis_points=500,
        instrument=instrument_pb2.Instrument(symbol="INFY", exchange=instrument_pb2.EXCHANGE_NSE),
    )
    with pytest.raises(aio.AioRpcError) as raised:
        await create_alert(stub, alice, bad)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "alert.instrument" in str(raised.value.trailing_metadata())
    assert "alert.level_micros" in str(raised.value.trailing_metadata())


async def test_only_a_service_identity_may_watch_another_users_pnl(
    guarded_mesh: tuple[Mesh, NotificationsRuntime, NotificationsServiceAsyncStub],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    mesh, _, _ = guarded_mesh
    alice, bob = await new_user(), await new_user()
    await create_trade(mesh.trade, bob.metadata, equity_trade("INFY", BUY, 10, 1500))

    async def bob_open() -> int:
        stream = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=bob.metadata)
        first = await stream.read()
        stream.cancel()
        assert isinstance(first, analytics_service_pb2.WatchPnlResponse)
        return first.update.totals.open_position_count

    await eventually(bob_open, until=lambda count: count == 1, what="bob's trade applied")
    stream = mesh.analytics.WatchPnl(
        analytics_service_pb2.WatchPnlRequest(), metadata=(*alice.metadata, (ON_BEHALF_OF, bob.user_id))
    )
    first = await stream.read()
    stream.cancel()
    assert isinstance(first, analytics_service_pb2.WatchPnlResponse)
    assert first.update.totals.open_position_count == 0  # alice's own (empty) book
