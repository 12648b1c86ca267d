"""``watchlist``: the server-side watchlists (named, ordered lists of instruments) of the logged-in user.

A list is named by its id or by its name (case-insensitive; an ambiguous name is refused). Changes carry
the etag read just before, so a change made meanwhile elsewhere (the browser) is refused, not overwritten.
"""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf.field_mask_pb2 import FieldMask
from rich.markup import escape
from rich.table import Table

from trademesh.cli.shared import CliError, out, print_json, session_client
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2, watchlist_pb2
from trademesh.sdk import Trademesh, parse_instrument

__all__ = ["app", "find_watchlist"]

#: The ``watchlist`` group.
app = typer.Typer(help="Watchlists kept on the server (several named, ordered lists).", no_args_is_help=True)

ListArgument = Annotated[str, typer.Argument(help="The watchlist's name or id.")]
SymbolsArgument = Annotated[list[str], typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL, one or more.")]


def _label(item: instrument_pb2.Instrument) -> str:
    exchange = instrument_pb2.Exchange.Name(item.exchange).removeprefix("EXCHANGE_")
    return item.symbol if exchange == "NSE" else f"{exchange}:{item.symbol}"


def _instruments(symbols: list[str]) -> list[instrument_pb2.Instrument]:
    try:
        return [parse_instrument(symbol) for symbol in symbols]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def find_watchlist(client: Trademesh, name_or_id: str) -> watchlist_pb2.Watchlist:
    """Return the caller's watchlist with this id, else the one with this name (case-insensitive)."""
    lists = client.marketdata.ListWatchlists(marketdata_service_pb2.ListWatchlistsRequest()).watchlists
    for item in lists:
        if item.id == name_or_id:
            return item
    named = [item for item in lists if item.name.casefold() == name_or_id.strip().casefold()]
    if len(named) > 1:
        raise CliError(f"{len(named)} watchlists are named {name_or_id!r}; name one by its id")
    if not named:
        raise CliError(f"no watchlist {name_or_id!r}; see `trademesh watchlist list`")
    return named[0]


def _update(client: Trademesh, current: watchlist_pb2.Watchlist, paths: list[str]) -> watchlist_pb2.Watchlist:
    request = marketdata_service_pb2.UpdateWatchlistRequest(watchlist=current, update_mask=FieldMask(paths=paths))
    return client.marketdata.UpdateWatchlist(request).watchlist


def _show(watchlist: watchlist_pb2.Watchlist) -> None:
    symbols = ", ".join(_label(item) for item in watchlist.instruments) or "(empty)"
    # Names are the user's text: printed as they are, never read as rich markup.
    out.print(
        f"{watchlist.name} [{watchlist.id}] — {len(watchlist.instruments)} instrument(s): {symbols}", markup=False
    )


@app.command("list")
def watchlist_list(
    context: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """List your watchlists in their order."""
    with session_client(context) as client:
        lists = client.marketdata.ListWatchlists(marketdata_service_pb2.ListWatchlistsRequest()).watchlists
    if as_json:
        print_json(list(lists))
        return
    if not lists:
        out.print("No watchlists yet: `trademesh watchlist create NAME [SYMBOL...]`.")
        return
    table = Table(title="Watchlists", title_justify="left")
    for column in ("name", "instruments", "first", "id"):
        table.add_column(column, justify="right" if column == "instruments" else "left")
    for item in lists:
        first = ", ".join(_label(i) for i in item.instruments[:5]) + (" …" if len(item.instruments) > 5 else "")
        table.add_row(escape(item.name), str(len(item.instruments)), first, item.id)
    out.print(table)


@app.command("create")
def watchlist_create(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The new list's name (1-64 characters).")],
    symbols: Annotated[list[str] | None, typer.Argument(help="Instruments to start with.")] = None,
) -> None:
    """Create a watchlist (placed after your others)."""
    instruments = _instruments(symbols or [])
    request = marketdata_service_pb2.CreateWatchlistRequest(
        watchlist=watchlist_pb2.Watchlist(name=name, instruments=instruments)
    )
    with session_client(context) as client:
        _show(client.marketdata.CreateWatchlist(request).watchlist)


@app.command("show")
def watchlist_show(
    context: typer.Context,
    watchlist: ListArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show one watchlist's instruments in order."""
    with session_client(context) as client:
        found = find_watchlist(client, watchlist)
    if as_json:
        print_json(found)
        return
    _show(found)


@app.command("add")
def watchlist_add(context: typer.Context, watchlist: ListArgument, symbols: SymbolsArgument) -> None:
    """Append instruments to a watchlist (ones already in it keep their place)."""
    added = _instruments(symbols)
    with session_client(context) as client:
        current = find_watchlist(client, watchlist)
        current.instruments.extend(added)
        _show(_update(client, current, ["instruments"]))


@app.command("rm")
def watchlist_remove(context: typer.Context, watchlist: ListArgument, symbols: SymbolsArgument) -> None:
    """Remove instruments from a watchlist."""
    removed = {(item.exchange, item.symbol) for item in _instruments(symbols)}
    with session_client(context) as client:
        current = find_watchlist(client, watchlist)
        missing = removed - {(item.exchange, item.symbol) for item in current.instruments}
        if missing:
            names = ", ".join(sorted(symbol for _, symbol in missing))
            raise CliError(f"not in {current.name!r}: {names}")
        kept = [item for item in current.instruments if (item.exchange, item.symbol) not in removed]
        del current.instruments[:]
        current.instruments.extend(kept)
        _show(_update(client, current, ["instruments"]))


@app.command("rename")
def watchlist_rename(
    context: typer.Context,
    watchlist: ListArgument,
    new_name: Annotated[str, typer.Argument(help="The new name (1-64 characters).")],
) -> None:
    """Rename a watchlist."""
    with session_client(context) as client:
        current = find_watchlist(client, watchlist)
        current.name = new_name
        _show(_update(client, current, ["name"]))


@app.command("delete")
def watchlist_delete(context: typer.Context, watchlist: ListArgument) -> None:
    """Delete a watchlist."""
    with session_client(context) as client:
        current = find_watchlist(client, watchlist)
        client.marketdata.DeleteWatchlist(
            marketdata_service_pb2.DeleteWatchlistRequest(id=current.id, etag=current.etag)
        )
    out.print(f"Deleted {current.name!r}.", markup=False)
