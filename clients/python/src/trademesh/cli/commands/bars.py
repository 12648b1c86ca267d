"""``bars``: OHLCV bars of one instrument from market data, at 1-minute, 5-minute or IST-day resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from google.protobuf.timestamp_pb2 import Timestamp
from rich.table import Table

from trademesh.cli.render import format_inr, parse_time
from trademesh.cli.shared import format_timestamp, out, print_json, session_client
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.sdk import parse_instrument

__all__ = ["app"]

#: A top-level command (added to the root without a group name).
app = typer.Typer()


class IntervalChoice(StrEnum):
    """Bar length."""

    one_minute = "1m"
    five_minutes = "5m"
    one_day = "1d"


_INTERVALS = {
    IntervalChoice.one_minute: (bar_pb2.BAR_INTERVAL_ONE_MINUTE, timedelta(hours=2)),
    IntervalChoice.five_minutes: (bar_pb2.BAR_INTERVAL_FIVE_MINUTES, timedelta(days=2)),
    IntervalChoice.one_day: (bar_pb2.BAR_INTERVAL_ONE_DAY, timedelta(days=60)),
}
#: At most this many bars are fetched (pages of 5,000), so a long range cannot run away.
MAX_BARS = 50_000


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _time(text: str, option: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


@app.command()
def bars(
    context: typer.Context,
    symbol: Annotated[str, typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL.")],
    interval: Annotated[IntervalChoice, typer.Option(help="1m, 5m or 1d (an IST day).")] = IntervalChoice.one_minute,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="First bar's earliest start (IST if no zone). Default: 2 h, 2 days or 60 days ago."
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Bars starting before this (IST if no zone). Default: now.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the bars as JSON.")] = False,
) -> None:
    """Show an instrument's OHLCV bars (1-minute bars are kept 30 days, 5-minute 365 days, day bars always)."""
    try:
        instrument = parse_instrument(symbol)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="SYMBOL") from None
    wanted, default_span = _INTERVALS[interval]
    until = _time(end, "--to") if end else None
    since = _time(start, "--from") if start else (until or datetime.now(UTC)) - default_span
    request = marketdata_service_pb2.GetBarsRequest(
        instrument=instrument, interval=wanted, start_time=_stamp(since), page_size=5000
    )
    if until is not None:
        request.end_time.CopyFrom(_stamp(until))
    found: list[bar_pb2.Bar] = []
    with session_client(context) as client:
        while True:
            page = client.marketdata.GetBars(request)
            found += page.bars
            if not page.next_page_token or len(found) >= MAX_BARS:
                break
            request.page_token = page.next_page_token
    if as_json:
        print_json(found)
        return
    table = Table(title=f"{len(found)} {interval.value} bar(s) of {symbol.upper()}", title_justify="left")
    for column in ("start (IST)", "open", "high", "low", "close", "volume", "OI", ""):
        table.add_column(column, justify="left" if column == "start (IST)" else "right")
    for bar in found:
        table.add_row(
            format_timestamp(bar.start_time, seconds=False),
            format_inr(bar.open_micros),
            format_inr(bar.high_micros),
            format_inr(bar.low_micros),
            format_inr(bar.close_micros),
            f"{bar.volume:,}",
            f"{bar.open_interest:,}" if bar.open_interest else "",
            "" if bar.complete else "running",
        )
    out.print(table)
    if not found:
        out.print(
            "No bars recorded for this range: bars come from the live feed (1-minute bars are kept 30 days, "
            "5-minute bars 365 days, day bars indefinitely)."
        )
