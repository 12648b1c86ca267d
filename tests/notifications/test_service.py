"""The notifications service on real servers: Redis, the database, auth, an SMTP server and market data's backplane."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc import aio
from redis.asyncio import Redis

from tests.eventually import eventually
from tests.notifications.smtp import Inbox, start_smtp_server
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.events import STREAM
from trademesh.notifications.v1 import (
    alert_pb2,
    notification_pb2,
    notifications_service_pb2,
    notifications_service_pb2_grpc,
)
from trademesh.services.marketdata.backplane import IngestLease
from trademesh.services.marketdata.mapping import MODES, EncodedQuote
from trademesh.services.marketdata.model import InstrumentKey, Quote, Source
from trademesh.services.notifications.backplane import decode_tick
from trademesh.services.notifications.model import Notification, NotificationKind
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.trade.v1 import trade_event_pb2, trade_pb2

if TYPE_CHECKING:
    from tests.conftest import MeshUser
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub

pb = notifications_service_pb2
INR = 1_000_000


@dataclass
class Running:
    """A running notifications service, its stub and the SMTP server's inbox."""

    runtime: NotificationsRuntime
    stub: NotificationsServiceAsyncStub
    mail: Inbox


@pytest.fixture
async def start(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    cleanups: list[Callable[[], Awaitable[object]]] = []

    async def run(**overrides: Any) -> Running:
        smtp, port, inbox = await start_smtp_server()
        cleanups.append(smtp.wait_closed)
        cleanups.append(lambda: _close(smtp))
        settings = NotificationsSettings(
            **core_settings(
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_security="none",
                event_block_seconds=0.1,
                trade_run_quiet_seconds=0.3,
                **overrides,
            )
        )
        runtime = await build_notifications_runtime(settings)
        cleanups.append(lambda: runtime.host.stop(0))
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        cleanups.append(channel.close)
        return Running(runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel), inbox)

    yield run
    for cleanup in reversed(cleanups):
        await cleanup()


async def _close(server: Any) -> None:
    server.close()


def now(condition: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    async def check() -> object:
        return condition()

    return check


def encoded_tick(instrument: str, price: float, sequence: int, close: float = 1500.0) -> EncodedQuote:
    quote = Quote(
        InstrumentKey.parse(instrument),
        408065,
        Source.SIMULATED,
        sequence,
        int(price * INR),
        time.time_ns(),
        close_micros=int(close * INR),
    )
    return EncodedQuote.encode(quote, MODES)


class Ingest:
    """Publish ticks through market data's own fenced publisher (the real backplane)."""

    def __init__(self, redis: Redis) -> None:
        self.lease = IngestLease(redis, "simulated", ttl_seconds=30.0)
        self.sequence = 0

    async def publish(self, instrument: str, *prices: float) -> None:
        if self.lease.token is None:
            assert await self.lease.try_acquire()
        for price in prices:
            self.sequence += 1
            assert await self.lease.publish([encoded_tick(instrument, price, self.sequence)])


def crossing_alert(level: float, symbol: str = "INFY") -> alert_pb2.Alert:
    return alert_pb2.Alert(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        condition=alert_pb2.ALERT_CONDITION_PRICE_CROSSING,
        level_micros=int(level * INR),
    )


def test_the_tick_payload_is_decoded_as_market_data_encodes_it() -> None:
    tick = decode_tick("NSE:INFY", encoded_tick("NSE:INFY", 1530.25, 7).payload)
    assert tick is not None
    assert (tick.price_micros, tick.change_micros, tick.change_basis_points) == (1530_250_000, 30_250_000, 201)


async def test_a_tick_on_the_backplane_fires_an_alert_once_stored_streamed_and_mailed(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    service = await start()
    alice = await new_user()
    await service.stub.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            preferences=notification_pb2.Preferences(email="alice@example.com"), update_mask=FieldMask(paths=["email"])
        ),
        metadata=alice.metadata,
    )
    created = await service.stub.CreateAlert(
        pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=crossing_alert(1600)), metadata=alice.metadata
    )
    watch = service.stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=alice.metadata)
    first = await anext(aiter(watch))
    assert first.WhichOneof("event") == "snapshot"
    assert first.unread_count == 0
    await eventually(
        now(lambda: created.alert.id in service.runtime.app.evaluator.index), what="the evaluator indexes the new alert"
    )
    ingest = Ingest(redis)
    await ingest.publish("NSE:INFY", 1590)
    backplane = service.runtime.app.backplane
    assert backplane is not None
    await eventually(now(lambda: backplane.ticks_received >= 1), what="the first tick tells the side")
    await ingest.publish("NSE:INFY", *[1601, 1590, 1610, 1580] * 10)
    live = await anext(aiter(watch))
    assert live.notification.alert_id == created.alert.id
    assert live.unread_count == 1
    assert live.notification.title == "INFY crossed 1600.00"
    await eventually(now(lambda: service.mail.messages), what="the SMTP server receives the alert's email")
    [mail] = service.mail.messages
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == "INFY crossed 1600.00"
    alert = (await service.stub.GetAlert(pb.GetAlertRequest(alert_id=created.alert.id), metadata=alice.metadata)).alert
    assert alert.state == alert_pb2.ALERT_STATE_TRIGGERED
    assert alert.trigger_count == 1
    listed = await service.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata)
    assert [n.id for n in listed.notifications] == [live.notification.id]
    watch.cancel()
    # Resuming after the notification replays nothing; a new one arrives live.
    resumed = service.stub.WatchNotifications(
        pb.WatchNotificationsRequest(resume_token=live.resume_token), metadata=alice.metadata
    )
    await service.runtime.app.notifier.notify(_system_notice(alice.user_id))
    after = await anext(aiter(resumed))
    assert after.notification.title == "system"
    assert after.unread_count == 2
    resumed.cancel()


