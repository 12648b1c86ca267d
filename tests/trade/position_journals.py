"""Random journals for the differential tests of ListPositions (lean fills vs whole trades, decision 0370).

A journal mixes what positions must get right: partial exits, shorts and crossings of zero, equity and
F&O (futures, calls, puts) on NSE, BSE and NFO, fractional quantities, settlement fills, deleted trades,
two broker accounts, two users, and fills that tie on execution time, create time and exec_seq.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment, Side
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    PositionFilter,
    Source,
    Status,
    Trade,
    TradeFields,
)

M = 1_000_000
OWNER = "user-owner"
OTHER = "user-other"
ACCOUNTS = ("ACC1", "ACC2")
BASE = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
INSTRUMENTS: list[tuple[str, Exchange, Segment, Derivative | None]] = [
    ("INFY", Exchange.NSE, Segment.EQUITY, None),
    ("INFY", Exchange.BSE, Segment.EQUITY, None),
    ("TCS", Exchange.NSE, Segment.EQUITY, None),
    ("NIFTY26MARFUT", Exchange.NFO, Segment.FUTURES, Derivative("NIFTY", "2026-03-26", ContractType.FUTURE, 0)),
    (
        "NIFTY26MAR25000CE",
        Exchange.NFO,
        Segment.OPTIONS,
        Derivative("NIFTY", "2026-03-26", ContractType.CALL, 25_000 * M),
    ),
    (
        "NIFTY26MAR24000PE",
        Exchange.NFO,
        Segment.OPTIONS,
        Derivative("NIFTY", "2026-03-26", ContractType.PUT, 24_000 * M),
    ),
]


def random_journal(rng: random.Random, count: int) -> list[Trade]:
    """`count` trades of OWNER and OTHER (about one in five OTHER's) with the mix above."""
    trades: list[Trade] = []
    for index in range(count):
        symbol, exchange, segment, derivative = rng.choice(INSTRUMENTS)
        fractional = segment is Segment.EQUITY and rng.random() < 0.1
        quantity = rng.randint(1, 40) * M + (rng.randint(1, 999_999) if fractional else 0)
        moment = BASE + timedelta(minutes=rng.randint(0, 60 * 24 * 20))
        created = moment + timedelta(seconds=rng.choice((0, 1, 1, 5)))
        settlement = derivative is not None and rng.random() < 0.05
        fields = TradeFields(
            symbol=symbol,
            exchange=exchange,
            segment=segment,
            derivative=derivative,
            side=rng.choice((Side.BUY, Side.SELL)),
            quantity_micros=quantity,
            price_micros=rng.randint(0, 3000) * M + rng.choice((0, 50_000, 5)),
            fees_micros=rng.choice((0, rng.randint(1, 50 * M))),
            charges_source=ChargesSource.MANUAL,
            trade_time=moment,
            category=rng.choice((None, Category.INTRADAY, Category.SWING)),
            broker=rng.choice((Broker.MANUAL, Broker.ZERODHA)),
            broker_account_id=rng.choice(ACCOUNTS),
        )
        deleted = rng.random() < 0.1
        trades.append(
            Trade(
                id=f"t{rng.randint(0, 10**9):010d}-{index:05d}",
                user_id=OTHER if rng.random() < 0.2 else OWNER,
                fields=fields,
                category_inferred=False,
                source=Source.SETTLEMENT if settlement else rng.choice((Source.MANUAL, Source.IMPORT)),
                status=Status.DELETED if deleted else Status.ACTIVE,
                version=rng.randint(1, 4),
                create_time=created,
                update_time=created,
                delete_time=created if deleted else None,
                exec_seq=rng.choice((0, 0, 1, 2, 3)),
            )
        )
    return trades


def random_filter(rng: random.Random) -> PositionFilter:
    """A ListPositions filter: each field set about one time in four."""
    symbol, exchange, segment, _ = rng.choice(INSTRUMENTS)
    return PositionFilter(
        open_only=rng.choice((None, None, True, False)),
        symbol=symbol if rng.random() < 0.25 else "",
        exchange=exchange if rng.random() < 0.25 else None,
        segment=segment if rng.random() < 0.25 else None,
        broker_account_id=rng.choice(ACCOUNTS) if rng.random() < 0.25 else "",
    )
