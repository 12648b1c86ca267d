"""ReconcileTrades (service identity, idempotent upsert by broker key) and ListPositions (FIFO)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from tests.conftest import MeshUser
from tests.rpc import bearer, expect_failure
from tests.trade.conftest import DAY, RunningTrade, broker_trade, create, equity_trade, reconcile_request
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import import_pb2, position_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]


async def test_reconcile_creates_updates_and_never_duplicates(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    service = bearer(service_token())
    batch = reconcile_request(user.user_id, broker_trade("R1"), broker_trade("R2", side=trade_pb2.SIDE_SELL))

    first = await trade.stub.ReconcileTrades(batch, metadata=service)
    again = await trade.stub.ReconcileTrades(batch, metadata=service)
    changed = await trade.stub.ReconcileTrades(
        reconcile_request(
            user.user_id, broker_trade("R1", price=101_000_000, fees_micros=5_000_000), broker_trade("R1")
        ),
        metadata=service,
    )
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)

    assert (first.created_count, first.unchanged_count) == (2, 0)
    assert all(r.outcome == import_pb2.RECONCILE_OUTCOME_CREATED and r.trade_version == 1 for r in first.results)
    assert (again.created_count, again.unchanged_count) == (0, 2)
    assert [r.outcome for r in changed.results] == [
        import_pb2.RECONCILE_OUTCOME_UPDATED,
        import_pb2.RECONCILE_OUTCOME_FAILED,
    ]
    assert changed.results[1].error_reason == "DUPLICATE_IN_BATCH"
    assert len(listed.trades) == 2
    r1 = next(t for t in listed.trades if t.broker_trade_id == "R1")
    assert (r1.price_micros, r1.fees_micros, r1.version) == (101_000_000, 5_000_000, 2)
    assert r1.source == trade_pb2.TRADE_SOURCE_SYNC
    assert r1.broker_account_id == "acct-1"
    assert r1.category == trade_pb2.TRADE_CATEGORY_INTRADAY  # a buy and a sell on one day


async def test_a_fill_the_broker_books_under_another_symbol_is_updated_not_duplicated(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    # The broker key is (broker, exchange, IST day, side, trade id): a corrected symbol keeps the
    # trade's identity but moves it to another day group, which does not list it yet.
    user = await new_user()
    service = bearer(service_token())
    await trade.stub.ReconcileTrades(reconcile_request(user.user_id, broker_trade("M1")), metadata=service)
    renamed = broker_trade("M1")
    renamed.instrument.symbol = "ITC"

    result = await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, renamed, broker_trade("M2")), metadata=service
    )
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)

    assert [(r.outcome, r.trade_version) for r in result.results] == [
        (import_pb2.RECONCILE_OUTCOME_UPDATED, 2),
        (import_pb2.RECONCILE_OUTCOME_CREATED, 1),
    ]
    assert sorted((t.broker_trade_id, t.instrument.symbol) for t in listed.trades) == [("M1", "ITC"), ("M2", "SBIN")]


async def test_reconcile_infers_categories_across_batches_and_with_manual_trades(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    service = bearer(service_token())

    async def categories() -> dict[str, int]:
        listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=500), metadata=user.metadata)
        return {t.broker_trade_id or t.notes: t.category for t in listed.trades}

    # A day of buys only (accumulating): every fill is SWING, batch after batch.
    await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, *(broker_trade(f"B{n}") for n in range(40))), metadata=service
    )
    await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, *(broker_trade(f"B{n}") for n in range(40, 60))), metadata=service
    )
    one_sided = await categories()
    # A deleted sell changes nothing; the day's first live sell makes every inferred fill INTRADAY,
    # a manual trade given its own category keeps it.
    manual = await create(
        trade.stub,
        user.metadata,
        equity_trade(
            "SBIN", side=trade_pb2.SIDE_BUY, when=DAY, notes="manual", category=trade_pb2.TRADE_CATEGORY_LONG_TERM
        ),
    )
    deleted = await create(trade.stub, user.metadata, equity_trade("SBIN", side=trade_pb2.SIDE_SELL, when=DAY))
    await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=deleted.id), metadata=user.metadata)
    after_deleted = await categories()
    await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("S1", side=trade_pb2.SIDE_SELL)), metadata=service
    )
    two_sided = await categories()

    assert len(one_sided) == 60
    assert set(one_sided.values()) == {trade_pb2.TRADE_CATEGORY_SWING}
    assert {k: v for k, v in after_deleted.items() if k != "manual"} == one_sided
    assert manual.category == trade_pb2.TRADE_CATEGORY_LONG_TERM
    assert two_sided.pop("manual") == trade_pb2.TRADE_CATEGORY_LONG_TERM
    assert len(two_sided) == 61
    assert set(two_sided.values()) == {trade_pb2.TRADE_CATEGORY_INTRADAY}


async def test_reconcile_finds_the_live_opposite_trade_behind_newer_deleted_ones(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    service = bearer(service_token())
    live = await create(trade.stub, user.metadata, equity_trade("SBIN", side=trade_pb2.SIDE_SELL, when=DAY))
    # Five newer sells of the day, all deleted: inference reads the newest first, a few at a time.
    for minutes in range(1, 6):
        newer = await create(
            trade.stub,
            user.metadata,
            equity_trade("SBIN", side=trade_pb2.SIDE_SELL, when=DAY + timedelta(minutes=minutes)),
        )
        await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=newer.id), metadata=user.metadata)

    response = await trade.stub.ReconcileTrades(reconcile_request(user.user_id, broker_trade("B1")), metadata=service)
    bought = await trade.stub.GetTrade(
        trade_service_pb2.GetTradeRequest(id=response.results[0].trade_id), metadata=user.metadata
    )
    live_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=live.id), metadata=user.metadata)

    assert bought.trade.category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert live_now.trade.category == trade_pb2.TRADE_CATEGORY_INTRADAY


async def test_reconcile_keeps_journal_fields_and_deleted_trades(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    service = bearer(service_token())
    created = await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("K1"), broker_trade("K2")), metadata=service
    )
    k1, k2 = (r.trade_id for r in created.results)
    current = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=k1), metadata=user.metadata)
    await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=k1, notes="my notes"),
            update_mask=FieldMask(paths=["notes"]),
            etag=current.trade.etag,
        ),
        metadata=user.metadata,
    )
    read_only = await expect_failure(
        trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=k1, price_micros=1), update_mask=FieldMask(paths=["price_micros"]), etag="v2"
            ),
            metadata=user.metadata,
        )
    )
    await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=k2), metadata=user.metadata)

    result = await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("K1", price=99_000_000), broker_trade("K2", price=98_000_000)),
        metadata=service,
    )
    k1_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=k1), metadata=user.metadata)
    k2_now = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=k2), metadata=user.metadata)

    assert (read_only.code, read_only.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BROKER_FIELD_READ_ONLY")
    assert [r.outcome for r in result.results] == [
        import_pb2.RECONCILE_OUTCOME_UPDATED,
        import_pb2.RECONCILE_OUTCOME_SKIPPED_DELETED,
    ]
    assert (k1_now.trade.price_micros, k1_now.trade.notes) == (99_000_000, "my notes")
    assert k2_now.trade.status == trade_pb2.TRADE_STATUS_DELETED
    assert k2_now.trade.price_micros == 100_000_000


async def test_reconcile_needs_a_service_identity_and_valid_items(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    as_user = await expect_failure(
        trade.stub.ReconcileTrades(reconcile_request(user.user_id, broker_trade("X")), metadata=user.metadata)
    )
    not_service = await expect_failure(
        trade.stub.ReconcileTrades(
            reconcile_request(user.user_id, broker_trade("X")), metadata=bearer(service_token(roles=("admin",)))
        )
    )
    empty = await expect_failure(
        trade.stub.ReconcileTrades(
            trade_service_pb2.ReconcileTradesRequest(user_id=user.user_id, broker=instrument_pb2.BROKER_MANUAL),
            metadata=bearer(service_token()),
        )
    )
    bad_item = await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("Y", price=0), broker_trade("Z")), metadata=bearer(service_token())
    )

    assert (as_user.code, as_user.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert not_service.code == grpc.StatusCode.PERMISSION_DENIED
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"broker", "broker_account_id", "trades"} <= set(empty.violations)
    assert [r.outcome for r in bad_item.results] == [
        import_pb2.RECONCILE_OUTCOME_FAILED,
        import_pb2.RECONCILE_OUTCOME_CREATED,
    ]
    assert bad_item.results[0].error_reason == "INVALID_FIELD"
    assert "trades[0].price_micros" in bad_item.results[0].error_message
    assert (bad_item.failed_count, bad_item.created_count) == (1, 1)


async def test_positions_fifo_with_short_flip_and_fees(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    day = datetime(2024, 3, 11, 4, 0, tzinfo=UTC)
    fills = [
        ("INFY", trade_pb2.SIDE_BUY, 10, "100", 10),
        ("INFY", trade_pb2.SIDE_BUY, 10, "110", 10),
        ("INFY", trade_pb2.SIDE_SELL, 25, "120", 25),  # closes 20, opens a 5-unit short
        ("TCS", trade_pb2.SIDE_BUY, 4, "200", 0),
        ("TCS", trade_pb2.SIDE_SELL, 4, "190", 0),
    ]
    for index, (symbol, side, quantity, price, fees) in enumerate(fills):
        await create(
            trade.stub,
            user.metadata,
            equity_trade(
                symbol,
                side=side,
                quantity=quantity,
                price=price,
                when=day + timedelta(days=index),
                fees_micros=fees * 1_000_000,
                # The fees of this journal are typed (TCS: typed as zero), not computed.
                charges_source=trade_pb2.CHARGES_SOURCE_MANUAL,
            ),
        )

    everything = await trade.stub.ListPositions(trade_service_pb2.ListPositionsRequest(), metadata=user.metadata)
    open_only = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(status=position_pb2.POSITION_STATUS_OPEN), metadata=user.metadata
    )
    first_page = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(page_size=1), metadata=user.metadata
    )
    second_page = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(page_size=1, page_token=first_page.next_page_token),
        metadata=user.metadata,
    )

    tcs, infy = everything.positions  # newest last trade first
    assert infy.instrument.symbol == "INFY"
    assert infy.status == position_pb2.POSITION_STATUS_OPEN
    assert infy.net_quantity_micros == -5_000_000
    assert infy.average_open_price_micros == 120_000_000
    assert infy.open_value_micros == 600_000_000
    assert infy.open_fees_micros == 5_000_000
    # 10 x 20 + 10 x 10 = 300, minus fees 10 + 10 + 20 (of 25) = 260.
    assert infy.realized_pnl_micros == 260_000_000
    assert (infy.buy_quantity_micros, infy.sell_quantity_micros) == (20_000_000, 25_000_000)
    assert infy.total_fees_micros == 45_000_000
    assert infy.trade_count == 3
    assert tcs.status == position_pb2.POSITION_STATUS_CLOSED
    assert tcs.realized_pnl_micros == -40_000_000
    assert (tcs.average_open_price_micros, tcs.open_value_micros) == (0, 0)
    assert [p.instrument.symbol for p in open_only.positions] == ["INFY"]
    assert [p.instrument.symbol for p in [*first_page.positions, *second_page.positions]] == ["TCS", "INFY"]
    assert second_page.next_page_token == ""


async def test_reconcile_of_a_fill_already_imported_from_a_tradebook_updates_it_instead_of_a_second_trade(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    service = bearer(service_token())
    # The same fill entered first with its broker ids (as a tradebook import does), under its own trade id.
    imported = equity_trade(
        "SBIN",
        quantity=10,
        price="100",
        when=DAY,
        broker=instrument_pb2.BROKER_ZERODHA,
        broker_trade_id="R9",
    )
    first = await create(trade.stub, user.metadata, imported)

    synced = await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("R9", fees_micros=7_000_000)), metadata=service
    )
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)

    (result,) = synced.results
    assert result.outcome == import_pb2.RECONCILE_OUTCOME_UPDATED
    assert result.trade_id == first.id
    assert [t.id for t in listed.trades] == [first.id]
    assert listed.trades[0].fees_micros == 7_000_000
