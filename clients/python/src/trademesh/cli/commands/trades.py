"""``trades add`` and ``trades list`` (``trades import`` lives in :mod:`trademesh.cli.commands.imports`)."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from trademesh.cli.commands import imports
from trademesh.cli.render import format_inr, format_quantity, parse_micros, parse_time, write_csv
from trademesh.cli.shared import enum_label, format_timestamp, out, print_json, session_client
from trademesh.common.v1 import instrument_pb2
from trademesh.sdk import parse_instrument
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

__all__ = ["TRADE_CSV_COLUMNS", "app"]

#: The ``trades`` group.
app = typer.Typer(help="Add, list and import trades.", no_args_is_help=True)


class SideChoice(StrEnum):
    """Trade side."""

    buy = "buy"
    sell = "sell"


class CategoryChoice(StrEnum):
    """Trade category."""

    intraday = "intraday"
    swing = "swing"
    long_term = "long-term"


def _trade_table(trades: list[trade_pb2.Trade]) -> Table:
    table = Table(title=f"{len(trades)} trade(s)", title_justify="left")
    for column in ("time (IST)", "side", "symbol", "quantity", "price", "fees", "category"):
        table.add_column(column, justify="right" if column in {"quantity", "price", "fees"} else "left", no_wrap=True)
    for trade in trades:
        exchange = instrument_pb2.Exchange.Name(trade.instrument.exchange).removeprefix("EXCHANGE_")
        table.add_row(
            format_timestamp(trade.trade_time, seconds=False),
            enum_label(trade.side, trade_pb2.Side, "SIDE_"),
            trade.instrument.symbol if exchange == "NSE" else f"{exchange}:{trade.instrument.symbol}",
            format_quantity(trade.quantity_micros),
            format_inr(trade.price_micros),
            format_inr(trade.fees_micros),
            enum_label(trade.category, trade_pb2.TradeCategory, "TRADE_CATEGORY_"),
        )
    return table


@app.command("add")
def trades_add(
    context: typer.Context,
    side: Annotated[SideChoice, typer.Argument(help="buy or sell.")],
    symbol: Annotated[str, typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL, e.g. INFY or NFO:NIFTY24DECFUT.")],
    quantity: Annotated[str, typer.Argument(help="Units (shares), up to 6 decimals.")],
    price: Annotated[str, typer.Argument(help="Price in INR, e.g. 1520.50.")],
    when: Annotated[
        str | None, typer.Option("--time", help="Trade time (ISO 8601; IST if no zone). Default: now.")
    ] = None,
    fees: Annotated[str, typer.Option(help="Charges in INR.")] = "0",
    category: Annotated[CategoryChoice | None, typer.Option(help="Default: inferred.")] = None,
    strategy: Annotated[str, typer.Option(help="Free-text strategy name.")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    notes: Annotated[str, typer.Option(help="Free-text notes.")] = "",
    stop: Annotated[str | None, typer.Option(help="Stop-loss price in INR (below a buy, above a sell).")] = None,
    target: Annotated[str | None, typer.Option(help="Target price in INR.")] = None,
    risk: Annotated[
        str | None, typer.Option(help="Planned risk (1R) in INR. Default: |price - stop| x quantity.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the created trade as JSON.")] = False,
) -> None:
    """Add a trade by hand."""
    try:
        trade_time = parse_time(when) if when else datetime.now(UTC)
        trade = trade_pb2.Trade(
            instrument=parse_instrument(symbol),
            side=trade_pb2.SIDE_BUY if side is SideChoice.buy else trade_pb2.SIDE_SELL,
            quantity_micros=parse_micros(quantity, "quantity"),
            price_micros=parse_micros(price, "price"),
            fees_micros=parse_micros(fees, "fees"),
            strategy=strategy,
            tags=tag or [],
            notes=notes,
            stop_loss_price_micros=parse_micros(stop, "stop") if stop else 0,
            target_price_micros=parse_micros(target, "target") if target else 0,
            planned_risk_micros=parse_micros(risk, "risk") if risk else 0,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    trade.trade_time.FromDatetime(trade_time)
    if category is not None:
        trade.category = trade_pb2.TradeCategory.Value(f"TRADE_CATEGORY_{category.name.upper()}")
    with session_client(context) as client:
        created = client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade)
        ).trade
    if as_json:
        print_json(created)
    else:
        out.print(_trade_table([created]))


@app.command("list")
def trades_list(
    context: typer.Context,
    symbol: Annotated[str, typer.Option(help="Only this symbol.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many trades (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV (spreadsheet-safe: text cells never start a formula).")
    ] = False,
) -> None:
    """List your trades, newest first."""
    trades: list[trade_pb2.Trade] = []
    token = ""
    with session_client(context) as client:
        while len(trades) < limit:
            page = client.trade.ListTrades(
                trade_service_pb2.ListTradesRequest(
                    page_size=min(limit - len(trades), 500), page_token=token, symbol=symbol
                )
            )
            trades += page.trades
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(list(trades))
    elif as_csv:
        write_csv(sys.stdout, TRADE_CSV_COLUMNS, (_trade_csv_row(trade) for trade in trades))
    else:
        out.print(_trade_table(trades))


#: Columns of `trades list --csv`: exact decimal amounts in INR and units, times in UTC ISO 8601.
TRADE_CSV_COLUMNS = (
    "id", "trade_time", "exchange", "symbol", "side", "quantity", "price_inr", "fees_inr", "category", "strategy",
    "tags", "notes",
)  # fmt: skip


def _trade_csv_row(trade: trade_pb2.Trade) -> list[str]:
    return [
        trade.id,
        trade.trade_time.ToDatetime(tzinfo=UTC).isoformat(),
        instrument_pb2.Exchange.Name(trade.instrument.exchange).removeprefix("EXCHANGE_"),
        trade.instrument.symbol,
        enum_label(trade.side, trade_pb2.Side, "SIDE_"),
        str(Decimal(trade.quantity_micros) / 1_000_000),
        str(Decimal(trade.price_micros) / 1_000_000),
        str(Decimal(trade.fees_micros) / 1_000_000),
        enum_label(trade.category, trade_pb2.TradeCategory, "TRADE_CATEGORY_"),
        trade.strategy,
        " ".join(trade.tags),
        trade.notes,
    ]


# After add and list, as before the split: `trades import` joins the group from its own module.
app.add_typer(imports.app)
