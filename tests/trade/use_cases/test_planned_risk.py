"""The trader's plan on a trade (decision 0230): stop-loss, target and planned risk, against in-memory fakes."""

from __future__ import annotations

import pytest

from tests.trade.use_cases.helpers import ALICE, fields, request_id
from trademesh.kernel.errors import InvalidArgument
from trademesh.kernel.instruments import Side
from trademesh.services.trade.service import TradeService

ENTRY = 1_500_000_000  # ₹1500


async def test_a_buy_keeps_its_stop_target_and_planned_risk(service: TradeService) -> None:
    trade = await service.create(
        ALICE,
        request_id(),
        fields(stop_loss_price_micros=1_480_000_000, target_price_micros=1_600_000_000, planned_risk_micros=2_000_000),
    )
    stored = await service.get(ALICE, trade.id)
    assert (
        stored.fields.stop_loss_price_micros,
        stored.fields.target_price_micros,
        stored.fields.planned_risk_micros,
    ) == (1_480_000_000, 1_600_000_000, 2_000_000)


async def test_a_trade_without_a_plan_reads_zeros(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    assert (trade.fields.stop_loss_price_micros, trade.fields.target_price_micros) == (0, 0)
    assert trade.fields.planned_risk_micros == 0


@pytest.mark.parametrize(
    ("side", "changes", "bad_field"),
    [
        (Side.BUY, {"stop_loss_price_micros": ENTRY}, "trade.stop_loss_price_micros"),
        (Side.BUY, {"stop_loss_price_micros": ENTRY + 1}, "trade.stop_loss_price_micros"),
        (Side.SELL, {"stop_loss_price_micros": ENTRY - 1}, "trade.stop_loss_price_micros"),
        (Side.BUY, {"stop_loss_price_micros": -1}, "trade.stop_loss_price_micros"),
        (Side.BUY, {"target_price_micros": ENTRY - 1}, "trade.target_price_micros"),
        (Side.SELL, {"target_price_micros": ENTRY + 1}, "trade.target_price_micros"),
        (Side.BUY, {"target_price_micros": -5}, "trade.target_price_micros"),
        (Side.BUY, {"planned_risk_micros": -1}, "trade.planned_risk_micros"),
        (Side.BUY, {"planned_risk_micros": 10**16 + 1}, "trade.planned_risk_micros"),
    ],
)
async def test_a_bad_plan_is_invalid_naming_the_field(
    service: TradeService, side: Side, changes: dict[str, int], bad_field: str
) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, request_id(), fields(side=side, **changes))
    assert [violation.field for violation in error.value.violations] == [bad_field]


async def test_a_sell_takes_a_stop_above_and_a_target_below_the_entry(service: TradeService) -> None:
    trade = await service.create(
        ALICE,
        request_id(),
        fields(side=Side.SELL, stop_loss_price_micros=ENTRY + 1, target_price_micros=ENTRY - 1),
    )
    assert (trade.fields.stop_loss_price_micros, trade.fields.target_price_micros) == (ENTRY + 1, ENTRY - 1)


async def test_the_plan_is_a_journal_field_set_and_cleared_through_the_mask(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields(notes="keep"))
    planned = await service.update(
        ALICE,
        trade.id,
        trade.etag,
        ["stop_loss_price_micros", "planned_risk_micros"],
        fields(stop_loss_price_micros=1_490_000_000, planned_risk_micros=5_000_000, notes="ignored"),
    )
    assert (planned.fields.stop_loss_price_micros, planned.fields.planned_risk_micros) == (1_490_000_000, 5_000_000)
    assert planned.fields.notes == "keep"
    cleared = await service.update(ALICE, trade.id, planned.etag, ["stop_loss_price_micros"], fields())
    assert (cleared.fields.stop_loss_price_micros, cleared.fields.planned_risk_micros) == (0, 5_000_000)


async def test_a_stop_on_the_wrong_side_is_invalid_on_update_too(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    with pytest.raises(InvalidArgument) as error:
        await service.update(
            ALICE, trade.id, trade.etag, ["stop_loss_price_micros"], fields(stop_loss_price_micros=ENTRY + 10)
        )
    assert [violation.field for violation in error.value.violations] == ["trade.stop_loss_price_micros"]


async def test_moving_the_entry_past_the_stop_is_invalid(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields(stop_loss_price_micros=1_480_000_000))
    with pytest.raises(InvalidArgument) as error:
        await service.update(ALICE, trade.id, trade.etag, ["price_micros"], fields(price_micros=1_470_000_000))
    assert [violation.field for violation in error.value.violations] == ["trade.stop_loss_price_micros"]
