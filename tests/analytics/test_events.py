"""The trade-event consumer: idempotent on redelivery, and a crash mid-batch loses nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from tests.analytics.conftest import create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.kernel.events import STREAM
from trademesh.services.analytics.cache import RedisAnalyticsCache
from trademesh.services.analytics.events import GROUP, TradeEventConsumer
from trademesh.services.analytics.model import ChargeProfile, Instrument, JournalFill, Mark, UserSettings
from trademesh.services.analytics.service import AnalyticsService
from trademesh.services.core.server import ServiceHost
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.trade.v1 import trade_pb2, trade_service_pb2_grpc


class EmptyTrades:
    """A TradeSource with no trades: every fill the journal holds came from events."""

    async def load_fills(self, user_id: str) -> list[JournalFill]:
        return []

    async def user_ids(self) -> list[str]:
        return []

    async def charge_profiles(self, user_id: str, instruments: object) -> dict[Instrument, ChargeProfile]:
        return {}


class DefaultSettings:
    """A SettingsStore that always answers the defaults."""

    async def get(self, user_id: str) -> UserSettings:
        return UserSettings(etag="default")

    async def update(self, user_id: str, settings: UserSettings, fields: frozenset[str], etag: str) -> UserSettings:
        return settings


class NoQuotes:
    """A QuoteSource without prices."""

    async def marks(self, instruments: Any, authorization: str) -> dict[Any, Mark]:
        return {}


def analytics(redis: Redis) -> AnalyticsService:
    return AnalyticsService(
        trades=EmptyTrades(),
        settings=DefaultSettings(),
        cache=RedisAnalyticsCache(redis, report_ttl_seconds=60),
        quotes=NoQuotes(),
    )


async def test_a_crash_mid_batch_loses_nothing_and_redelivery_changes_nothing(
    redis: Redis,
    core_settings: Callable[..., dict[str, Any]],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    from grpc import aio

    trade_host: ServiceHost = await build_trade_server(TradeSettings(**core_settings()))
    channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
    try:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        user = await new_user()
        service = analytics(redis)
        crashed = TradeEventConsumer(redis, service, consumer="crashed", claim_idle_seconds=0.05)
        await crashed.ensure_group()
        await create_trade(stub, user.metadata, equity_trade("INFY", trade_pb2.SIDE_BUY, 10, 100))
        await create_trade(stub, user.metadata, equity_trade("INFY", trade_pb2.SIDE_SELL, 4, 120))
        await service.journal(user.user_id)  # cached, empty: events will advance it

        # The first consumer reads the batch and dies before applying or acknowledging it.
        read: Any = await redis.xreadgroup(GROUP, "crashed", {STREAM: ">"}, count=10)
        delivered = len(read[0][1])
        assert delivered >= 2  # two CREATED, possibly an UPDATED (category inferred from the pair)
        survivor = TradeEventConsumer(redis, service, consumer="survivor", claim_idle_seconds=0.05)

        async def claimed() -> bool:
            await survivor.claim_stale()
            return survivor.applied == delivered

        await eventually(claimed)
        journal = await service.journal(user.user_id)
        pending: Any = await redis.xpending(STREAM, GROUP)
        assert pending["pending"] == 0
        assert sorted(f.quantity_micros for f in journal.fills) == [4_000_000, 10_000_000]
        assert journal.cycles[("INFY", "NSE")].position == 6_000_000
        version = journal.version
        assert version == await service.applied_version(user.user_id) > 0

        # Redelivery (e.g. a consumer that applied but crashed before XACK) is a no-op.
        entries: Any = await redis.xrange(STREAM)
        await survivor.process(entries)
        again = await service.journal(user.user_id)
        assert [f.trade_id for f in again.fills] == [f.trade_id for f in journal.fills]
        assert again.cycles[("INFY", "NSE")].position == 6_000_000
        assert again.version == version
    finally:
        await channel.close()
        await trade_host.stop(0)


async def test_an_import_is_applied_as_one_batch_in_execution_order(
    redis: Redis,
    core_settings: Callable[..., dict[str, Any]],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    # Decisions 0110 and 0113, end to end: the trade service imports a file whose rows come before a trade
    # the journal already holds (one at a time, each would be a rebuild); the consumer applies the import's
    # events as one merge, and same-minute rows keep file order.
    import uuid
    from datetime import UTC, datetime

    from grpc import aio

    from trademesh.services.analytics.model import Journal
    from trademesh.trade.v1 import import_pb2, trade_service_pb2

    trade_host: ServiceHost = await build_trade_server(TradeSettings(**core_settings()))
    channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
    try:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        user = await new_user()
        service = analytics(redis)
        consumer = TradeEventConsumer(redis, service, consumer="batcher", block_seconds=0.05)
        await consumer.ensure_group()
        await service.journal(user.user_id)  # cached (empty, EmptyTrades): only events fill it
        later = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
        await create_trade(stub, user.metadata, equity_trade("TCS", trade_pb2.SIDE_BUY, 1, 3000, later))
        await eventually(lambda: _holds(consumer, service, user.user_id, 1))

        lines = ["symbol,exchange,side,quantity,price,trade_time"]
        lines += [
            "SBIN,NSE,BUY,5,800,2026-03-02 10:00:00",
            "SBIN,NSE,BUY,5,810,2026-03-02 10:30:00",
            "SBIN,NSE,SELL,10,820,2026-03-02 10:30:00",
        ]
        for day in range(3, 9):
            for minute in range(10):
                side = "BUY" if minute % 2 == 0 else "SELL"
                lines.append(f"INFY,NSE,{side},{minute + 1},{1500 + minute},2026-03-0{day} 10:{minute:02d}:00")
        response = await stub.ImportTrades(
            trade_service_pb2.ImportTradesRequest(
                request_id=str(uuid.uuid4()),
                format=import_pb2.IMPORT_FORMAT_GENERIC_CSV,
                content="\n".join(lines).encode(),
            ),
            metadata=user.metadata,
        )
        assert response.rows_created == 63
        journal = await eventually(lambda: _holds(consumer, service, user.user_id, 64))
        sbin = [trip for trip in journal.round_trips if trip.instrument == ("SBIN", "NSE")]
        assert [(trip.long, trip.fill_count, trip.gross_pnl_micros) for trip in sbin] == [(True, 3, 150_000_000)]
        rebuilt = Journal(journal.fills)
        assert journal.round_trips == rebuilt.round_trips
        pending: Any = await redis.xpending(STREAM, GROUP)
        assert pending["pending"] == 0
    finally:
        await channel.close()
        await trade_host.stop(0)


async def _holds(consumer: TradeEventConsumer, service: AnalyticsService, user_id: str, fills: int) -> Any:
    await consumer.poll()
    journal = await service.journal(user_id)
    return journal if journal.fill_count == fills else None
