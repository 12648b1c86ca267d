"""The trader's plan on a trade (decision 0230) through the real trade service and FerretDB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, create, equity_trade, new_request_id
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]


async def test_a_plan_is_stored_validated_and_edited_through_the_mask(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    created = await create(
        trade.stub,
        user.metadata,
        equity_trade(
            price="1500",
            stop_loss_price_micros=1_480_000_000,
            target_price_micros=1_600_000_000,
            planned_risk_micros=2_000_000_000,
        ),
    )
    fetched = (
        await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=user.metadata)
    ).trade
    wrong_side = await expect_failure(
        trade.stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(
                request_id=new_request_id(),
                trade=equity_trade(side=trade_pb2.SIDE_SELL, price="1500", stop_loss_price_micros=1_490_000_000),
            ),
            metadata=user.metadata,
        )
    )
    updated = (
        await trade.stub.UpdateTrade(
            trade_service_pb2.UpdateTradeRequest(
                trade=trade_pb2.Trade(id=created.id, target_price_micros=1_650_000_000, notes="ignored"),
                update_mask=FieldMask(paths=["target_price_micros", "planned_risk_micros"]),
                etag=created.etag,
            ),
            metadata=user.metadata,
        )
    ).trade

    assert (fetched.stop_loss_price_micros, fetched.target_price_micros, fetched.planned_risk_micros) == (
        1_480_000_000,
        1_600_000_000,
        2_000_000_000,
    )
    assert wrong_side.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(wrong_side.violations) == {"trade.stop_loss_price_micros"}
    assert (updated.stop_loss_price_micros, updated.target_price_micros, updated.planned_risk_micros) == (
        1_480_000_000,
        1_650_000_000,
        0,
    )
    assert updated.notes == ""
