"""Tax statement ⇄ proto (trademesh.analytics.v1 tax.proto): requests in, reports out.

Money is saturated to int64, times become Timestamps.
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from trademesh.analytics.v1 import tax_pb2
from trademesh.services.analytics.mapping import instrument_to_proto
from trademesh.services.analytics.model import saturate
from trademesh.services.analytics.model.tax import (
    CHARGES_NOTE,
    DISCLAIMER,
    DIVIDENDS_NOTE,
    HeadSummary,
    TaxLot,
    TaxQuery,
    TaxReport,
    build_tax_query,
)


def tax_query_from_proto(request: tax_pb2.GetTaxReportRequest, *, now_us: int) -> TaxQuery:
    """Validate a GetTaxReportRequest (InvalidArgument naming each bad field)."""
    return build_tax_query(
        request.financial_year,
        [(value.symbol, value.price_micros) for value in request.fair_market_values],
        request.row_limit,
        now_us=now_us,
    )


def _timestamp(time_us: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(time_us)
    return stamp


def _lot(lot: TaxLot) -> tax_pb2.TaxLot:
    return tax_pb2.TaxLot(
        instrument=instrument_to_proto((lot.symbol, lot.exchange)),
        kind=tax_pb2.TaxLotKind.Value(f"TAX_LOT_KIND_{lot.kind}"),
        long=lot.long,
        quantity_micros=saturate(lot.quantity_micros),
        open_trade_id=lot.open_trade_id,
        close_trade_id=lot.close_trade_id,
        open_time=_timestamp(lot.open_time_us),
        close_time=_timestamp(lot.close_time_us),
        buy_value_micros=saturate(lot.buy_value_micros),
        sell_value_micros=saturate(lot.sell_value_micros),
        gross_micros=saturate(lot.gross_micros),
        charges_micros=saturate(lot.charges_micros),
        stt_micros=saturate(lot.stt_micros),
        stt_basis=tax_pb2.TaxSttBasis.Value(f"TAX_STT_BASIS_{lot.stt_basis}"),
        deducted_charges_micros=saturate(lot.deducted_charges_micros),
        cost_of_acquisition_micros=saturate(lot.cost_of_acquisition_micros),
        cost_basis=tax_pb2.TaxCostBasis.Value(f"TAX_COST_BASIS_{lot.cost_basis}"),
        net_micros=saturate(lot.net_micros),
        turnover_micros=saturate(lot.turnover_micros),
        holding_days=lot.holding_days,
    )


def _head(summary: HeadSummary) -> tax_pb2.TaxHeadSummary:
    return tax_pb2.TaxHeadSummary(
        head=tax_pb2.TaxHead.Value(f"TAX_HEAD_{summary.head}"),
        lot_count=summary.lot_count,
        gross_micros=saturate(summary.gross_micros),
        charges_micros=saturate(summary.charges_micros),
        stt_micros=saturate(summary.stt_micros),
        deducted_charges_micros=saturate(summary.deducted_charges_micros),
        net_micros=saturate(summary.net_micros),
        turnover_micros=saturate(summary.turnover_micros),
        sale_value_micros=saturate(summary.sale_value_micros),
        cost_of_acquisition_micros=saturate(summary.cost_of_acquisition_micros),
        option_sale_premium_micros=saturate(summary.option_sale_premium_micros),
        lots=[_lot(lot) for lot in summary.lots],
        lots_truncated=summary.lot_count > len(summary.lots),
    )


def tax_report_to_proto(report: TaxReport) -> tax_pb2.TaxReport:
    """Encode a tax statement with its notes and disclaimer."""
    return tax_pb2.TaxReport(
        financial_year=report.year.label,
        start_time=_timestamp(report.year.start_us),
        end_time=_timestamp(report.year.end_us),
        heads=[_head(summary) for summary in report.heads],
        fair_market_value_missing=list(report.fair_market_value_missing),
        disclaimer=DISCLAIMER,
        dividends_note=DIVIDENDS_NOTE,
        charges_note=CHARGES_NOTE,
    )
