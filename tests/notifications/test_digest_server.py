"""The daily digest on real servers: Redis, the database, auth, trade, analytics, notifications and the local mail
server. A user with trades gets exactly one inbox notice and one email however often the digest runs."""

from __future__ import annotations

import asyncio
import mailbox
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc import aio

from tests.conftest import MailServer, MeshUser
from tests.eventually import eventually
from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.notifications.v1 import notification_pb2, notifications_service_pb2, notifications_service_pb2_grpc
from trademesh.services.analytics.server import build_analytics_runtime
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.server import ServiceHost
from trademesh.services.core.service_token import ON_BEHALF_OF
from trademesh.services.notifications.digest import send_digest
from trademesh.services.notifications.model.notices import format_micros
from trademesh.services.notifications.server import build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

if TYPE_CHECKING:
    from trademesh.analytics.v1.analytics_service_pb2_grpc import AnalyticsServiceAsyncStub
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub
    from trademesh.trade.v1.trade_service_pb2_grpc import TradeServiceAsyncStub

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
# Monday 2 Nov 2026, 09:45 IST.
MONDAY = datetime(2026, 11, 2, 4, 15, tzinfo=UTC)
DAY = date(2026, 11, 2)


@dataclass
class Mesh:
    """Trade, analytics and notifications of one test, and the settings the digest job runs with."""

    trade: TradeServiceAsyncStub
    analytics: AnalyticsServiceAsyncStub
    notifications: NotificationsServiceAsyncStub
    digest_settings: NotificationsSettings
    service_token: str


@pytest.fixture
async def mesh(
    core_settings: Callable[..., dict[str, Any]], mail_server: MailServer, key_dir: Path, tmp_path: Path
) -> AsyncIterator[Mesh]:
    hosts: list[ServiceHost] = []
    channels: list[aio.Channel] = []
    trade_host = await build_trade_server(TradeSettings(**core_settings()))
    hosts.append(trade_host)
    analytics = await build_analytics_runtime(
        AnalyticsSettings(**core_settings(marketdata_target="127.0.0.1:1", event_block_seconds=0.2))
    )
    hosts.append(analytics.host)
    token = issue_service_token(
        KeyRing.from_files([key_dir / "active.pem"]), "notifications", 1, "trademesh-auth", "trademesh"
    )
    token_file = tmp_path / "notifications-service.token"
    token_file.write_text(token)
    mail = {"smtp_host": "127.0.0.1", "smtp_port": mail_server.smtp_port, "smtp_security": "none"}
    notifications = await build_notifications_runtime(NotificationsSettings(**core_settings(**mail)))
    hosts.append(notifications.host)
    digest_settings = NotificationsSettings(
        **core_settings(
            **mail,
            analytics_target=f"127.0.0.1:{analytics.host.port}",
            service_token_file=token_file,
            dependency_timeout_seconds=5.0,
        )
    )
    stubs = []
    for port in (trade_host.port, analytics.host.port, notifications.host.port):
        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        stubs.append(channel)
    yield Mesh(
        trade_service_pb2_grpc.TradeServiceStub(stubs[0]),
        analytics_service_pb2_grpc.AnalyticsServiceStub(stubs[1]),
        notifications_service_pb2_grpc.NotificationsServiceStub(stubs[2]),
        digest_settings,
        token,
    )
    for channel in channels:
        await channel.close()
    for host in reversed(hosts):
        await host.stop(0)


async def _trade(mesh: Mesh, user: MeshUser, symbol: str, side: int, rupees: int, when: datetime) -> None:
    trade = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=10 * 1_000_000,
        price_micros=rupees * 1_000_000,
    )
    trade.trade_time.FromDatetime(when)
    await mesh.trade.CreateTrade(
        trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade), metadata=user.metadata
    )


async def _digest_on(mesh: Mesh, user: MeshUser, on: bool) -> None:
    await mesh.notifications.UpdatePreferences(
        notifications_service_pb2.UpdatePreferencesRequest(
            preferences=notification_pb2.Preferences(daily_digest=on, email=f"{user.username}@example.com"),
            update_mask=FieldMask(paths=["daily_digest", "email"]),
        ),
        metadata=user.metadata,
    )


