"""GetAnalytics' report shows unrealized P&L net of charges, as WatchPnl does (decision 0310).

Hand-computed: buy 10 INFY at 1,500 (charges 20), sell 4 at 1,600 (charges 17), marked at 1,550:
gross unrealized 6 x 50 = 300; open fees 6/10 x 20 = 12; net = 300 - 12 - the exit order's charges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from trademesh.kernel import charges as engine
from trademesh.services.analytics.mapping import report_to_proto
from trademesh.services.analytics.model import (
    Category,
    ChargeProfile,
    Journal,
    JournalFill,
    Mark,
    NetBook,
    build_report,
    pnl_state,
    to_micros,
)
from trademesh.services.analytics.model.metrics import UserSettings
from trademesh.services.analytics.model.netting import exit_template
from trademesh.services.analytics.model.periods import Period, ReportQuery

M = 1_000_000
NOW = to_micros(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))  # Thursday 11:30 IST
HOUR = 3_600 * M
INFY = ("INFY", "NSE")


def fill(trade_id: str, buy: bool, units: int, rupees: int, time_us: int, fees: int) -> JournalFill:
    return JournalFill(
        trade_id=trade_id,
        symbol="INFY",
        exchange="NSE",
        buy=buy,
        quantity_micros=units * M,
        price_micros=rupees * M,
        fees_micros=fees,
        time_us=time_us,
        create_time_us=time_us,
        category=Category.SWING,
    )


def test_the_report_carries_net_unrealized_and_its_charges_equal_to_watch_pnl() -> None:
    journal = Journal(
        [fill("b", True, 10, 1500, NOW - 2 * HOUR, 20 * M), fill("s", False, 4, 1600, NOW - HOUR, 17 * M)]
    )
    marks = {INFY: Mark(1550 * M, 1540 * M, NOW, False)}
    book = NetBook.build(journal, {INFY: ChargeProfile("EQUITY", None, "ZERODHA")}, date(2026, 11, 26))
    schedule = engine.load_schedule()
    template = exit_template(INFY, ChargeProfile("EQUITY", None, "ZERODHA"), 6, date(2026, 11, 26))
    assert template is not None
    exit_charges = engine.exit_charges(schedule, schedule.policy("contract_note"), template, 1550 * M)
    assert exit_charges > 0

    report = build_report(journal, ReportQuery(Period.ALL_TIME, None, None), UserSettings(), NOW, marks, book)
    assert report.unrealized_pnl_micros == 300 * M  # gross, as before
    assert report.open_fees_micros == 12 * M
    assert report.estimated_exit_charges_micros == exit_charges
    assert report.net_unrealized_pnl_micros == 300 * M - 12 * M - exit_charges

    totals = pnl_state(journal, marks, NOW, book).totals
    assert (totals.net_unrealized_pnl_micros, totals.estimated_exit_charges_micros, totals.open_fees_micros) == (
        report.net_unrealized_pnl_micros,
        report.estimated_exit_charges_micros,
        report.open_fees_micros,
    )

    message = report_to_proto(report)
    assert message.unrealized_pnl_micros == 300 * M
    assert message.net_unrealized_pnl_micros == 300 * M - 12 * M - exit_charges
    assert message.estimated_exit_charges_micros == exit_charges
    assert message.open_fees_micros == 12 * M


def test_an_unmarked_position_adds_no_net_unrealized_but_its_open_fees() -> None:
    journal = Journal([fill("b", True, 10, 1500, NOW - 2 * HOUR, 20 * M)])
    book = NetBook.build(journal, {INFY: ChargeProfile("EQUITY", None, "ZERODHA")}, date(2026, 11, 26))
    report = build_report(journal, ReportQuery(Period.ALL_TIME, None, None), UserSettings(), NOW, {}, book)
    assert (report.unmarked_position_count, report.unrealized_pnl_micros) == (1, 0)
    assert (report.net_unrealized_pnl_micros, report.estimated_exit_charges_micros) == (0, 0)
    assert report.open_fees_micros == 20 * M
