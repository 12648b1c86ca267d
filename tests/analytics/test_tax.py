"""The tax statement (model/tax.py and GetTaxReport's use case): hand-computed heads, FY bounds, validation,
isolation. Figures in the comments are rupees; the code works in INR micros."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest

from tests.analytics.fakes import (
    InMemoryTradeSource,
)
from tests.analytics.wiring import wired
from trademesh.kernel.calendar import IST
from trademesh.kernel.charges import load_schedule
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.analytics.model import Category, JournalFill, to_micros
from trademesh.services.analytics.model.tax import (
    CostBasis,
    HeadSummary,
    LotKind,
    SttBasis,
    TaxHead,
    TaxReport,
    build_tax_query,
    build_tax_report,
    parse_financial_year,
)
from trademesh.services.analytics.server import Analytics

MICROS = 1_000_000
NOW = to_micros(datetime(2026, 5, 1, 12, 0, tzinfo=IST))  # FY 2026-27 is current


def rupees(value: str | int) -> int:
    return int(Fraction(value) * MICROS)


def ist(year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> int:
    return to_micros(datetime(year, month, day, hour, minute, second, tzinfo=IST))


def fill(
    trade_id: str, symbol: str, buy: bool, units: int, price: str | int, time_us: int, fees: str | int = 0
) -> JournalFill:
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange="NFO" if symbol.endswith(("FUT", "CE", "PE")) else "NSE",
        buy=buy,
        quantity_micros=units * MICROS,
        price_micros=rupees(price),
        fees_micros=rupees(fees),
        time_us=time_us,
        create_time_us=time_us,
        category=Category.UNCATEGORIZED,
    )


def journal() -> list[JournalFill]:
    return [
        # Grandfathered: bought 1 March 2017, sold 1 July 2025.
        fill("r1", "RELIANCE", True, 10, 500, ist(2017, 3, 1), fees=5),
        # Long-term: bought 5 May 2024, sold 6 June 2025 (13 months).
        fill("h1", "HDFCBANK", True, 4, 1000, ist(2024, 5, 5), fees=10),
        # Short-term: bought 10 July 2024, sold 10 June 2025 (11 months).
        fill("c1", "TCS", True, 5, 3000, ist(2024, 7, 10), fees=20),
        # Intraday: 2 June 2025, 10:00 and 14:00 IST.
        fill("i1", "INFY", True, 10, 1500, ist(2025, 6, 2, 10), fees=5),
        fill("i2", "INFY", False, 10, 1520, ist(2025, 6, 2, 14), fees=10),
        # Futures, a loss: bought 2 June, sold 5 June 2025.
        fill("f1", "NIFTY25JUNFUT", True, 75, 24000, ist(2025, 6, 2, 11), fees=50),
        fill("f2", "NIFTY25JUNFUT", False, 75, 23900, ist(2025, 6, 5, 11), fees=60),
        fill("h2", "HDFCBANK", False, 4, 1200, ist(2025, 6, 6), fees=10),
        fill("c2", "TCS", False, 5, 3300, ist(2025, 6, 10), fees=25),
        # Options: bought 1 July, sold 3 July 2025.
        fill("o1", "NIFTY25JUL24000CE", True, 75, 100, ist(2025, 7, 1, 11), fees=20),
        fill("r2", "RELIANCE", False, 10, 1300, ist(2025, 7, 1), fees=13),
        fill("o2", "NIFTY25JUL24000CE", False, 75, 150, ist(2025, 7, 3, 11), fees=25),
    ]


def report(fills: list[JournalFill], year: str = "2025-26", fmv: list[tuple[str, int]] | None = None) -> TaxReport:
    return build_tax_report(fills, build_tax_query(year, fmv or [], 0, now_us=NOW), load_schedule())


def head(result: TaxReport, which: TaxHead) -> HeadSummary:
    return next(summary for summary in result.heads if summary.head is which)


def test_intraday_equity_is_speculative_business_income_net_of_every_charge() -> None:
    summary = head(report(journal()), TaxHead.SPECULATIVE_BUSINESS)
    (lot,) = summary.lots
    assert (lot.symbol, lot.kind, lot.open_trade_id, lot.close_trade_id) == (
        "INFY",
        LotKind.EQUITY_INTRADAY,
        "i1",
        "i2",
    )
    assert lot.gross_micros == rupees(200)  # 10 x (1520 - 1500)
    assert lot.charges_micros == lot.deducted_charges_micros == rupees(15)
    assert lot.stt_micros == rupees("3.8")  # 0.025 % of the 15,200 sale, intraday sells only
    assert lot.net_micros == summary.net_micros == rupees(185)
    assert summary.turnover_micros == rupees(200)  # |difference|, not 30,200 of buy + sell value


def test_delivery_held_eleven_months_is_a_short_term_gain_with_stt_not_deducted() -> None:
    (lot,) = head(report(journal()), TaxHead.SHORT_TERM_CAPITAL_GAINS).lots
    assert lot.symbol == "TCS"
    assert lot.holding_days == 335
    # STT 0.1 % both sides: 15 on the 15,000 buy, 16.5 on the 16,500 sale: 31.5 of the 45 recorded.
    assert lot.stt_micros == rupees("31.5")
    assert lot.stt_basis is SttBasis.SCHEDULE
    assert lot.deducted_charges_micros == rupees("13.5")
    assert lot.cost_of_acquisition_micros == rupees(15_005)  # 15,000 + (20 - 15)
    assert lot.cost_basis is CostBasis.ACTUAL_COST
    assert lot.net_micros == rupees("1486.5")  # 16,500 - (25 - 16.5) - 15,005
    assert lot.turnover_micros == 0


def test_delivery_held_thirteen_months_is_a_long_term_gain() -> None:
    summary = head(report(journal()), TaxHead.LONG_TERM_CAPITAL_GAINS)
    hdfc = next(lot for lot in summary.lots if lot.symbol == "HDFCBANK")
    assert hdfc.net_micros == rupees("788.8")  # 4,800 - (10 - 4.8) - (4,000 + 10 - 4)
    assert hdfc.stt_micros == rupees("8.8")


def test_a_pre_2018_buy_is_grandfathered_when_a_fair_market_value_is_supplied() -> None:
    without = report(journal())
    lot = next(lot for lot in head(without, TaxHead.LONG_TERM_CAPITAL_GAINS).lots if lot.symbol == "RELIANCE")
    assert lot.cost_basis is CostBasis.FAIR_MARKET_VALUE_NOT_SUPPLIED
    assert lot.stt_basis is SttBasis.EARLIEST_SCHEDULE  # a 2017 buy predates the schedule
    assert lot.cost_of_acquisition_micros == rupees(5_000)  # 5,000 + (5 - 5 STT)
    assert lot.net_micros == rupees(8_000)  # 13,000 - (13 - 13 STT) - 5,000
    assert without.fair_market_value_missing == ("RELIANCE",)

    given = report(journal(), fmv=[("RELIANCE", rupees(900))])
    lot = next(lot for lot in head(given, TaxHead.LONG_TERM_CAPITAL_GAINS).lots if lot.symbol == "RELIANCE")
    # s. 55(2)(ac): max(5,000, min(9,000 FMV, 13,000 sale)) = 9,000.
    assert lot.cost_basis is CostBasis.GRANDFATHERED_FAIR_MARKET_VALUE
    assert lot.cost_of_acquisition_micros == rupees(9_000)
    assert lot.net_micros == rupees(4_000)
    assert given.fair_market_value_missing == ()
    assert head(given, TaxHead.LONG_TERM_CAPITAL_GAINS).net_micros == rupees("4788.8")

    below_cost = report(journal(), fmv=[("RELIANCE", rupees(400))])
    lot = next(lot for lot in head(below_cost, TaxHead.LONG_TERM_CAPITAL_GAINS).lots if lot.symbol == "RELIANCE")
    assert lot.cost_basis is CostBasis.GRANDFATHERED_ACTUAL_COST
    assert lot.net_micros == rupees(8_000)


def test_futures_and_options_are_non_speculative_with_icai_turnover() -> None:
    summary = head(report(journal()), TaxHead.NON_SPECULATIVE_BUSINESS)
    futures, options = summary.lots
    assert (futures.kind, options.kind) == (LotKind.FUTURES, LotKind.OPTIONS)
    assert futures.gross_micros == rupees(-7_500)  # a loss: 75 x (23,900 - 24,000)
    assert futures.net_micros == rupees(-7_610)
    assert futures.stt_micros == rupees(60)  # 0.02 % of 1,792,500 is 358.5: capped at the 60 recorded
    assert options.net_micros == rupees(3_705)  # 75 x 50 - 45
    assert options.stt_micros == rupees("11.25")  # 0.1 % of the 11,250 premium sold
    assert summary.net_micros == rupees(-3_905)
    assert summary.charges_micros == summary.deducted_charges_micros == rupees(155)
    # ICAI GN 2022 para 5.14(b): |-7,500| + |3,750|; the premium sold is already in the difference.
    assert summary.turnover_micros == rupees(11_250)
    assert summary.option_sale_premium_micros == rupees(11_250)
    assert head(report(journal()), TaxHead.UNCLASSIFIED).lot_count == 0


def test_same_day_trades_against_holdings_are_intraday_and_leave_the_holding_alone() -> None:
    fills = [
        fill("b0", "SBIN", True, 10, 600, ist(2025, 4, 10)),
        fill("s1", "SBIN", False, 10, 620, ist(2025, 5, 20, 10)),
        fill("b1", "SBIN", True, 10, 610, ist(2025, 5, 20, 11)),
        fill("s2", "SBIN", False, 10, 650, ist(2025, 9, 1)),
    ]
    result = report(fills)
    (intraday,) = head(result, TaxHead.SPECULATIVE_BUSINESS).lots
    assert (intraday.long, intraday.gross_micros) == (False, rupees(100))  # sold 620, bought back 610
    (delivery,) = head(result, TaxHead.SHORT_TERM_CAPITAL_GAINS).lots
    assert (delivery.open_trade_id, delivery.close_trade_id, delivery.gross_micros) == ("b0", "s2", rupees(500))


def test_a_lot_belongs_to_the_financial_year_of_its_ist_close_date() -> None:
    fills = [
        fill("a1", "ITC", True, 1, 400, ist(2025, 3, 3)),
        fill("a2", "ITC", True, 1, 400, ist(2025, 3, 3)),
        fill("a3", "ITC", False, 1, 410, ist(2025, 3, 31, 23, 59, 59)),  # 31 March IST: FY 2024-25
        fill("a4", "ITC", False, 1, 420, ist(2025, 4, 1, 0, 0, 0)),  # 1 April 00:00 IST: FY 2025-26
    ]
    earlier = head(report(fills, "2024-25"), TaxHead.SHORT_TERM_CAPITAL_GAINS)
    later = head(report(fills, "2025-26"), TaxHead.SHORT_TERM_CAPITAL_GAINS)
    assert [lot.close_trade_id for lot in earlier.lots] == ["a3"]
    assert [lot.close_trade_id for lot in later.lots] == ["a4"]
    assert (earlier.net_micros, later.net_micros) == (rupees(10), rupees(20))


def test_rows_are_capped_but_totals_count_every_lot() -> None:
    fills = []
    for day in range(1, 6):
        fills += [
            fill(f"b{day}", "INFY", True, 1, 100, ist(2025, 6, day, 10)),
            fill(f"s{day}", "INFY", False, 1, 101, ist(2025, 6, day, 11)),
        ]
    query = build_tax_query("2025-26", [], 2, now_us=NOW)
    summary = head(build_tax_report(fills, query, load_schedule()), TaxHead.SPECULATIVE_BUSINESS)
    assert (summary.lot_count, len(summary.lots), summary.net_micros) == (5, 2, rupees(5))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2025-2026", "INVALID_FINANCIAL_YEAR"),
        ("2025-27", "INVALID_FINANCIAL_YEAR"),
        ("FY25", "INVALID_FINANCIAL_YEAR"),
        ("", "INVALID_FINANCIAL_YEAR"),
        ("1999-00", "INVALID_FINANCIAL_YEAR"),
        ("2027-28", "INVALID_FINANCIAL_YEAR"),  # after the current year (2026-27)
    ],
)
def test_a_bad_financial_year_is_invalid_argument_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        build_tax_query(text, [], 0, now_us=NOW)
    assert raised.value.reason == reason
    assert [violation.field for violation in raised.value.violations] == ["financial_year"]


def test_financial_year_bounds_are_ist_midnights_and_the_current_year_is_accepted() -> None:
    year = parse_financial_year("2026-27", now_us=NOW)
    assert (year.start_us, year.end_us) == (ist(2026, 4, 1, 0), ist(2027, 4, 1, 0))
    assert parse_financial_year("2099-00", now_us=ist(2099, 4, 1, 0)).label == "2099-00"


def test_bad_fair_market_values_and_row_limit_name_their_fields() -> None:
    with pytest.raises(InvalidArgument) as raised:
        build_tax_query("2025-26", [("INFY", 1), ("INFY", 0), ("bad symbol", 5)], 10_001, now_us=NOW)
    assert raised.value.reason == "INVALID_TAX_REQUEST"
    assert [violation.field for violation in raised.value.violations] == [
        "fair_market_values[1].symbol",
        "fair_market_values[1].price_micros",
        "fair_market_values[2].symbol",
        "row_limit",
    ]


# -- the use case, on in-memory fakes --------------------------------------------------------------


@pytest.fixture
def trades() -> InMemoryTradeSource:
    return InMemoryTradeSource()


@pytest.fixture
def analytics(trades: InMemoryTradeSource) -> Analytics:
    return wired(NOW, trades=trades)


async def test_each_user_gets_only_their_own_trades(trades: InMemoryTradeSource, analytics: Analytics) -> None:
    for each in journal():
        trades.put("alice", each)
    trades.put("bob", fill("x1", "INFY", True, 1, 100, ist(2025, 6, 2, 10)))
    trades.put("bob", fill("x2", "INFY", False, 1, 90, ist(2025, 6, 2, 11)))
    query = build_tax_query("2025-26", [], 0, now_us=NOW)
    alice = await analytics.service.tax_report("alice", query)
    bob = await analytics.service.tax_report("bob", query)
    nobody = await analytics.service.tax_report("carol", query)
    assert head(alice, TaxHead.SPECULATIVE_BUSINESS).net_micros == rupees(185)
    (lot,) = head(bob, TaxHead.SPECULATIVE_BUSINESS).lots
    assert (lot.open_trade_id, lot.net_micros) == ("x1", rupees(-10))
    assert sum(summary.lot_count for summary in bob.heads) == 1
    assert sum(summary.lot_count for summary in nobody.heads) == 0
