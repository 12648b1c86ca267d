"""``positions``: FIFO positions from the trade service."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from trademesh.cli.render import format_inr, format_quantity
from trademesh.cli.shared import format_timestamp, out, print_json, session_client
from trademesh.trade.v1 import position_pb2, trade_service_pb2

__all__ = ["app"]

#: A top-level command (added to the root without a group name).
app = typer.Typer()


class PositionFilter(StrEnum):
    """Which positions to show."""

    open = "open"
    closed = "closed"
    all = "all"


UNITS = 1_000_000


def lots_text(position: position_pb2.Position) -> str:
    """Return the lot size, with the open quantity in lots when it is whole lots ("75 · 2 lots"); "—" if unknown."""
    if not position.HasField("lot_size") or position.lot_size <= 0:
        return "—"
    lot = position.lot_size * UNITS
    open_micros = abs(position.net_quantity_micros)
    if open_micros == 0 or open_micros % lot:
        return str(position.lot_size)
    lots = open_micros // lot
    return f"{position.lot_size} · {lots} lot{'' if lots == 1 else 's'}"


@app.command()
def positions(
    context: typer.Context,
    status: Annotated[PositionFilter, typer.Option(help="open, closed or all.")] = PositionFilter.open,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show your positions (FIFO)."""
    wanted = {
        PositionFilter.open: position_pb2.POSITION_STATUS_OPEN,
        PositionFilter.closed: position_pb2.POSITION_STATUS_CLOSED,
        PositionFilter.all: position_pb2.POSITION_STATUS_UNSPECIFIED,
    }[status]
    found: list[position_pb2.Position] = []
    token = ""
    with session_client(context) as client:
        while True:
            page = client.trade.ListPositions(
                trade_service_pb2.ListPositionsRequest(status=wanted, page_size=1000, page_token=token)
            )
            found += page.positions
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(list(found))
        return
    table = Table(title=f"{len(found)} {status.value} position(s)", title_justify="left")
    for column in (
        "symbol",
        "net qty",
        "lot size",
        "avg price",
        "open value",
        "realized P&L",
        "fees",
        "trades",
        "last trade",
    ):
        table.add_column(column, justify="left" if column in {"symbol", "last trade"} else "right")
    for position in found:
        pnl = position.realized_pnl_micros
        table.add_row(
            position.instrument.symbol,
            format_quantity(position.net_quantity_micros),
            lots_text(position),
            format_inr(position.average_open_price_micros),
            format_inr(position.open_value_micros),
            f"[{'green' if pnl >= 0 else 'red'}]{format_inr(pnl, sign=True)}[/]",
            format_inr(position.total_fees_micros),
            str(position.trade_count),
            format_timestamp(position.last_trade_time),
        )
    out.print(table)
