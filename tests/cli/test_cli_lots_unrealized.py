"""The CLI shows a position's lot size and the report's unrealized P&L net (decision 0310); pure rendering."""

from __future__ import annotations

from trademesh.analytics.v1 import report_pb2
from trademesh.cli.commands.analytics import _unrealized_parts
from trademesh.cli.commands.positions import lots_text
from trademesh.trade.v1 import position_pb2

M = 1_000_000


def test_lot_size_with_the_open_quantity_in_lots() -> None:
    assert lots_text(position_pb2.Position(net_quantity_micros=150 * M, lot_size=75)) == "75 · 2 lots"
    assert lots_text(position_pb2.Position(net_quantity_micros=-75 * M, lot_size=75)) == "75 · 1 lot"
    assert lots_text(position_pb2.Position(net_quantity_micros=100 * M, lot_size=75)) == "75"
    assert lots_text(position_pb2.Position(net_quantity_micros=0, lot_size=75)) == "75"
    assert lots_text(position_pb2.Position(net_quantity_micros=10 * M)) == "—"  # unset: no master, or equity


def test_the_report_row_names_gross_open_fees_and_exit_charges() -> None:
    report = report_pb2.AnalyticsReport(
        unrealized_pnl_micros=300 * M,
        open_fees_micros=12 * M,
        estimated_exit_charges_micros=1_250_000,
        net_unrealized_pnl_micros=286_750_000,
    )
    assert _unrealized_parts(report) == "+₹300.00 / ₹12.00 / ₹1.25"
