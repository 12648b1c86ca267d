"""Effective dates, schedule boundaries and what the loader refuses."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest

from tests.charges.factory import fill, rupees
from trademesh.kernel.charges import Charges, Segment, Side, charge_fills, ist_date, load_schedule
from trademesh.kernel.charges.schedule import ScheduleError, build_schedule, parse_rate, parse_rupees


def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    data = resources.files("trademesh.kernel.charges") / "data"
    return (
        tomllib.loads((data / "statutory.toml").read_text(encoding="utf-8")),
        tomllib.loads((data / "brokerage.toml").read_text(encoding="utf-8")),
    )


def _charges(day: date, segment: Segment, side: Side, quantity: int, price: int) -> Charges:
    schedule = load_schedule()
    [result] = charge_fills(schedule, schedule.policy("contract_note"), [fill(segment, side, quantity, price, day=day)])
    return result.charges


def test_a_futures_sell_the_day_before_and_the_day_of_the_october_2024_changes() -> None:
    # 75 x 24,000 = 18,00,000. 30 Sep 2024: STT 0.0125 % = 225, exchange 0.0019 % = 34.20, IPFT 1.80, SEBI
    # 1.80, GST 18 % of (20 + 34.20 + 1.80) = 10.08. 1 Oct 2024: STT 0.02 % = 360, exchange 0.00173 % =
    # 31.14, GST 18 % of 52.94 = 9.53.
    before = _charges(date(2024, 9, 30), Segment.FUTURES, Side.SELL, 75, 24000)
    on = _charges(date(2024, 10, 1), Segment.FUTURES, Side.SELL, 75, 24000)
    assert before == Charges(
        brokerage=rupees("20"),
        transaction_tax=rupees("225"),
        exchange_transaction=rupees("34.20"),
        ipft=rupees("1.80"),
        sebi=rupees("1.80"),
        gst=rupees("10.08"),
    )
    assert on == Charges(
        brokerage=rupees("20"),
        transaction_tax=rupees("360"),
        exchange_transaction=rupees("31.14"),
        ipft=rupees("1.80"),
        sebi=rupees("1.80"),
        gst=rupees("9.53"),
    )


def test_options_stt_the_day_before_and_the_day_of_the_april_2026_change() -> None:
    # Sell 75 x 120 = 9,000 premium: STT 0.1 % = 9 on 31 Mar 2026, 0.15 % = 13.50 -> 14 (to the rupee) on 1 Apr.
    assert _charges(date(2026, 3, 31), Segment.OPTIONS, Side.SELL, 75, 120).transaction_tax == rupees("9")
    assert _charges(date(2026, 4, 1), Segment.OPTIONS, Side.SELL, 75, 120).transaction_tax == rupees("14")


def test_the_schedule_version_names_the_set_of_rates_in_force() -> None:
    schedule = load_schedule()
    assert schedule.version_on(date(2024, 9, 30)) == f"{schedule.version}/2023-04-01"
    assert schedule.version_on(date(2024, 10, 1)) == f"{schedule.version}/2024-10-01"
    [result] = charge_fills(schedule, schedule.policy("kite_api"), [fill(Segment.DELIVERY, Side.BUY, 1, 100)])
    assert result.schedule_version == f"{schedule.version}/2024-10-01"
    assert result.source == "COMPUTED"


def test_a_trade_before_the_schedule_starts_is_refused() -> None:
    with pytest.raises(ScheduleError, match="no schedule in force on 2020-06-30"):
        _charges(date(2020, 6, 30), Segment.DELIVERY, Side.BUY, 1, 100)


def test_the_trade_date_is_the_ist_date() -> None:
    # 20:00 UTC on 30 Sep 2024 is 01:30 IST on 1 Oct 2024: charged at October's rates.
    assert ist_date(datetime(2024, 9, 30, 20, 0, tzinfo=UTC)) == date(2024, 10, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ist_date(datetime(2024, 9, 30, 20, 0))


def test_every_rate_cites_a_source_and_unchecked_ones_say_what_is_unchecked() -> None:
    schedule = load_schedule()
    citations = [entry.citation for entries in schedule.rates.values() for entry in entries]
    citations += [entry.citation for entries in schedule.plans.values() for entry in entries]
    assert all(citation.source for citation in citations)
    assert all(citation.note for citation in citations if citation.verify)
    assert schedule.unverified()  # the file says plainly which figures were not checked


def test_rates_parse_exactly() -> None:
    assert parse_rate("0.1%") == 1_000_000
    assert parse_rate("0.00297%") == 29_700
    assert parse_rate("10/crore") == 1_000
    assert parse_rupees("13.5") == 13_500_000
    with pytest.raises(ScheduleError, match="whole number"):
        parse_rate("0.0000000001%")
    with pytest.raises(ScheduleError, match="neither"):
        parse_rate("0.1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda statutory, _: statutory["sebi"][0].pop("source"), "cites no source"),
        (lambda statutory, _: statutory["stamp_duty"][0].pop("verify"), "verify = true/false"),
        (lambda statutory, _: statutory["ipft"][0].update(verify=True, note=""), "without a note"),
        (lambda statutory, _: statutory["sebi"][0].update(effective_from=date(2021, 1, 1)), "not covered"),
        (
            lambda statutory, _: statutory["transaction_tax"].append(copy.deepcopy(statutory["transaction_tax"][0])),
            "same date",
        ),
        (
            lambda statutory, _: statutory.update(
                exchange_transaction=[e for e in statutory["exchange_transaction"] if e["exchanges"] != ["BSE"]]
            ),
            "no rate for BSE",
        ),
        (lambda _, brokerage: brokerage["plan"].pop(0), "no entry for"),
    ],
)
def test_the_loader_refuses_incomplete_or_uncited_schedules(mutate: Any, message: str) -> None:
    statutory, brokerage = _documents()
    mutate(statutory, brokerage)
    with pytest.raises(ScheduleError, match=message):
        build_schedule(statutory, brokerage)
