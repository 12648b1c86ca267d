"""RechargeTrades against the real trade server: only changed COMPUTED charges are rewritten, with one event each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from tests.conftest import MeshUser
from tests.rpc import bearer, expect_failure
from tests.trade.conftest import RunningTrade, create, equity_trade
from tests.trade.watch_streams import collect
from trademesh.services.core.identity import ROLE_ADMIN
from trademesh.trade.v1 import trade_event_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
WHEN = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


async def test_recharge_rewrites_only_changed_computed_charges_once_with_one_event_each(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str], trade_db: Any
) -> None:
    user = await new_user()
    admin = bearer(service_token("ops-admin", (ROLE_ADMIN,)))
    computed = await create(trade.stub, user.metadata, equity_trade("INFY", when=WHEN))
    other = await create(trade.stub, user.metadata, equity_trade("TCS", when=WHEN))
    typed = await create(trade.stub, user.metadata, equity_trade("SBIN", when=WHEN, fees_micros=5_000_000))
    assert (computed.charges_source, typed.charges_source) == (
        trade_pb2.CHARGES_SOURCE_COMPUTED,
        trade_pb2.CHARGES_SOURCE_MANUAL,
    )
    # Every user, no range: freshly computed charges are what the schedule gives, so nothing is rewritten.
    everyone = await trade.stub.RechargeTrades(trade_service_pb2.RechargeTradesRequest(), metadata=admin)
    assert everyone.users_count >= 1
    assert everyone.examined_count >= 2
    call = trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    snapshot = await collect(call, 5)  # begin, three trades, end
    call.cancel()
    # A schedule later corrected had charged INFY wrongly (and the typed SBIN fee differs from any schedule).
    wrong = {"brokerage_micros": 1, **{k: 0 for k in ("stt_micros", "exchange_charges_micros")}}
    wrong |= {k: 0 for k in ("sebi_charges_micros", "stamp_duty_micros", "gst_micros", "other_micros")}
    await trade_db.trades.update_one({"_id": computed.id}, {"$set": {"fees_micros": 1, "fee_breakdown": wrong}})

    request = trade_service_pb2.RechargeTradesRequest(user_id=user.user_id, start_date="2026-03-01")
    first = await trade.stub.RechargeTrades(request, metadata=admin)
    second = await trade.stub.RechargeTrades(request, metadata=admin)
    resumed_call = trade.stub.WatchTrades(
        trade_service_pb2.WatchTradesRequest(resume_token=snapshot[4].snapshot_end.resume_token),
        metadata=user.metadata,
    )
    (event,) = await collect(resumed_call, 1)
    resumed_call.cancel()
    after = {
        t.id: t
        for t in (await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)).trades
    }

    assert (first.users_count, first.examined_count, first.updated_count, first.conflict_count) == (1, 2, 1, 0)
    assert (second.examined_count, second.updated_count) == (2, 0)  # idempotent: nothing left to change
    assert event.event.type == trade_event_pb2.TRADE_EVENT_TYPE_UPDATED
    assert event.event.trade.id == computed.id
    assert event.event.trade.version == 2
    assert event.event.trade.fees_micros == computed.fees_micros
    assert after[computed.id].version == 2
    assert after[other.id] == other  # unchanged charges: not written, same version
    assert after[typed.id] == typed  # MANUAL: never recharged


async def test_recharge_needs_an_admin_or_service_and_valid_dates(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    denied = await expect_failure(
        trade.stub.RechargeTrades(trade_service_pb2.RechargeTradesRequest(), metadata=user.metadata)
    )
    bad = await expect_failure(
        trade.stub.RechargeTrades(
            trade_service_pb2.RechargeTradesRequest(start_date="2026-13-01"), metadata=bearer(service_token())
        )
    )
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert (bad.code, list(bad.violations)) == (grpc.StatusCode.INVALID_ARGUMENT, ["start_date"])
