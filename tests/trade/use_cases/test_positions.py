"""The trade use cases against in-memory fakes of their ports: positions, execution order, fee splits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.trade.fakes import InMemoryTradeStore
from tests.trade.use_cases.helpers import (
    ALICE,
    BOB,
    MARKET_OPEN,
    SAME_MINUTE,
    SERVICE,
    broker_fill,
    fields,
    import_file,
    request_id,
)
from trademesh.kernel.errors import (
    InvalidArgument,
)
from trademesh.kernel.instruments import Side
from trademesh.services.trade.model import (
    Broker,
    ChargesSource,
    PositionFilter,
    execution_sequences,
    journal_order,
)
from trademesh.services.trade.service import TradeService


async def test_positions_replay_fills_first_in_first_out(service: TradeService) -> None:
    for minute, side, quantity, price in ((0, Side.BUY, 10, 100), (1, Side.BUY, 10, 110), (2, Side.SELL, 15, 120)):
        await service.create(
            ALICE,
            request_id(),
            fields(
                side=side,
                quantity_micros=quantity * 1_000_000,
                price_micros=price * 1_000_000,
                trade_time=MARKET_OPEN + timedelta(minutes=minute),
                # Charges typed as zero: this test is about FIFO arithmetic, not charges.
                charges_source=ChargesSource.MANUAL,
            ),
        )
    (position,), token = await service.positions(ALICE, PositionFilter(), 0, "")
    assert token == ""
    assert position.net_quantity_micros == 5_000_000
    assert position.average_open_price_micros == 110_000_000
    assert position.realized_pnl_micros == (10 * 20 + 5 * 10) * 1_000_000
    assert (position.buy_quantity_micros, position.sell_quantity_micros, position.trade_count) == (
        20_000_000,
        15_000_000,
        3,
    )
    assert position.is_open


async def test_positions_leave_out_deleted_trades_and_filter_open_ones(service: TradeService) -> None:
    buy = await service.create(ALICE, request_id(), fields())
    await service.create(ALICE, request_id(), fields(side=Side.SELL, trade_time=MARKET_OPEN + timedelta(minutes=1)))
    await service.create(ALICE, request_id(), fields(symbol="TCS"))
    closed, _ = await service.positions(ALICE, PositionFilter(open_only=False), 0, "")
    assert [p.symbol for p in closed] == ["INFY"]
    await service.delete(ALICE, buy.id, "")
    (short, tcs), _ = await service.positions(ALICE, PositionFilter(open_only=True), 0, "")
    assert (short.symbol, short.net_quantity_micros) == ("INFY", -10_000_000)
    assert tcs.symbol == "TCS"


async def test_positions_page_with_tokens(service: TradeService) -> None:
    for minute, symbol in enumerate(("INFY", "TCS", "WIPRO")):
        await service.create(
            ALICE, request_id(), fields(symbol=symbol, trade_time=MARKET_OPEN + timedelta(minutes=minute))
        )
    first, token = await service.positions(ALICE, PositionFilter(), 2, "")
    second, last = await service.positions(ALICE, PositionFilter(), 2, token)
    assert [p.symbol for p in [*first, *second]] == ["WIPRO", "TCS", "INFY"]
    assert last == ""
    with pytest.raises(InvalidArgument):
        await service.positions(BOB, PositionFilter(), 2, token)


async def test_an_import_numbers_its_rows_in_file_order_and_positions_replay_them_so(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    await import_file(service, SAME_MINUTE, request_id())
    trades = sorted(store.trades.values(), key=journal_order)
    assert [(t.exec_seq, t.fields.side, t.fields.price_micros // 1_000_000) for t in trades] == [
        (1, Side.BUY, 800),
        (2, Side.BUY, 810),
        (3, Side.SELL, 820),
    ]
    assert len({t.create_time for t in trades}) == 1
    [position] = (await service.positions(ALICE, PositionFilter(), 0, ""))[0]
    # One round trip: gross 150 (decision 0110), net of every row's computed charges (the file has none).
    assert all(t.fields.charges_source is ChargesSource.COMPUTED for t in trades)
    fees = sum(t.fields.fees_micros for t in trades)
    assert fees > 0
    assert (position.net_quantity_micros, position.realized_pnl_micros) == (0, 150_000_000 - fees)


async def test_numeric_broker_trade_ids_order_an_import_and_other_ids_keep_row_order() -> None:
    assert execution_sequences(["1003", "1001", "1002"]) == [3, 1, 2]
    assert execution_sequences(["1003", "X1", "1002"]) == [1, 2, 3]
    assert execution_sequences(["", "", ""]) == [1, 2, 3]
    assert execution_sequences([]) == []


async def test_reconcile_numbers_new_trades_by_broker_trade_id(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    items = [broker_fill("5002", side=Side.SELL), broker_fill("5001")]
    await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", items)
    by_id = {t.fields.broker_trade_id: t.exec_seq for t in store.trades.values()}
    assert by_id == {"5001": 1, "5002": 2}


async def test_a_trade_crossing_zero_splits_its_fee_in_whole_micros_by_largest_remainder(
    service: TradeService,
) -> None:
    # Decision 0111: long 1, sell 2 with a 7-micro fee → 4 micros close the long, 3 stay on the new short.
    # The buy's charges are typed as zero (MANUAL): only the sell's 7 micros are split here.
    await service.create(
        ALICE,
        request_id(),
        fields(quantity_micros=1_000_000, price_micros=100_000_000, charges_source=ChargesSource.MANUAL),
    )
    await service.create(
        ALICE,
        request_id(),
        fields(
            side=Side.SELL,
            quantity_micros=2_000_000,
            price_micros=110_000_000,
            fees_micros=7,
            trade_time=MARKET_OPEN + timedelta(minutes=1),
        ),
    )
    [position] = (await service.positions(ALICE, PositionFilter(), 0, ""))[0]
    assert (position.net_quantity_micros, position.open_fees_micros) == (-1_000_000, 3)
    assert position.realized_pnl_micros == 10_000_000 - 4