def _mail_to(server: MailServer, address: str) -> list[Any]:
    return [message for _, message in mailbox.Maildir(server.maildir).iteritems() if message["To"] == address]


async def _async(value: list[Any]) -> list[Any]:
    return value


async def test_a_trader_gets_one_notice_and_one_email_however_often_the_digest_runs(
    mesh: Mesh, new_user: Callable[[], Awaitable[MeshUser]], mail_server: MailServer
) -> None:
    alice, bob, carol = await new_user(), await new_user(), await new_user()
    # Alice: a win (+100 gross on INFY) and a loss (-50 gross on TCS) closed on Monday, SBIN left open.
    await _trade(mesh, alice, "INFY", BUY, 1500, MONDAY)
    await _trade(mesh, alice, "INFY", SELL, 1510, MONDAY + timedelta(hours=1))
    await _trade(mesh, alice, "TCS", BUY, 3000, MONDAY + timedelta(hours=2))
    await _trade(mesh, alice, "TCS", SELL, 2995, MONDAY + timedelta(hours=3))
    await _trade(mesh, alice, "SBIN", BUY, 800, MONDAY + timedelta(hours=4))
    # Bob traded too but has the digest off; Carol has it on and did not trade.
    await _trade(mesh, bob, "INFY", BUY, 1500, MONDAY)
    await _trade(mesh, bob, "INFY", SELL, 1600, MONDAY + timedelta(hours=1))
    await _digest_on(mesh, alice, True)
    await _digest_on(mesh, bob, False)
    await _digest_on(mesh, carol, True)
    request = analytics_service_pb2.GetDayTripsRequest(date=DAY.isoformat())

    async def applied() -> int:
        trips = await mesh.analytics.GetDayTrips(request, metadata=alice.metadata)
        return len(trips.trips)

    await eventually(applied, until=lambda count: count == 2, what="alice's round trips applied")
    trips = await mesh.analytics.GetDayTrips(request, metadata=alice.metadata)
    win, loss = sorted(trip.net_pnl_micros for trip in trips.trips)[::-1]

    first = await send_digest(mesh.digest_settings, DAY)
    second = await send_digest(mesh.digest_settings, DAY)

    assert (first.users, first.sent, first.skipped, first.failed) == (2, 1, 1, 0)
    assert (second.users, second.sent, second.skipped, second.failed) == (2, 0, 2, 0)
    page = await mesh.notifications.ListNotifications(
        notifications_service_pb2.ListNotificationsRequest(), metadata=alice.metadata
    )
    [notice] = [item for item in page.notifications if item.id.startswith("digest.")]
    assert notice.id == f"digest.{alice.user_id}.2026-11-02"
    assert notice.kind == notification_pb2.NOTIFICATION_KIND_SYSTEM
    lines = notice.body.splitlines()
    assert 0 < win < 100 * 1_000_000  # +100 gross less charges
    assert loss < -50 * 1_000_000  # -50 gross and charges
    assert trips.day.net_pnl_micros == win + loss
    assert lines == [
        f"Net P&L (after charges): INR {format_micros(win + loss)}",
        "Round trips closed: 2",
        f"Biggest win: INR {format_micros(win)}",
        f"Biggest loss: INR {format_micros(loss)}",
        "Open positions: 1",
    ]
    # The job sends what it queued, or the running service's dispatcher takes it first (one lease, one send).
    [mail] = await eventually(
        lambda: _async(_mail_to(mail_server, f"{alice.username}@example.com")), what="the digest mail"
    )
    assert mail["Subject"] == notice.title
    for user in (bob, carol):
        theirs = await mesh.notifications.ListNotifications(
            notifications_service_pb2.ListNotificationsRequest(), metadata=user.metadata
        )
        assert [item.id for item in theirs.notifications if item.id.startswith("digest.")] == []
        assert _mail_to(mail_server, f"{user.username}@example.com") == []


