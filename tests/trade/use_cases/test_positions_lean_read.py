"""ListPositions from lean fills agrees with the replay of whole trades (decision 0370), on in-memory fakes.

A property over random journals (tests/trade/position_journals.py): for any filter and page size, every
page and every page token of `positions` equal those of `positions_from_trades`, main's code path.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trade.fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink
from tests.trade.position_journals import OWNER, random_filter, random_journal
from tests.trade.use_cases.helpers import fields, request_id
from trademesh.kernel.instruments import Exchange, Segment, Side
from trademesh.kernel.lots import Fill, PositionBook
from trademesh.services.trade.model import Position, PositionFilter, Trade
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.service.position_replay import replay_fills
from trademesh.services.trade.settings import TradeSettings


def service_over(store: InMemoryTradeStore) -> TradeService:
    settings = TradeSettings(token_secret="lean-positions-tests-secret-0123456789abcdef")
    return bootstrap(
        settings, store=store, events=RecordingEventSink(), limiter=CountingRateLimiter(), clock=ManualClock()
    )


async def every_page(service: TradeService, filters: PositionFilter, size: int, lean: bool) -> list[list[Position]]:
    pages: list[list[Position]] = []
    token = ""
    while True:
        read = service.positions if lean else service.positions_from_trades
        page, token = await read(OWNER, filters, size, token)
        pages.append(page)
        if not token:
            return pages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 120), size=st.integers(1, 4))
def test_lean_positions_page_exactly_like_whole_trades(seed: int, count: int, size: int) -> None:
    rng = random.Random(seed)
    store = InMemoryTradeStore(trades={t.id: t for t in random_journal(rng, count)})
    service = service_over(store)

    async def compare() -> None:
        for filters in [PositionFilter(), *(random_filter(rng) for _ in range(3))]:
            lean = await every_page(service, filters, size, lean=True)
            whole = await every_page(service, filters, size, lean=False)
            assert lean == whole
            # Tokens are interchangeable: a page token of one path continues the other.
            _, token = await service.positions(OWNER, filters, size, "")
            if token:
                assert await service.positions_from_trades(OWNER, filters, size, token) == await service.positions(
                    OWNER, filters, size, token
                )

    asyncio.run(compare())


class ChangingStore(InMemoryTradeStore):
    """A store whose trades change between the lean read and the read of the latest trades, `changes` times."""

    changes: int = 0

    async def position_fills(
        self, user_id: str, broker_account_id: str = "", exchange: Exchange | None = None, symbol: str = ""
    ) -> list[PositionFill]:
        fills = await super().position_fills(user_id, broker_account_id, exchange, symbol)
        if self.changes:
            self.changes -= 1
            for trade in list(self.trades.values()):
                self.trades[trade.id] = replace(trade, version=trade.version + 1)
        return fills


async def test_a_latest_trade_changed_under_the_read_is_read_again_then_read_whole() -> None:
    rng = random.Random(7)
    journal = [t for t in random_journal(rng, 60) if t.user_id == OWNER]
    store = ChangingStore(trades={t.id: t for t in journal})
    expected, _ = await service_over(InMemoryTradeStore(trades=dict(store.trades))).positions_from_trades(
        OWNER, PositionFilter(), 100, ""
    )
    store.changes = 1  # once: the second lean read answers
    assert (await service_over(store).positions(OWNER, PositionFilter(), 100, ""))[0] == expected
    store.changes = 10  # always: after three lean reads, the whole trades answer
    assert (await service_over(store).positions(OWNER, PositionFilter(), 100, ""))[0] == expected
    assert store.changes == 7


@settings(max_examples=200, deadline=None)
@given(
    fills=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(1, 50) | st.integers(1, 50_000_000),
            st.integers(0, 5_000_000_000),
            st.integers(0, 30_000_000),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_the_integer_replay_totals_equal_the_position_book(fills: list[tuple[bool, int, int, int]]) -> None:
    moment = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    lean = [
        PositionFill(
            moment + timedelta(minutes=index),
            moment,
            0,
            f"t{index:03d}",
            Exchange.NSE,
            "INFY",
            Segment.EQUITY,
            Side.BUY if buying else Side.SELL,
            quantity,
            price,
            fees,
            1,
        )
        for index, (buying, quantity, price, fees) in enumerate(fills)
    ]
    book = PositionBook()
    for fill in lean:
        book.apply(
            Fill(fill.trade_id, fill.side, fill.quantity_micros, fill.price_micros, fill.fees_micros, fill.trade_time)
        )
    totals = replay_fills(lean)
    names = (
        "net_quantity", "buy_quantity", "buy_value", "sell_quantity", "sell_value", "total_fees", "fill_count",
        "first_time", "last_time", "realized", "open_value", "open_fees", "average_open_price",
    )  # fmt: skip
    assert {name: getattr(totals, name) for name in names} == {name: getattr(book, name) for name in names}


class CountingStore(InMemoryTradeStore):
    """A store that counts the reads of whole latest trades."""

    whole_reads: int = 0

    async def get_many(self, trade_ids: Sequence[str]) -> list[Trade]:
        self.whole_reads += 1
        return await super().get_many(trade_ids)


async def test_a_cached_page_is_summarized_once_a_day_and_again_after_a_write() -> None:
    store = CountingStore(trades={t.id: t for t in random_journal(random.Random(3), 80) if t.user_id == OWNER})
    clock = ManualClock()
    service = bootstrap(
        TradeSettings(token_secret="lean-positions-tests-secret-0123456789abcdef"),
        store=store,
        events=RecordingEventSink(),
        limiter=CountingRateLimiter(),
        clock=clock,
    )
    first = await service.positions(OWNER, PositionFilter(), 100, "")
    assert await service.positions(OWNER, PositionFilter(), 100, "") == first
    assert store.whole_reads == 1  # the same day, the same revision: nothing read whole again

    clock.advance(timedelta(days=1))  # break-evens are estimated for an exit on the new day
    assert await service.positions(OWNER, PositionFilter(), 100, "") == await service.positions_from_trades(
        OWNER, PositionFilter(), 100, ""
    )
    assert store.whole_reads == 2

    await service.create(OWNER, request_id(), fields(symbol="INFY", trade_time=clock.now - timedelta(hours=1)))
    after, _ = await service.positions(OWNER, PositionFilter(symbol="INFY"), 100, "")
    whole, _ = await service.positions_from_trades(OWNER, PositionFilter(symbol="INFY"), 100, "")
    assert after == whole
    assert store.whole_reads == 3
