"""The shared kernel's rules, in milliseconds: instruments, IST calendar, derivative symbols, request rules,
the trade-event envelope."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trademesh.kernel.calendar import IST, ist_day, last_thursday, next_ist_time_after
from trademesh.kernel.derivatives import ContractSymbolError, parse_contract_symbol
from trademesh.kernel.errors import InvalidArgument
from trademesh.kernel.events import EventEnvelope, entry_sequence, user_stream
from trademesh.kernel.instruments import SYMBOL_PATTERN, ContractType, Derivative
from trademesh.kernel.requests import check_page_size, check_request_id


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("NIFTY21JUNFUT", Derivative("NIFTY", "2021-06-24", ContractType.FUTURE, 0)),
        ("BANKNIFTY24DEC52000CE", Derivative("BANKNIFTY", "2024-12-26", ContractType.CALL, 52_000_000_000)),
        ("NIFTY2161015000PE", Derivative("NIFTY", "2021-06-10", ContractType.PUT, 15_000_000_000)),
        ("USDINR24D2783.25CE", Derivative("USDINR", "2024-12-27", ContractType.CALL, 83_250_000)),
        ("M&M24JAN1600CE", Derivative("M&M", "2024-01-25", ContractType.CALL, 1_600_000_000)),
    ],
)
def test_contract_symbols(symbol: str, expected: Derivative) -> None:
    assert parse_contract_symbol(symbol) == expected


def test_a_known_expiry_wins_over_the_symbols_month() -> None:
    contract = parse_contract_symbol("NIFTY24DECFUT", expiry=date(2024, 12, 24))
    assert contract.expiry_date == "2024-12-24"


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("INFY", "cannot derive the contract"),
        ("NIFTY24DECCE", "has no strike"),
        ("NIFTY2423115000CE", "invalid expiry"),
        ("NIFTY24DEC1.0000001CE", "more than 6 decimal places"),
    ],
)
def test_bad_contract_symbols_say_why(symbol: str, message: str) -> None:
    with pytest.raises(ContractSymbolError, match=message):
        parse_contract_symbol(symbol)


@given(st.integers(2000, 2099), st.integers(1, 12))
def test_last_thursday_is_the_months_last_thursday(year: int, month: int) -> None:
    day = last_thursday(year, month)
    assert (day.year, day.month, day.weekday()) == (year, month, 3)
    assert (day.toordinal() + 7) > date(year + month // 12, month % 12 + 1, 1).toordinal() - 1


def test_ist_day_and_the_next_wall_clock_time() -> None:
    late = datetime(2024, 3, 1, 19, 0, tzinfo=UTC)  # 00:30 IST on 2 March
    assert ist_day(late) == date(2024, 3, 2)
    after = next_ist_time_after(late, time(6, 0))
    assert after == datetime(2024, 3, 2, 6, 0, tzinfo=IST)
    assert next_ist_time_after(after, time(6, 0)) == datetime(2024, 3, 3, 6, 0, tzinfo=IST)


def test_one_symbol_rule() -> None:
    assert SYMBOL_PATTERN.fullmatch("BANKNIFTY24DEC52000CE")
    assert SYMBOL_PATTERN.fullmatch("M&M")
    assert not SYMBOL_PATTERN.fullmatch("infy")
    assert not SYMBOL_PATTERN.fullmatch("A" * 41)


def test_request_rules() -> None:
    assert check_request_id(" 0F0E0D0C-0B0A-0908-0706-050403020100 ") == "0f0e0d0c-0b0a-0908-0706-050403020100"
    with pytest.raises(InvalidArgument) as bad:
        check_request_id("not-a-uuid")
    assert bad.value.reason == "REQUEST_ID_INVALID"
    assert check_page_size(0, 50, 500) == 50
    assert check_page_size(10_000, 50, 500) == 500
    with pytest.raises(InvalidArgument):
        check_page_size(-1, 50, 500)


def test_event_envelope_decodes_what_the_writer_writes_and_skips_the_malformed() -> None:
    fields = {
        b"event_id": b"e1",
        b"user_id": b"u1",
        b"trade_id": b"t1",
        b"type": b"CREATED",
        b"version": b"3",
        b"user_entry": b"1700000000000-2",
        b"payload": b"\x0a\x00",
    }
    envelope = EventEnvelope.decode(fields)
    assert envelope == EventEnvelope("e1", "u1", "t1", "CREATED", 3, 1_700_000_000_000_000_002, b"\x0a\x00")
    assert entry_sequence("1700000000000-2") == envelope.user_sequence
    assert EventEnvelope.decode({b"user_id": b"u1"}) is None
    assert EventEnvelope.decode({**fields, b"version": b"x"}) is None
    assert user_stream("u1") == "trade-events:user:u1"
