"""Helpers of the trade use-case tests: users, a market-open clock, trade fields, request ids, import files."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.core.identity import ROLE_SERVICE, Principal
from trademesh.services.trade.import_formats import parse_file
from trademesh.services.trade.model import (
    Category,
    ImportResult,
    TradeFields,
)
from trademesh.services.trade.service import TradeService

ALICE = "user-alice"
BOB = "user-bob"
MARKET_OPEN = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 09:30 IST
SERVICE = Principal("sync", frozenset({ROLE_SERVICE}), "t", "s", MARKET_OPEN + timedelta(days=1))


def fields(**changes: object) -> TradeFields:
    base = TradeFields(
        symbol="INFY",
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity_micros=10_000_000,
        price_micros=1_500_000_000,
        trade_time=MARKET_OPEN,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def request_id() -> str:
    return str(uuid.uuid4())


GENERIC = (
    b"symbol,exchange,side,quantity,price,trade_time,trade_id\n"
    b"INFY,NSE,BUY,10,1500.5,2026-03-02 09:30:00,G1\n"
    b"INFY,NSE,SELL,10,1510,2026-03-02 10:30:00,G2\n"
    b"TCS,NSE,BUY,5,3500,2026-03-02 11:00:00,\n"
)


async def import_file(
    service: TradeService,
    content: bytes,
    rid: str,
    *,
    format_name: str = "IMPORT_FORMAT_GENERIC_CSV",
    dry_run: bool = False,
) -> ImportResult:
    return await service.import_rows(
        ALICE,
        rid,
        content,
        format_name,
        lambda: parse_file(format_name, content, ALICE),
        dry_run=dry_run,
        broker_account_id="",
        source_hint="test.csv",
    )


def broker_fill(trade_id: str, **changes: object) -> tuple[TradeFields, bool, Category | None]:
    return (fields(broker_trade_id=trade_id, **changes), False, None)


SAME_MINUTE = (
    b"symbol,exchange,side,quantity,price,trade_time\n"
    b"SBIN,NSE,BUY,5,800,2026-03-02 10:00:00\n"
    b"SBIN,NSE,BUY,5,810,2026-03-02 10:30:00\n"
    b"SBIN,NSE,SELL,10,820,2026-03-02 10:30:00\n"
)