async def test_only_a_service_identity_may_read_for_another_user(
    mesh: Mesh, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    alice, mallory = await new_user(), await new_user()
    await _trade(mesh, alice, "INFY", BUY, 1500, MONDAY)
    await _trade(mesh, alice, "INFY", SELL, 1510, MONDAY + timedelta(hours=1))
    request = analytics_service_pb2.GetDayTripsRequest(date=DAY.isoformat())
    as_service = (("authorization", f"Bearer {mesh.service_token}"), (ON_BEHALF_OF, alice.user_id))

    async def for_alice() -> int:
        return len((await mesh.analytics.GetDayTrips(request, metadata=as_service)).trips)

    assert await eventually(for_alice, until=lambda count: count == 1, what="read for alice") == 1
    # A user naming someone else reads their own (empty) day.
    as_mallory = (*mallory.metadata, (ON_BEHALF_OF, alice.user_id))
    theirs = await mesh.analytics.GetDayTrips(request, metadata=as_mallory)
    assert list(theirs.trips) == []


async def _run_job(settings: NotificationsSettings, *arguments: str, token_file: bool = True) -> tuple[int, str]:
    environment = {
        "TRADEMESH_MONGO_URL": settings.mongo_url,
        "TRADEMESH_MONGO_DATABASE": settings.mongo_database,
        "TRADEMESH_REDIS_URL": settings.redis_url,
        "TRADEMESH_AUTH_TARGET": settings.auth_target,
        "TRADEMESH_TOKEN_SECRET": settings.token_secret.get_secret_value(),
        "TRADEMESH_SMTP_HOST": settings.smtp_host,
        "TRADEMESH_SMTP_PORT": str(settings.smtp_port),
        "TRADEMESH_SMTP_SECURITY": "none",
        "TRADEMESH_ANALYTICS_TARGET": settings.analytics_target,
        "TRADEMESH_LOG_FORMAT": "text",
        "PATH": "/usr/bin:/bin",
    }
    if token_file:
        environment["TRADEMESH_SERVICE_TOKEN_FILE"] = str(settings.service_token_file)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trademesh.services.notifications.digest",
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_cronjob_entry_point_sends_one_digest_per_user_and_day(
    mesh: Mesh, new_user: Callable[[], Awaitable[MeshUser]], mail_server: MailServer
) -> None:
    alice = await new_user()
    await _trade(mesh, alice, "INFY", BUY, 1500, MONDAY)
    await _trade(mesh, alice, "INFY", SELL, 1510, MONDAY + timedelta(hours=1))
    await _digest_on(mesh, alice, True)
    request = analytics_service_pb2.GetDayTripsRequest(date=DAY.isoformat())

    async def applied() -> int:
        return len((await mesh.analytics.GetDayTrips(request, metadata=alice.metadata)).trips)

    await eventually(applied, until=lambda count: count == 1, what="alice's round trip applied")

    missing = await _run_job(mesh.digest_settings, "--day", "2026-11-02", token_file=False)
    assert missing[0] == 2
    assert "TRADEMESH_SERVICE_TOKEN" in missing[1]
    first = await _run_job(mesh.digest_settings, "--day", "2026-11-02", "--user", alice.user_id)
    second = await _run_job(mesh.digest_settings, "--day", "2026-11-02")

    assert first[0] == 0, first[1]
    assert "1 users, 1 sent, 0 skipped, 0 failed" in first[1]
    assert second[0] == 0, second[1]
    assert "0 sent" in second[1]
    page = await mesh.notifications.ListNotifications(
        notifications_service_pb2.ListNotificationsRequest(), metadata=alice.metadata
    )
    assert [item.id for item in page.notifications if item.id.startswith("digest.")] == [
        f"digest.{alice.user_id}.2026-11-02"
    ]
    mails = await eventually(
        lambda: _async(_mail_to(mail_server, f"{alice.username}@example.com")), what="the digest mail"
    )
    assert len(mails) == 1
