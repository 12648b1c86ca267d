"""ListTrades' read model end to end (decision 0350): a listed trade is the message GetTrade returns, for
trades with every kind of field, deleted ones included; another user lists none of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tests.conftest import MeshUser
from tests.trade.conftest import RunningTrade, create, equity_trade
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
M = 1_000_000


def option_trade(when: datetime) -> trade_pb2.Trade:
    message = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol="NIFTY26DEC24000CE", exchange=instrument_pb2.EXCHANGE_NFO),
        derivative=trade_pb2.DerivativeContract(
            underlying="NIFTY",
            expiry_date="2026-12-29",
            contract_type=trade_pb2.CONTRACT_TYPE_CALL,
            strike_price_micros=24_000 * M,
        ),
        side=trade_pb2.SIDE_SELL,
        quantity_micros=75 * M,
        price_micros=101 * M + 50_000,
        strategy="Theta",
        notes="weekly\nwrite",
    )
    message.trade_time.FromDatetime(when)
    return message


async def test_a_listed_page_is_what_get_trade_returns(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    other = await new_user()
    start = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)  # a Monday, 09:30 IST; before the option's expiry
    messages = [
        equity_trade(when=start, tags=["Breakout", "gap-up"], strategy="ORB", notes="entry on volume"),
        equity_trade(
            symbol="TCS",
            side=trade_pb2.SIDE_SELL,
            when=start + timedelta(minutes=5),
            fees_micros=25_100_000,
            fee_breakdown=trade_pb2.FeeBreakdown(brokerage_micros=20 * M, stt_micros=1_500_000, gst_micros=3_600_000),
        ),
        equity_trade(
            price="1500",
            when=start + timedelta(minutes=10),
            stop_loss_price_micros=1_480 * M,
            target_price_micros=1_600 * M,
            planned_risk_micros=2_000 * M,
            category=trade_pb2.TRADE_CATEGORY_SWING,
        ),
        option_trade(start + timedelta(minutes=15)),
        equity_trade(symbol="SBIN", when=start + timedelta(minutes=20)),
    ]
    created = [await create(trade.stub, user.metadata, message) for message in messages]
    deleted = created[-1]
    await trade.stub.DeleteTrade(
        trade_service_pb2.DeleteTradeRequest(id=deleted.id, etag=deleted.etag), metadata=user.metadata
    )

    listed: list[trade_pb2.Trade] = []
    token = ""
    while True:
        page = await trade.stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=2, page_token=token, show_deleted=True),
            metadata=user.metadata,
        )
        listed.extend(page.trades)
        token = page.next_page_token
        if not token:
            break
    fetched = [
        (await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=item.id), metadata=user.metadata)).trade
        for item in listed
    ]
    theirs = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(page_size=500, show_deleted=True), metadata=other.metadata
    )

    assert [item.id for item in listed] == [item.id for item in reversed(created)]
    assert [item.SerializeToString(deterministic=True) for item in listed] == [
        item.SerializeToString(deterministic=True) for item in fetched
    ]
    assert listed[0].status == trade_pb2.TRADE_STATUS_DELETED
    assert listed[0].HasField("purge_time")
    assert listed[1].HasField("derivative")
    assert listed[1].derivative.contract_type == trade_pb2.CONTRACT_TYPE_CALL
    assert listed[2].stop_loss_price_micros == 1_480 * M
    assert listed[2].planned_risk_micros == 2_000 * M
    assert listed[3].fee_breakdown.brokerage_micros == 20 * M
    assert list(listed[4].tags) == list(created[0].tags)
    assert listed[4].notes == "entry on volume"
    assert list(theirs.trades) == []
