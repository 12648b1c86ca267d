"""Positions: each instrument's FIFO position, replayed from the user's ACTIVE trades."""

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
from trademesh.services.trade.model import Position, PositionFilter, Trade, content_hash, journal_order, user_tag
from trademesh.services.trade.service.base import (
    DEFAULT_POSITION_PAGE_SIZE,
    MAX_POSITION_PAGE_SIZE,
    UseCases,
    epoch_micros,
)
from trademesh.services.trade.service.lot_sizes import LOT_EXCHANGES


class PositionUseCases(UseCases):
    """List the user's positions."""

    async def positions(
        self, user_id: str, filters: PositionFilter, page_size: int, page_token: str
    ) -> tuple[list[Position], str]:
        """Compute the user's FIFO positions; one page, ordered by last trade time desc, exchange, symbol."""
        size = check_page_size(page_size, DEFAULT_POSITION_PAGE_SIZE, MAX_POSITION_PAGE_SIZE)
        filter_tag = content_hash(filters)[:16]
        after: tuple[int, int, str] | None = None
        if page_token:
            payload = self.codec.decode(page_token)
            if (
                payload is None
                or payload.get("k") != "positions"
                or payload.get("u") != user_tag(user_id)
                or payload.get("f") != filter_tag
            ):
                raise page_token_invalid()
            try:
                after = (int(str(payload["t"])), int(str(payload["e"])), str(payload["s"]))
            except (KeyError, ValueError):
                raise page_token_invalid() from None
        trades = await self.store.active_trades(user_id, filters.broker_account_id)
        groups: dict[tuple[str, str], list[Trade]] = defaultdict(list)
        for trade in trades:
            assert trade.fields.exchange is not None
            if filters.symbol and trade.fields.symbol != filters.symbol:
                continue
            if filters.exchange and trade.fields.exchange is not filters.exchange:
                continue
            groups[(trade.fields.exchange.value, trade.fields.symbol)].append(trade)
        today = ist_day(self.clock())
        positions = [self._with_lot_size(compute_position(group, today)) for group in groups.values()]
        positions = [
            p
            for p in positions
            if (filters.segment is None or p.segment is filters.segment)
            and (filters.open_only is None or p.is_open == filters.open_only)
        ]

        def order(position: Position) -> tuple[int, int, str]:
            return (-epoch_micros(position.last_trade_time), EXCHANGE_ORDER[position.exchange], position.symbol)

        positions.sort(key=order)
        if after is not None:
            positions = [p for p in positions if order(p) > after]
        next_token = ""
        if len(positions) > size:
            positions = positions[:size]
            key = order(positions[-1])
            next_token = self.codec.encode(
                {"k": "positions", "u": user_tag(user_id), "f": filter_tag, "t": key[0], "e": key[1], "s": key[2]}
            )
        return positions, next_token

    def _with_lot_size(self, position: Position) -> Position:
        if self.instruments is None or position.exchange not in LOT_EXCHANGES:
            return position
        return replace(position, lot_size=self.instruments.lot_size(position.exchange.value, position.symbol))


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
    latest = ordered[-1].fields
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