def _system_notice(user_id: str) -> Notification:
    return Notification(
        f"system.{uuid.uuid4().hex}", user_id, NotificationKind.SYSTEM, "system", "body", datetime.now(UTC)
    )


async def test_alerts_and_notifications_are_isolated_between_users(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice, bob = await new_user(), await new_user()
    created = await service.stub.CreateAlert(
        pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=crossing_alert(1600)), metadata=alice.metadata
    )
    stored = await service.runtime.app.notifier.notify(_system_notice(alice.user_id))
    assert stored is not None
    alert_id, notice_id = created.alert.id, stored.id
    for call in (
        service.stub.GetAlert(pb.GetAlertRequest(alert_id=alert_id), metadata=bob.metadata),
        service.stub.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert_id), metadata=bob.metadata),
        service.stub.UpdateAlert(
            pb.UpdateAlertRequest(
                alert=alert_pb2.Alert(id=alert_id, note="mine"), update_mask=FieldMask(paths=["note"])
            ),
            metadata=bob.metadata,
        ),
        service.stub.DeleteNotification(pb.DeleteNotificationRequest(notification_id=notice_id), metadata=bob.metadata),
    ):
        with pytest.raises(aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await service.stub.ListAlerts(pb.ListAlertsRequest(), metadata=bob.metadata)).alerts == []
    bob_inbox = await service.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=bob.metadata)
    assert list(bob_inbox.notifications) == []
    assert bob_inbox.unread_count == 0
    marked = await service.stub.MarkRead(pb.MarkReadRequest(notification_ids=[notice_id]), metadata=bob.metadata)
    assert marked.unread_count == 0
    alice_inbox = await service.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata)
    assert alice_inbox.unread_count == 1
    with pytest.raises(aio.AioRpcError) as caught:
        await service.stub.CreateAlert(
            pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert_pb2.Alert()), metadata=alice.metadata
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(aio.AioRpcError) as caught:
        await service.stub.ListAlerts(pb.ListAlertsRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_import_makes_one_notice_from_the_trade_event_stream(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    service = await start()
    alice = await new_user()
    await eventually(lambda: _group_exists(redis), what="the notifications consumer group exists")
    for number in range(25):
        event = trade_event_pb2.TradeEvent(
            event_id=f"e{number}",
            type=trade_event_pb2.TRADE_EVENT_TYPE_CREATED,
            trade=trade_pb2.Trade(id=f"t{number}", import_id="imp-42"),
        )
        await redis.xadd(
            STREAM,
            {
                "event_id": f"e{number}",
                "user_id": alice.user_id,
                "trade_id": f"t{number}",
                "type": "created",
                "version": "1",
                "user_entry": "1-0",
                "payload": event.SerializeToString(),
            },
        )
    listed = await eventually(
        lambda: service.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata),
        until=lambda response: len(response.notifications) == 1,
        what="the import's notice is stored",
    )
    assert listed.notifications[0].kind == notification_pb2.NOTIFICATION_KIND_TRADE_ALERT
    assert listed.notifications[0].title == "Import finished: 25 new trades"
    pending = await redis.xpending(STREAM, "notifications")
    assert pending["pending"] == 0


async def _group_exists(redis: Redis) -> bool:
    try:
        groups = await redis.xinfo_groups(STREAM)
    except Exception:
        return False
    return any(group["name"] in (b"notifications", "notifications") for group in groups)
