"""Monthly expiry days by exchange and month, as the exchanges' circulars set them (kernel `expiry_days`)."""

from __future__ import annotations

from datetime import date

import pytest

from trademesh.kernel.derivatives import parse_contract_symbol
from trademesh.kernel.expiry_days import monthly_expiry


@pytest.mark.parametrize(
    ("exchange", "underlying", "year", "month", "expected"),
    [
        ("NFO", "NIFTY", 2025, 8, date(2025, 8, 28)),  # the last Thursday expiry before the switch
        ("NFO", "NIFTY", 2025, 9, date(2025, 9, 30)),  # the NSE circular's example: 25 Sep → 30 Sep
        ("NFO", "BANKNIFTY", 2026, 3, date(2026, 3, 31)),
        ("NFO", "RELIANCE", 2026, 12, date(2026, 12, 29)),
        ("NFO", "NIFTY", 2021, 6, date(2021, 6, 24)),
        ("BFO", "SENSEX", 2024, 12, date(2024, 12, 27)),  # last Friday before 2025
        ("BFO", "BANKEX", 2024, 12, date(2024, 12, 30)),  # last Monday before 2025
        ("BFO", "SENSEX50", 2024, 12, date(2024, 12, 26)),  # last Thursday before 2025
        ("BFO", "SENSEX", 2025, 1, date(2025, 1, 28)),  # last Tuesday, January to August 2025
        ("BFO", "SENSEX", 2025, 8, date(2025, 8, 26)),
        ("BFO", "SENSEX", 2025, 9, date(2025, 9, 25)),  # last Thursday from September 2025
    ],
)
def test_monthly_expiry_follows_the_rule_of_its_month(
    exchange: str, underlying: str, year: int, month: int, expected: date
) -> None:
    assert monthly_expiry(exchange, underlying, year, month) == expected


def test_a_monthly_symbol_takes_its_exchanges_day_and_a_known_expiry_still_wins() -> None:
    assert parse_contract_symbol("NIFTY26JANFUT").expiry_date == "2026-01-27"
    assert parse_contract_symbol("SENSEX26JAN80000CE", exchange="BFO").expiry_date == "2026-01-29"
    assert parse_contract_symbol("NIFTY26JANFUT", expiry=date(2026, 1, 23)).expiry_date == "2026-01-23"
    assert parse_contract_symbol("NIFTY2610627000CE").expiry_date == "2026-01-06"  # a weekly symbol names its day
