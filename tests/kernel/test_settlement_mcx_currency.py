"""Expiry settlement of MCX and currency (CDS/BCD) contracts (decision 0310): hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side
from trademesh.kernel.settlement import (
    SettlementBasis,
    SettlementFill,
    Unsettled,
    expired,
    parse_settlement_prices,
    settle,
    settlement_fill,
    settlement_time,
)

M = 1_000_000
MCX_OPTION_EXPIRY = "2026-02-17"
MCX_FUTURE_EXPIRY = "2026-02-19"
CDS_EXPIRY = "2026-02-24"
PRICES = parse_settlement_prices(
    "symbol,date,price\n"
    # The CRUDEOIL February future's settlement price on the options' expiry day, and its own final price.
    "CRUDEOIL,2026-02-17,6100\n"
    "CRUDEOIL26FEBFUT,2026-02-19,6125\n"
    # GOLDM's due date rate (no row for the contract itself): the underlying's price is used.
    "GOLDM,2026-02-19,71234.5\n"
    # The RBI reference rate of the US dollar on the currency expiry day.
    "USDINR,2026-02-24,83.4525\n"
)


def mcx(kind: ContractType, strike: int = 0, underlying: str = "CRUDEOIL") -> Derivative:
    expiry = MCX_FUTURE_EXPIRY if kind is ContractType.FUTURE else MCX_OPTION_EXPIRY
    return Derivative(underlying, expiry, kind, strike * M)


def usdinr(kind: ContractType, strike_micros: int = 0) -> Derivative:
    return Derivative("USDINR", CDS_EXPIRY, kind, strike_micros)


def test_each_exchange_settles_at_its_session_close() -> None:
    day = datetime(2026, 2, 19).date()
    assert settlement_time(day, Exchange.NFO) == datetime(2026, 2, 19, 10, 0, tzinfo=UTC)  # 15:30 IST
    assert settlement_time(day, Exchange.CDS) == datetime(2026, 2, 19, 11, 30, tzinfo=UTC)  # 17:00 IST
    assert settlement_time(day, Exchange.BCD) == datetime(2026, 2, 19, 11, 30, tzinfo=UTC)
    assert settlement_time(day, Exchange.MCX) == datetime(2026, 2, 19, 18, 25, tzinfo=UTC)  # 23:55 IST
    future = mcx(ContractType.FUTURE)
    # 18:30 IST on the expiry day: MCX still trades, so the contract has not expired yet.
    assert not expired(future, datetime(2026, 2, 19, 13, 0, tzinfo=UTC), Exchange.MCX)
    assert expired(future, datetime(2026, 2, 19, 18, 25, tzinfo=UTC), Exchange.MCX)


def test_an_mcx_future_settles_at_its_final_settlement_price() -> None:
    fill = settle("CRUDEOIL26FEBFUT", mcx(ContractType.FUTURE), 200 * M, PRICES, Exchange.MCX)
    assert fill == SettlementFill(
        Side.SELL,
        200 * M,
        6_125 * M,
        datetime(2026, 2, 19, 18, 25, tzinfo=UTC),
        SettlementBasis.FINAL_SETTLEMENT_PRICE,
        6_125 * M,
    )
    # No row for the contract: its underlying's due date rate (GOLDM 71,234.50), short 10 units bought back.
    goldm = settle("GOLDM26FEBFUT", mcx(ContractType.FUTURE, underlying="GOLDM"), -10 * M, PRICES, Exchange.MCX)
    assert isinstance(goldm, SettlementFill)
    assert (goldm.side, goldm.quantity_micros, goldm.price_micros) == (Side.BUY, 10 * M, 71_234_500_000)


def test_an_mcx_option_out_of_the_money_lapses_at_zero() -> None:
    # CE 6,200 against 6,100 and PE 6,000 against 6,100: both out of the money.
    call = settlement_fill("CRUDEOIL26FEB6200CE", mcx(ContractType.CALL, 6_200), 100 * M, PRICES, Exchange.MCX)
    put = settlement_fill("CRUDEOIL26FEB6000PE", mcx(ContractType.PUT, 6_000), -100 * M, PRICES, Exchange.MCX)
    assert call is not None
    assert put is not None
    assert (call.side, call.price_micros, call.basis) == (Side.SELL, 0, SettlementBasis.INTRINSIC_VALUE)
    assert (put.side, put.price_micros) == (Side.BUY, 0)
    assert call.trade_time == datetime(2026, 2, 17, 18, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("symbol", "kind", "strike", "quantity"),
    [
        ("CRUDEOIL26FEB6000CE", ContractType.CALL, 6_000, 100),  # long call, 100 in the money
        ("CRUDEOIL26FEB6200PE", ContractType.PUT, 6_200, -100),  # short put, 100 in the money
    ],
)
def test_an_mcx_option_in_the_money_devolves_and_is_left_open(
    symbol: str, kind: ContractType, strike: int, quantity: int
) -> None:
    assert settle(symbol, mcx(kind, strike), quantity * M, PRICES, Exchange.MCX) is Unsettled.DEVOLVES
    assert settlement_fill(symbol, mcx(kind, strike), quantity * M, PRICES, Exchange.MCX) is None


def test_currency_futures_settle_at_the_rbi_reference_rate() -> None:
    # Long 2 lots of USDINR (2,000 USD): sold at 83.4525 (a 4-decimal price is exact in micros).
    fill = settle("USDINR26FEBFUT", usdinr(ContractType.FUTURE), 2_000 * M, PRICES, Exchange.CDS)
    assert isinstance(fill, SettlementFill)
    assert (fill.side, fill.quantity_micros, fill.price_micros) == (Side.SELL, 2_000 * M, 83_452_500)
    assert fill.trade_time == datetime(2026, 2, 24, 11, 30, tzinfo=UTC)


def test_currency_options_settle_at_intrinsic_value() -> None:
    # CE 83.25: 83.4525 - 83.25 = 0.2025; PE 83.50: 83.50 - 83.4525 = 0.0475; PE 83.25: out of the money.
    call = settlement_fill("USDINR26FEB83.25CE", usdinr(ContractType.CALL, 83_250_000), 1_000 * M, PRICES, Exchange.BCD)
    put = settlement_fill("USDINR26FEB83.5PE", usdinr(ContractType.PUT, 83_500_000), -1_000 * M, PRICES, Exchange.CDS)
    lapsed = settlement_fill("USDINR26FEB83.25PE", usdinr(ContractType.PUT, 83_250_000), M, PRICES, Exchange.CDS)
    assert call is not None
    assert put is not None
    assert lapsed is not None
    assert (call.side, call.price_micros, call.reference_price_micros) == (Side.SELL, 202_500, 83_452_500)
    assert (put.side, put.price_micros) == (Side.BUY, 47_500)
    assert lapsed.price_micros == 0


def test_missing_prices_leave_mcx_and_currency_contracts_open() -> None:
    assert settle("SILVERM26FEBFUT", mcx(ContractType.FUTURE, underlying="SILVERM"), M, PRICES, Exchange.MCX) is (
        Unsettled.NO_PRICE
    )
    option = Derivative("EURINR", CDS_EXPIRY, ContractType.CALL, 90 * M)
    assert settle("EURINR26FEB90CE", option, M, PRICES, Exchange.CDS) is Unsettled.NO_PRICE
    assert settle("USDINR26FEBFUT", usdinr(ContractType.FUTURE), 0, PRICES, Exchange.CDS) is None


def test_equity_exchanges_are_not_settled() -> None:
    with pytest.raises(ValueError, match="not settled"):
        settle("INFY", usdinr(ContractType.FUTURE), M, PRICES, Exchange.NSE)
