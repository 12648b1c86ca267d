"""The fake Kite's POST /charges/orders, called with the real kiteconnect client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import InputException

from tests.charges.factory import fill
from trademesh.kernel.charges import Exchange, Segment, Side, charge_fills, load_schedule
from trademesh.services.brokers.zerodha.fake import FakeKite

SAMPLE = json.loads((Path(__file__).parent / "data" / "kite_virtual_contract_note.json").read_text())


@pytest.fixture
async def kite() -> AsyncIterator[KiteConnect]:
    server = FakeKite()
    app = server.add_app("charges_key", "charges_secret", "AB1234")
    server.charges_date = lambda: date(2023, 7, 12)  # the sample's orders are of July 2023
    base_url = await server.start()
    client = KiteConnect(api_key=app.api_key, root=base_url)
    client.set_access_token(app.new_access_token())
    try:
        yield client
    finally:
        await server.stop()


async def test_the_virtual_contract_note_has_kites_shape_and_the_schedules_figures(kite: KiteConnect) -> None:
    rows: list[dict[str, Any]] = await asyncio.to_thread(kite.get_virtual_contract_note, SAMPLE["request"])

    expected_rows = SAMPLE["response"]["data"]
    assert len(rows) == len(expected_rows)
    for row, expected in zip(rows, expected_rows, strict=True):
        assert row.keys() == expected.keys()
        assert row["charges"].keys() == expected["charges"].keys()
        assert row["charges"]["gst"].keys() == expected["charges"]["gst"].keys()
        for key in ("transaction_type", "tradingsymbol", "exchange", "variety", "product", "order_type", "quantity"):
            assert row[key] == expected[key]
        charges, documented = row["charges"], expected["charges"]
        for key in ("transaction_tax", "exchange_turnover_charge", "sebi_turnover_charge", "brokerage"):
            assert charges[key] == pytest.approx(documented[key], abs=1e-6), (row["tradingsymbol"], key)
        assert charges["transaction_tax_type"] == documented["transaction_tax_type"]
        assert charges["gst"]["total"] == pytest.approx(documented["gst"]["total"], abs=1e-6)
    # The MCX future and the option match Kite's documented totals; SBIN adds the delivery-buy stamp duty
    # (0.08) that the documented sample leaves out (see test_kite_samples).
    assert rows[1]["charges"]["total"] == pytest.approx(expected_rows[1]["charges"]["total"], abs=1e-6)
    assert rows[2]["charges"]["total"] == pytest.approx(expected_rows[2]["charges"]["total"], abs=1e-6)
    assert rows[0]["charges"]["stamp_duty"] == 0.08


async def test_the_answer_is_the_engines_kite_api_computation(kite: KiteConnect) -> None:
    order = {
        "order_id": "x1",
        "exchange": "NSE",
        "tradingsymbol": "SBIN",
        "transaction_type": "SELL",
        "variety": "regular",
        "product": "MIS",
        "order_type": "MARKET",
        "quantity": 100,
        "average_price": 810,
    }
    [row] = await asyncio.to_thread(kite.get_virtual_contract_note, [order])

    schedule = load_schedule()
    trade = fill(Segment.INTRADAY, Side.SELL, 100, 810, exchange=Exchange.NSE, day=date(2023, 7, 12))
    [result] = charge_fills(schedule, schedule.policy("kite_api"), [trade])
    assert row["charges"]["total"] == result.charges.total() / 1_000_000
    assert row["charges"]["brokerage"] == 20  # 0.03 % of 81,000 = 24.30, capped at Rs 20
    assert row["charges"]["transaction_tax"] == 20.25  # 0.025 %, unrounded as Kite's API answers


async def test_an_unsupported_order_is_an_input_error(kite: KiteConnect) -> None:
    order = dict(SAMPLE["request"][0], exchange="CDS", tradingsymbol="USDINR23JULFUT")
    with pytest.raises(InputException, match="CDS is not charged"):
        await asyncio.to_thread(kite.get_virtual_contract_note, [order])
