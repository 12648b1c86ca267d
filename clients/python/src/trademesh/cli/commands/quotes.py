"""``quotes watch``: live quotes streamed from market data, in a table or one line per update."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from trademesh.cli.commands.watchlists import find_watchlist
from trademesh.cli.render import format_inr
from trademesh.cli.shared import async_session_client, format_timestamp, out, session_client
from trademesh.marketdata.v1 import quote_pb2
from trademesh.sdk import parse_instrument

__all__ = ["app"]

#: The ``quotes`` group.
app = typer.Typer(help="Live quotes.", no_args_is_help=True)


class ModeChoice(StrEnum):
    """Quote detail."""

    ltp = "ltp"
    quote = "quote"


def _quote_table(held: dict[tuple[int, str], quote_pb2.Quote], updates: int) -> Table:
    table = Table(title=f"Live quotes — {updates} update(s), Ctrl-C to stop", title_justify="left")
    for column in ("symbol", "last", "change", "%", "bid", "ask", "volume", "time (IST)"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for quote in held.values():
        colour = "green" if quote.change_micros >= 0 else "red"
        table.add_row(
            quote.instrument.symbol,
            format_inr(quote.last_price_micros),
            f"[{colour}]{format_inr(quote.change_micros, sign=True)}[/]",
            f"[{colour}]{quote.change_percent:+.2f}[/]",
            format_inr(quote.bid_price_micros),
            format_inr(quote.ask_price_micros),
            f"{quote.volume:,}",
            format_timestamp(quote.exchange_time),
        )
    return table


def _quote_line(quote: quote_pb2.Quote) -> str:
    return (
        f"{quote.instrument.symbol} {format_inr(quote.last_price_micros)} "
        f"{format_inr(quote.change_micros, sign=True)} ({quote.change_percent:+.2f}%) seq={quote.sequence}"
    )


@app.command("watch")
def quotes_watch(
    context: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL, one or more (or --watchlist).")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many quote updates.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    mode: Annotated[ModeChoice, typer.Option(help="ltp (smallest) or quote (bid/ask, volume).")] = ModeChoice.quote,
    watchlist: Annotated[
        str | None, typer.Option(help="Watch one of your stored watchlists (name or id) instead of SYMBOLS.")
    ] = None,
) -> None:
    """Watch live quotes in a table (one line per update when the output is not a terminal).

    Survives reconnects (the stream resumes with a fresh snapshot); stops on Ctrl-C, --count or --duration.
    """
    if bool(symbols) == (watchlist is not None):
        raise typer.BadParameter("give SYMBOLS or --watchlist NAME (one of them)")
    try:
        instruments = [parse_instrument(symbol) for symbol in symbols or []]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    watchlist_id = ""
    if watchlist is not None:
        with session_client(context) as lists:
            watchlist_id = find_watchlist(lists, watchlist).id
    quote_mode = quote_pb2.QUOTE_MODE_LTP if mode is ModeChoice.ltp else quote_pb2.QUOTE_MODE_QUOTE

    async def watch() -> None:
        client = async_session_client(context)  # an asyncio channel belongs to the loop it is created in
        updates = 0
        held: dict[tuple[int, str], quote_pb2.Quote] = {}
        interactive = out.is_terminal
        stream = client.subscribe_quotes(instruments, mode=quote_mode, give_up_after=60.0, watchlist_id=watchlist_id)
        async with client:
            with (
                Live(_quote_table(held, 0), console=out, auto_refresh=False, transient=False)
                if interactive
                else (_NoLive()) as live
            ):
                async for batch in stream:
                    for quote in batch.quotes:
                        held[(quote.instrument.exchange, quote.instrument.symbol)] = quote
                        updates += 1
                        if not interactive:
                            out.print(_quote_line(quote))
                        if count is not None and updates >= count:
                            break
                    live.update(_quote_table(held, updates), refresh=True)
                    if count is not None and updates >= count:
                        return

    with suppress(KeyboardInterrupt):
        asyncio.run(_with_deadline(watch(), duration))


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, renderable: object, *, refresh: bool = False) -> None:
        return None


async def _with_deadline(work: Any, seconds: float | None) -> None:
    if seconds is None:
        await work
        return
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        pass
