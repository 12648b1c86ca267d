"""Positions: each instrument's FIFO position, replayed from the user's ACTIVE trades.

ListPositions replays the user's whole journal (10^4-10^5 trades for an active trader), so it reads the
trades as lean fills (`TradeStore.position_fills`: only the fields FIFO needs, the exchange and symbol
filters in the query), replays them in integers (`position_replay`), keeps the replay while the user's
journal revision stays the same (`position_cache`), and reads in full only the latest trade of each
position on the page, which the position's derivative and break-even come from (decision 0370).
`positions_from_trades`, the replay of whole trades, is the reference it must agree with, and the fallback
when the latest trades keep changing under the read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from trademesh.kernel.calendar import ist_day
from trademesh.kernel.instruments import EXCHANGE_ORDER
from trademesh.kernel.lots import Fill, PositionBook, round_micros
from trademesh.kernel.requests import check_page_size
from trademesh.services.core.page_tokens import page_token_invalid
from trademesh.services.trade.charging import break_even
from trademesh.services.trade.model import (
    Position,
    PositionFilter,
    Status,
    Trade,
    TradeFields,
    content_hash,
    journal_order,
    user_tag,
)
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.service.base import (
    DEFAULT_POSITION_PAGE_SIZE,
    MAX_POSITION_PAGE_SIZE,
    UseCases,
    epoch_micros,
)
from trademesh.services.trade.service.lot_sizes import LOT_EXCHANGES
from trademesh.services.trade.service.position_cache import CachedReplay, PositionCache, ReadKey, Replayed
from trademesh.services.trade.service.position_replay import FifoTotals, group_fills, replay_fills

#: A page order key: (-last trade time in epoch micros, exchange order, symbol).
OrderKey = tuple[int, int, str]
#: Lean reads tried before falling back to whole trades, when a page's latest trade changed in between.
LEAN_ATTEMPTS = 3


class PositionUseCases(UseCases):
    """List the user's positions."""

    #: Replayed journals by read (made on first use: `TradeService` is a dataclass of its ports).
    _position_cache: PositionCache | None = None

    async def positions(
        self, user_id: str, filters: PositionFilter, page_size: int, page_token: str
    ) -> tuple[list[Position], str]:
        """Compute the user's FIFO positions; one page, ordered by last trade time desc, exchange, symbol."""
        size = check_page_size(page_size, DEFAULT_POSITION_PAGE_SIZE, MAX_POSITION_PAGE_SIZE)
        after = self._position_cursor(user_id, filters, page_token)
        today = ist_day(self.clock())
        for _ in range(LEAN_ATTEMPTS):
            page = await self._lean_page(user_id, filters, size, after, today)
            if page is not None:
                return self._paged(user_id, filters, page, size)
        return self._paged(user_id, filters, await self._whole_trades_page(user_id, filters, after, today), size)

    async def positions_from_trades(
        self, user_id: str, filters: PositionFilter, page_size: int, page_token: str
    ) -> tuple[list[Position], str]:
        """`positions` replayed from whole `Trade`s: the reference the lean read must agree with."""
        size = check_page_size(page_size, DEFAULT_POSITION_PAGE_SIZE, MAX_POSITION_PAGE_SIZE)
        after = self._position_cursor(user_id, filters, page_token)
        today = ist_day(self.clock())
        return self._paged(user_id, filters, await self._whole_trades_page(user_id, filters, after, today), size)

    def _position_cursor(self, user_id: str, filters: PositionFilter, page_token: str) -> OrderKey | None:
        if not page_token:
            return None
        payload = self.codec.decode(page_token)
        if (
            payload is None
            or payload.get("k") != "positions"
            or payload.get("u") != user_tag(user_id)
            or payload.get("f") != content_hash(filters)[:16]
        ):
            raise page_token_invalid()
        try:
            return (int(str(payload["t"])), int(str(payload["e"])), str(payload["s"]))
        except (KeyError, ValueError):
            raise page_token_invalid() from None

    def _paged(
        self, user_id: str, filters: PositionFilter, positions: list[Position], size: int
    ) -> tuple[list[Position], str]:
        """Cut the ordered positions after the cursor to one page and its next token."""
        if len(positions) <= size:
            return positions, ""
        positions = positions[:size]
        key = position_order(positions[-1])
        token = self.codec.encode(
            {
                "k": "positions",
                "u": user_tag(user_id),
                "f": content_hash(filters)[:16],
                "t": key[0],
                "e": key[1],
                "s": key[2],
            }
        )
        return positions, token

    async def _lean_page(
        self, user_id: str, filters: PositionFilter, size: int, after: OrderKey | None, today: date
    ) -> list[Position] | None:
        """Return up to size + 1 positions after the cursor, in page order, from lean fills; None when a
        latest trade changed since the fills were read (the caller reads again)."""
        replay = await self._replayed_positions(user_id, filters)
        candidates: list[tuple[OrderKey, FifoTotals, PositionFill]] = []
        for totals, latest in replay.replayed:
            if filters.segment is not None and latest.segment is not filters.segment:
                continue
            if filters.open_only is not None and (totals.net_quantity != 0) != filters.open_only:
                continue
            assert totals.last_time is not None
            key = (-epoch_micros(totals.last_time), EXCHANGE_ORDER[latest.exchange], latest.symbol)
            if after is None or key > after:
                candidates.append((key, totals, latest))
        candidates.sort(key=lambda candidate: candidate[0])
        del candidates[size + 1 :]
        summarized = replay.summarized_on(today)
        missing = [latest.trade_id for _, _, latest in candidates if latest.trade_id not in summarized]
        if missing:
            trades = {trade.id: trade for trade in await self.store.get_many(missing)}
            for _, totals, latest in candidates:
                if latest.trade_id in summarized:
                    continue
                trade = trades.get(latest.trade_id)
                if trade is None or trade.version != latest.version or trade.status is not Status.ACTIVE:
                    return None
                summarized[latest.trade_id] = position_of(totals, trade.fields, today)
        return [self._with_lot_size(summarized[latest.trade_id]) for _, _, latest in candidates]

    async def _replayed_positions(self, user_id: str, filters: PositionFilter) -> CachedReplay:
        """Return each instrument's replayed totals and latest fill: from the cache while the user's journal
        revision is the one they were read under, else from a lean read (then cached)."""
        cache = self._position_cache
        if cache is None:
            cache = self._position_cache = PositionCache()
        key: ReadKey = (user_id, filters.broker_account_id, filters.exchange, filters.symbol)
        # The revision is read before the fills: a write finishing after this moves it on.
        revision = await self.store.journal_revision(user_id)
        now = self.clock()
        replay = cache.get(key, revision, now)
        if replay is None:
            fills = await self.store.position_fills(
                user_id, filters.broker_account_id, filters.exchange, filters.symbol
            )
            replayed: list[Replayed] = []
            for group in group_fills(fills).values():
                group.sort()  # journal order
                replayed.append((replay_fills(group), group[-1]))
            replay = CachedReplay(replayed)
            cache.put(key, revision, now, replay)
        return replay

    async def _whole_trades_page(
        self, user_id: str, filters: PositionFilter, after: OrderKey | None, today: date
    ) -> list[Position]:
        """Return every position after the cursor, in page order, replayed from whole trades."""
        trades = await self.store.active_trades(user_id, filters.broker_account_id)
        groups: dict[tuple[str, str], list[Trade]] = defaultdict(list)
        for trade in trades:
            assert trade.fields.exchange is not None
            if filters.symbol and trade.fields.symbol != filters.symbol:
                continue
            if filters.exchange and trade.fields.exchange is not filters.exchange:
                continue
            groups[(trade.fields.exchange.value, trade.fields.symbol)].append(trade)
        positions = [self._with_lot_size(compute_position(group, today)) for group in groups.values()]
        positions = [
            p
            for p in positions
            if (filters.segment is None or p.segment is filters.segment)
            and (filters.open_only is None or p.is_open == filters.open_only)
        ]
        positions.sort(key=position_order)
        if after is not None:
            positions = [p for p in positions if position_order(p) > after]
        return positions

    def _with_lot_size(self, position: Position) -> Position:
        if self.instruments is None or position.exchange not in LOT_EXCHANGES:
            return position
        return replace(position, lot_size=self.instruments.lot_size(position.exchange.value, position.symbol))


