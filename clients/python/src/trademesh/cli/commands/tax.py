"""``tax``: the tax statement of an Indian financial year by head (a statement of figures, not tax advice)."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from trademesh.analytics.v1 import tax_pb2
from trademesh.cli.render import format_inr, write_csv
from trademesh.cli.shared import out, print_json, session_client
from trademesh.common.v1 import instrument_pb2

__all__ = ["app"]

#: A top-level command (added to the root without a group name).
app = typer.Typer()

HEAD_LABELS = {
    tax_pb2.TAX_HEAD_SPECULATIVE_BUSINESS: "Speculative business (intraday equity)",
    tax_pb2.TAX_HEAD_NON_SPECULATIVE_BUSINESS: "Non-speculative business (F&O)",
    tax_pb2.TAX_HEAD_SHORT_TERM_CAPITAL_GAINS: "Short-term capital gains (≤ 12 months)",
    tax_pb2.TAX_HEAD_LONG_TERM_CAPITAL_GAINS: "Long-term capital gains (> 12 months)",
    tax_pb2.TAX_HEAD_UNCLASSIFIED: "Unclassified (review)",
}

#: Columns of `tax --csv`: one row per lot, exact decimal INR, times in UTC ISO 8601.
TAX_CSV_COLUMNS = (
    "financial_year", "head", "kind", "exchange", "symbol", "long", "quantity", "open_trade_id", "close_trade_id",
    "open_time", "close_time", "holding_days", "buy_value_inr", "sell_value_inr", "gross_inr", "charges_inr",
    "stt_inr", "stt_basis", "deducted_charges_inr", "cost_of_acquisition_inr", "cost_basis", "net_inr",
    "turnover_inr",
)  # fmt: skip


def _inr(micros: int) -> str:
    return str(Decimal(micros) / 1_000_000)


def _name(value: int, enum: type, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)  # type: ignore[attr-defined]


def _csv_rows(report: tax_pb2.TaxReport) -> list[list[str]]:
    rows = []
    for head in report.heads:
        for lot in head.lots:
            rows.append(
                [
                    report.financial_year,
                    _name(head.head, tax_pb2.TaxHead, "TAX_HEAD_"),
                    _name(lot.kind, tax_pb2.TaxLotKind, "TAX_LOT_KIND_"),
                    _name(lot.instrument.exchange, instrument_pb2.Exchange, "EXCHANGE_"),
                    lot.instrument.symbol,
                    "true" if lot.long else "false",
                    _inr(lot.quantity_micros),
                    lot.open_trade_id,
                    lot.close_trade_id,
                    lot.open_time.ToJsonString(),
                    lot.close_time.ToJsonString(),
                    str(lot.holding_days),
                    _inr(lot.buy_value_micros),
                    _inr(lot.sell_value_micros),
                    _inr(lot.gross_micros),
                    _inr(lot.charges_micros),
                    _inr(lot.stt_micros),
                    _name(lot.stt_basis, tax_pb2.TaxSttBasis, "TAX_STT_BASIS_"),
                    _inr(lot.deducted_charges_micros),
                    _inr(lot.cost_of_acquisition_micros),
                    _name(lot.cost_basis, tax_pb2.TaxCostBasis, "TAX_COST_BASIS_"),
                    _inr(lot.net_micros),
                    _inr(lot.turnover_micros),
                ]
            )
    return rows


@app.command()
def tax(
    context: typer.Context,
    fy: Annotated[str, typer.Option("--fy", help="Financial year, e.g. 2025-26 (April to March, IST).")],
    fmv: Annotated[
        list[str] | None,
        typer.Option(help="Fair market value on 31 Jan 2018 per unit, SYMBOL=RUPEES (repeatable), for grandfathering."),
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print every lot as CSV (spreadsheet-safe: no cell starts a formula).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statement as JSON.")] = False,
) -> None:
    """Show income by tax head for a financial year, net of recorded charges, with ICAI turnover."""
    values = []
    for entry in fmv or []:
        symbol, _, rupees = entry.partition("=")
        try:
            price = int(Decimal(rupees) * 1_000_000)
        except ArithmeticError:
            raise typer.BadParameter(f"{entry!r} is not SYMBOL=RUPEES", param_hint="--fmv") from None
        values.append(tax_pb2.FairMarketValue(symbol=symbol.strip().upper(), price_micros=price))
    request = tax_pb2.GetTaxReportRequest(
        financial_year=fy, fair_market_values=values, row_limit=10_000 if as_csv else 20
    )
    with session_client(context) as client:
        report = client.analytics.GetTaxReport(request).report
    if as_json:
        print_json(report)
        return
    if as_csv:
        write_csv(sys.stdout, TAX_CSV_COLUMNS, _csv_rows(report))
        return
    table = Table(title=f"Tax statement FY {report.financial_year}", title_justify="left")
    for column in ("head", "lots", "gross", "charges", "of which STT", "deducted", "net", "turnover"):
        table.add_column(column, justify="left" if column == "head" else "right")
    for head in report.heads:
        table.add_row(
            HEAD_LABELS.get(head.head, str(head.head)),
            str(head.lot_count),
            format_inr(head.gross_micros, sign=True),
            format_inr(head.charges_micros),
            format_inr(head.stt_micros),
            format_inr(head.deducted_charges_micros),
            format_inr(head.net_micros, sign=True),
            format_inr(head.turnover_micros),
        )
    out.print(table)
    if report.fair_market_value_missing:
        out.print(
            "No fair market value (31 Jan 2018) for: "
            + ", ".join(report.fair_market_value_missing)
            + " — actual cost used; pass --fmv SYMBOL=RUPEES to grandfather."
        )
    out.print(report.dividends_note)
    out.print(report.charges_note)
    out.print(f"[bold]{report.disclaimer}[/bold]")
