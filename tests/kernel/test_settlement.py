"""Expiry settlement and the instrument master (trademesh.kernel.settlement, .instrument_master): hand-computed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from trademesh.kernel.instrument_master import InstrumentMasterError, parse_instruments, rupees_to_micros
from trademesh.kernel.instruments import ContractType, Derivative, Side
from trademesh.kernel.settlement import (
    SettlementBasis,
    SettlementPrices,
    SettlementPricesError,
    expired,
    intrinsic_value,
    parse_settlement_prices,
    settlement_fill,
)

M = 1_000_000
EXPIRY = "2026-11-24"
#: NIFTY settled at 26,137.45 and its November future at 26,140.10 on the expiry day.
PRICES = parse_settlement_prices(
    "symbol,date,price\nNIFTY,2026-11-24,26137.45\nNIFTY26NOVFUT,2026-11-24,26140.10\nBANKNIFTY,2026-11-24,59000\n"
)
CLOSE_UTC = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 15:30 IST


def option(kind: ContractType, strike_rupees: int, underlying: str = "NIFTY") -> Derivative:
    return Derivative(underlying, EXPIRY, kind, strike_rupees * M)


def future(underlying: str = "NIFTY") -> Derivative:
    return Derivative(underlying, EXPIRY, ContractType.FUTURE, 0)


def test_intrinsic_values_by_hand() -> None:
    assert intrinsic_value(ContractType.CALL, 26_000 * M, 26_137_450_000) == 137_450_000
    assert intrinsic_value(ContractType.CALL, 26_200 * M, 26_137_450_000) == 0
    assert intrinsic_value(ContractType.PUT, 26_200 * M, 26_137_450_000) == 62_550_000
    assert intrinsic_value(ContractType.PUT, 26_000 * M, 26_137_450_000) == 0
    assert intrinsic_value(ContractType.CALL, 26_137_450_000, 26_137_450_000) == 0  # at the money
    with pytest.raises(ValueError, match="options only"):
        intrinsic_value(ContractType.FUTURE, 0, 1)


def test_long_itm_call_is_sold_at_intrinsic_value() -> None:
    # 2 lots of 75 bought: sold at S - K = 26,137.45 - 26,000 = 137.45 on the close of the expiry day.
    fill = settlement_fill("NIFTY26NOV26000CE", option(ContractType.CALL, 26_000), 150 * M, PRICES)
    assert fill is not None
    assert (fill.side, fill.quantity_micros, fill.price_micros) == (Side.SELL, 150 * M, 137_450_000)
    assert fill.basis is SettlementBasis.INTRINSIC_VALUE
    assert fill.reference_price_micros == 26_137_450_000
    assert fill.trade_time == CLOSE_UTC


def test_short_itm_put_is_bought_back_at_intrinsic_value() -> None:
    # Short 75 of the 26,500 PE: bought back at K - S = 26,500 - 26,137.45 = 362.55.
    fill = settlement_fill("NIFTY26NOV26500PE", option(ContractType.PUT, 26_500), -75 * M, PRICES)
    assert fill is not None
    assert (fill.side, fill.quantity_micros, fill.price_micros) == (Side.BUY, 75 * M, 362_550_000)


@pytest.mark.parametrize(
    ("kind", "strike", "quantity"),
    [(ContractType.CALL, 26_500, 75), (ContractType.PUT, 26_000, 75), (ContractType.CALL, 26_500, -75)],
)
def test_out_of_the_money_options_close_at_zero(kind: ContractType, strike: int, quantity: int) -> None:
    fill = settlement_fill("NIFTYOPT", option(kind, strike), quantity * M, PRICES)
    assert fill is not None
    assert fill.price_micros == 0
    assert fill.quantity_micros == 75 * M
    assert fill.side is (Side.SELL if quantity > 0 else Side.BUY)


def test_futures_settle_at_their_final_settlement_price_long_and_short() -> None:
    long = settlement_fill("NIFTY26NOVFUT", future(), 75 * M, PRICES)
    short = settlement_fill("NIFTY26NOVFUT", future(), -150 * M, PRICES)
    assert long is not None
    assert short is not None
    assert (long.side, long.quantity_micros, long.price_micros) == (Side.SELL, 75 * M, 26_140_100_000)
    assert (short.side, short.quantity_micros, short.price_micros) == (Side.BUY, 150 * M, 26_140_100_000)
    assert long.basis is SettlementBasis.FINAL_SETTLEMENT_PRICE
    # Long 75 bought at 26,000: realized (26,140.10 - 26,000) x 75 = 10,507.50.
    assert (long.price_micros - 26_000 * M) * 75 == 10_507_500_000


def test_a_future_without_its_own_row_settles_at_the_underlyings_price() -> None:
    fill = settlement_fill("BANKNIFTY26NOVFUT", future("BANKNIFTY"), 35 * M, PRICES)
    assert fill is not None
    assert fill.price_micros == 59_000 * M


def test_partial_lots_settle_the_whole_net_quantity() -> None:
    # 1.5 lots left open (a partial close earlier): all 112.5 units are settled, never rounded to lots.
    fill = settlement_fill("NIFTY26NOV26000CE", option(ContractType.CALL, 26_000), 112_500_000, PRICES)
    assert fill is not None
    assert fill.quantity_micros == 112_500_000
    assert fill.quantity_micros * fill.price_micros // M == 15_463_125_000  # 112.5 x 137.45


def test_no_price_or_a_flat_position_gives_no_fill() -> None:
    assert settlement_fill("FINNIFTY26NOVFUT", future("FINNIFTY"), 65 * M, PRICES) is None
    assert settlement_fill("FINNIFTYOPT", option(ContractType.CALL, 24_000, "FINNIFTY"), 65 * M, PRICES) is None
    assert settlement_fill("NIFTY26NOVFUT", future(), 0, PRICES) is None
    # A price on another day is not the settlement price.
    other_day = SettlementPrices({("NIFTY", date(2026, 11, 25)): 26_000 * M})
    assert settlement_fill("NIFTYOPT", option(ContractType.CALL, 25_000), 75 * M, other_day) is None


def test_settlement_is_deterministic() -> None:
    first = settlement_fill("NIFTY26NOV26000CE", option(ContractType.CALL, 26_000), 75 * M, PRICES)
    second = settlement_fill("NIFTY26NOV26000CE", option(ContractType.CALL, 26_000), 75 * M, PRICES)
    assert first == second


def test_a_contract_expires_at_the_close_of_its_expiry_day() -> None:
    contract = future()
    assert not expired(contract, datetime(2026, 11, 24, 9, 59, 59, tzinfo=UTC))
    assert expired(contract, CLOSE_UTC)
    assert expired(contract, datetime(2026, 12, 1, tzinfo=UTC))


def test_settlement_prices_file_rules() -> None:
    assert PRICES.price("nifty", date(2026, 11, 24)) == 26_137_450_000
    same_twice = parse_settlement_prices("symbol,date,price\nNIFTY,2026-11-24,1\nNIFTY,2026-11-24,1.0\n")
    assert len(same_twice) == 1
    for text, message in [
        ("symbol,price\nNIFTY,1\n", "missing columns: date"),
        ("symbol,date,price\nNIFTY,24-11-2026,1\n", "row 2: date"),
        ("symbol,date,price\nNIFTY,2026-11-24,abc\n", "row 2: price"),
        ("symbol,date,price\nNIFTY,2026-11-24,0\n", "row 2: price must be > 0"),
        ("symbol,date,price\nNIFTY,2026-11-24,1.0000001\n", "row 2: price"),
        ("symbol,date,price\nNIFTY,2026-11-24,1\nNIFTY,2026-11-24,2\n", "row 3: a different price"),
    ]:
        with pytest.raises(SettlementPricesError, match=message):
            parse_settlement_prices(text)


KITE_CSV = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
    "instrument_type,segment,exchange\n"
    "3813889,14898,CENTRALBK-BE,CENTRAL BANK OF INDIA,0.0,,0.0,0.05,1,EQ,NSE,NSE\n"
    "256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE\n"
    "13240066,51719,NIFTY26DEC26000CE,NIFTY,12.5,2026-12-29,26000.0,0.05,75,CE,NFO-OPT,NFO\n"
    "285890565,1116760,SENSEX26DECFUT,SENSEX,0.0,2026-12-24,0.0,0.05,20,FUT,BFO-FUT,BFO\n"
)


def test_instrument_master_gives_lot_size_and_expiry_per_symbol() -> None:
    master = parse_instruments(KITE_CSV)
    assert len(master) == 4
    assert master.lot_size("NFO", "NIFTY26DEC26000CE") == 75
    assert master.expiry("NFO", "NIFTY26DEC26000CE") == date(2026, 12, 29)
    assert master.lot_size("bfo", "sensex26decfut") == 20
    assert master.lot_size("NSE", "CENTRALBK-BE") == 1
    assert master.expiry("NSE", "CENTRALBK-BE") is None
    assert master.lot_size("NSE", "NIFTY 50") is None  # indices trade in no lots (Kite lists 0)
    assert master.lot_size("NFO", "NIFTY26DEC26100CE") is None
    option_row = master.get("NFO", "NIFTY26DEC26000CE")
    assert option_row is not None
    assert (option_row.strike_micros, option_row.last_price_micros, option_row.tick_size_micros) == (
        26_000 * M,
        12_500_000,
        50_000,
    )
    assert (option_row.instrument_type, option_row.segment, option_row.instrument_token) == ("CE", "NFO-OPT", 13240066)


def test_instrument_master_errors_name_row_and_column() -> None:
    header = KITE_CSV.splitlines()[0]
    with pytest.raises(InstrumentMasterError, match="missing columns: lot_size"):
        parse_instruments(header.replace(",lot_size", "") + "\n")
    with pytest.raises(InstrumentMasterError, match="row 2, column lot_size"):
        parse_instruments(header + "\n1,2,X,X,0,,0,0.05,many,EQ,NSE,NSE\n")
    with pytest.raises(InstrumentMasterError, match="row 2, column expiry"):
        parse_instruments(header + "\n1,2,X,X,0,29-12-2026,0,0.05,1,FUT,NFO-FUT,NFO\n")
    assert rupees_to_micros("26137.45") == 26_137_450_000
    with pytest.raises(ValueError, match="whole number of micros"):
        rupees_to_micros("0.0000001")
