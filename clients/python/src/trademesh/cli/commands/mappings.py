"""``mappings`` (saved CSV mappings: list, save, rm) for importing any broker's CSV (docs/decisions/0240).

A mapping names the file's column of each trade field (``-c price=Rate``), how to read its times
(``--time-format "%d/%m/%Y %H:%M:%S"``), its side words (``--buy Bought --sell Sold``), timezone, decimal
separator, delimiter and header row. ``trades import FILE --mapping NAME`` then reads files of that layout.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from trademesh.cli.shared import CliError, format_timestamp, out, print_json, session_client
from trademesh.sdk import Trademesh
from trademesh.trade.v1 import csv_mapping_pb2

__all__ = ["app", "mapping_id_by_name"]

app = typer.Typer(
    help="Saved CSV mappings: read any broker's CSV with `trades import --mapping`.", no_args_is_help=True
)

FIELDS = tuple(csv_mapping_pb2.CsvColumns.DESCRIPTOR.fields_by_name)


def mapping_id_by_name(client: Trademesh, name: str) -> str:
    """Return the id of the caller's mapping named `name` (case-insensitively); CliError when there is none."""
    response = client.trade.ListCsvMappings(csv_mapping_pb2.ListCsvMappingsRequest())
    for saved in response.mappings:
        if saved.name.casefold() == name.strip().casefold():
            return saved.id
    raise CliError(f"no CSV mapping named {name!r} (see `trademesh mappings list`)")


@app.command("list")
def mappings_list(
    context: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """List your saved CSV mappings."""
    with session_client(context) as client:
        mappings = list(client.trade.ListCsvMappings(csv_mapping_pb2.ListCsvMappingsRequest()).mappings)
    if as_json:
        print_json(mappings)
        return
    if not mappings:
        out.print("no CSV mappings yet: `trademesh mappings save NAME -c symbol=... ...`")
        return
    table = Table()
    for column in ("name", "columns", "time format", "timezone", "updated"):
        table.add_column(column)
    for saved in mappings:
        columns = ", ".join(
            f"{f}={getattr(saved.mapping.columns, f)}" for f in FIELDS if getattr(saved.mapping.columns, f)
        )
        table.add_row(
            saved.name,
            columns,
            saved.mapping.time_format or "(default)",
            saved.mapping.timezone or "Asia/Kolkata",
            format_timestamp(saved.update_time, seconds=False),
        )
    out.print(table)


@app.command("save")
def mappings_save(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The mapping's name (replaces your mapping of that name).")],
    column: Annotated[
        list[str], typer.Option("--column", "-c", help=f"FIELD=Header, FIELD one of: {', '.join(FIELDS)}.")
    ],
    time_format: Annotated[str, typer.Option(help='strptime format, e.g. "%d-%m-%Y %H:%M:%S".')] = "",
    buy: Annotated[list[str] | None, typer.Option(help="A side value meaning BUY (repeatable).")] = None,
    sell: Annotated[list[str] | None, typer.Option(help="A side value meaning SELL (repeatable).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone of zoneless times (default Asia/Kolkata).")] = "",
    decimal: Annotated[str, typer.Option(help='Decimal separator: "." or ",".')] = "",
    delimiter: Annotated[str, typer.Option(help='Cell separator: ",", ";", "|" or "tab".')] = "",
    header_row: Annotated[int, typer.Option(help="1-based line of the header.")] = 0,
    default_exchange: Annotated[str, typer.Option(help="Exchange when the file has none (NSE, BSE, …).")] = "",
) -> None:
    """Save a CSV mapping (create, or replace the one with that name)."""
    columns = csv_mapping_pb2.CsvColumns()
    for item in column:
        field, sep, header = item.partition("=")
        if not sep or field.strip() not in FIELDS:
            raise typer.BadParameter(f"{item!r}: use FIELD=Header with FIELD one of {', '.join(FIELDS)}")
        setattr(columns, field.strip(), header.strip())
    mapping = csv_mapping_pb2.CsvMapping(
        columns=columns,
        time_format=time_format,
        buy_values=buy or [],
        sell_values=sell or [],
        timezone=timezone,
        decimal_separator=decimal,
        delimiter="\t" if delimiter == "tab" else delimiter,
        header_row=header_row,
        default_exchange=default_exchange,
    )
    with session_client(context) as client:
        existing = {
            m.name.casefold(): m
            for m in client.trade.ListCsvMappings(csv_mapping_pb2.ListCsvMappingsRequest()).mappings
        }
        current = existing.get(name.strip().casefold())
        request = csv_mapping_pb2.SaveCsvMappingRequest(name=name, mapping=mapping)
        if current is not None:
            request.id, request.etag = current.id, current.etag
        saved = client.trade.SaveCsvMapping(request).mapping
    out.print(f"saved CSV mapping {saved.name!r} ({saved.etag})")


@app.command("rm")
def mappings_rm(context: typer.Context, name: Annotated[str, typer.Argument(help="The mapping's name.")]) -> None:
    """Delete a saved CSV mapping."""
    with session_client(context) as client:
        mapping_id = mapping_id_by_name(client, name)
        client.trade.DeleteCsvMapping(csv_mapping_pb2.DeleteCsvMappingRequest(id=mapping_id))
    out.print(f"deleted CSV mapping {name!r}")