def position_order(position: Position) -> OrderKey:
    """Return a position's page order key: last trade time desc, exchange, symbol."""
    return (-epoch_micros(position.last_trade_time), EXCHANGE_ORDER[position.exchange], position.symbol)


def compute_position(trades: Sequence[Trade], exit_day: date | None = None) -> Position:
    """Replay one instrument's ACTIVE trades with FIFO and summarize them.

    With `exit_day`, an open position gets its break-even price with exit charges estimated on that day.
    """
    ordered = sorted(trades, key=journal_order)
    book = PositionBook()
    for trade in ordered:
        fields = trade.fields
        assert fields.side is not None
        book.apply(
            Fill(
                trade.id,
                fields.side,
                fields.quantity_micros,
                fields.price_micros,
                fields.fees_micros,
                fields.trade_time,
            )
        )
    return position_of(book, ordered[-1].fields, exit_day)


def position_of(book: PositionBook | FifoTotals, latest: TradeFields, exit_day: date | None = None) -> Position:
    """Summarize an instrument's replayed book; `latest` is its latest trade in journal order."""
    assert latest.exchange is not None
    assert latest.segment is not None
    assert book.first_time is not None
    assert book.last_time is not None
    flat = book.net_quantity == 0
    return Position(
        symbol=latest.symbol,
        exchange=latest.exchange,
        segment=latest.segment,
        derivative=latest.derivative,
        net_quantity_micros=book.net_quantity,
        average_open_price_micros=0 if flat else round_micros(book.average_open_price),
        open_value_micros=0 if flat else round_micros(book.open_value),
        open_fees_micros=0 if flat else round_micros(book.open_fees),
        realized_pnl_micros=round_micros(book.realized),
        buy_quantity_micros=book.buy_quantity,
        buy_value_micros=round_micros(book.buy_value),
        sell_quantity_micros=book.sell_quantity,
        sell_value_micros=round_micros(book.sell_value),
        total_fees_micros=book.total_fees,
        trade_count=book.fill_count,
        first_trade_time=book.first_time,
        last_trade_time=book.last_time,
        break_even_price_micros=None
        if flat or exit_day is None
        else break_even(latest, book.net_quantity, book.open_value, book.open_fees, exit_day),
    )
