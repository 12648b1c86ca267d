"""A large trader's journal for the positions benchmark and test: fills over equity, futures and options.

`positions_trade(namespace, user_id, index, instruments)` is the user's `index`-th fill: instruments in
turn (about 60 % NSE stocks, 25 % NFO futures, 15 % NFO options, the options sold short first), buys
and sells in uneven sizes so positions open, partly exit, cross zero and close; 13 minutes apart from
2020-01-01 so 100,000 fills span about two and a half years; two broker accounts; fees typed. Documents
come from the store's `trade_to_document` (through the shared pieces of `trademesh.devstack.journal`), so the
shape cannot drift from what the trade service writes. Dev-only (benchmarks and tests), like the rest of
`trademesh.devstack`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from trademesh.devstack.journal import document_batches, insert_batches, journal_trade
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment, Side
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    Source,
    Trade,
    TradeFields,
)

__all__ = ["ACCOUNTS", "START", "load_positions_journal", "positions_trade"]

Document = dict[str, Any]
START = datetime(2020, 1, 1, 3, 45, tzinfo=UTC)
ACCOUNTS = ("ZD1001", "ZD2002")
_STOCKS = ["INFY", "TCS", "RELIANCE", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "WIPRO", "AXISBANK"]
_M = 1_000_000


def _instrument(number: int, instruments: int) -> tuple[str, Exchange, Segment, Derivative | None]:
    share = number / instruments
    if share < 0.6:
        stock = _STOCKS[number % len(_STOCKS)]
        return (stock if number < len(_STOCKS) else f"{stock}{number}"), Exchange.NSE, Segment.EQUITY, None
    expiry = f"2026-{1 + number % 12:02d}-26"
    if share < 0.85:
        future = Derivative("NIFTY", expiry, ContractType.FUTURE, 0)
        return f"NIFTY26{number:03d}FUT", Exchange.NFO, Segment.FUTURES, future
    kind = ContractType.CALL if number % 2 else ContractType.PUT
    strike = (20_000 + 100 * number) * _M
    option = Derivative("NIFTY", expiry, kind, strike)
    return f"NIFTY26{number:03d}{kind.value[0]}E", Exchange.NFO, Segment.OPTIONS, option


def positions_trade(namespace: str, user_id: str, index: int, instruments: int) -> Trade:
    """The user's `index`-th fill over `instruments` instruments (its id derived from namespace, user, index)."""
    number = index % instruments
    round_number = index // instruments
    symbol, exchange, segment, derivative = _instrument(number, instruments)
    # Two buys then a larger sell: positions open, partly exit, and now and then cross zero.
    buying = round_number % 3 != 2
    if segment is Segment.OPTIONS:
        buying = not buying  # option writers: short first
    quantity = (1 + (index * 7) % 5) * (25 if derivative else 1) * (2 if not buying else 1)
    moment = START + timedelta(minutes=13 * index)
    fields = TradeFields(
        symbol=symbol,
        exchange=exchange,
        segment=segment,
        derivative=derivative,
        side=Side.BUY if buying else Side.SELL,
        quantity_micros=quantity * _M,
        price_micros=(100 + (index * 31) % 900) * _M + 50_000,
        fees_micros=(20 + index % 7) * _M + (index % 1000) * 1000,
        charges_source=ChargesSource.MANUAL,
        trade_time=moment,
        category=Category.INTRADAY if index % 4 == 0 else Category.SWING,
        broker=Broker.ZERODHA,
        broker_account_id=ACCOUNTS[index % 2],
    )
    recorded = moment + timedelta(seconds=1)
    return journal_trade(namespace, user_id, index, fields, source=Source.IMPORT, recorded=recorded, exec_seq=index % 3)


async def load_positions_journal(
    collection: AsyncCollection[Document], namespace: str, user_id: str, count: int, instruments: int
) -> int:
    """Insert the user's first `count` fills (insert_many in batches); return how many were inserted."""

    def fill(user: str, index: int) -> Trade:
        return positions_trade(namespace, user, index, instruments)

    return await insert_batches(collection, document_batches(fill, [user_id], count))
