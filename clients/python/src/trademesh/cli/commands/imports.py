"""``trades import``: a broker's CSV (Zerodha, Fyers or ICICI Direct tradebook, Upstox trade report) or a generic
one, in one call."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from trademesh.cli.commands.mappings import mapping_id_by_name
from trademesh.cli.shared import enum_label, err, format_timestamp, out, print_json, session_client
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import csv_mapping_pb2, import_pb2, trade_pb2, trade_service_pb2

__all__ = ["app"]

#: ``import``, added to the ``trades`` group without a group name of its own.
app = typer.Typer()


class ImportFormatChoice(StrEnum):
    """CSV layout of an import."""

    auto = "auto"
    generic = "generic"
    zerodha = "zerodha"
    upstox = "upstox"
    fyers = "fyers"
    icici = "icici"


#: Header cells that single out a Fyers tradebook (its header sits under a few report lines).
_FYERS_COLUMNS = {"symbol name", "date & time", "traded price"}
#: Header cells that single out an ICICI Direct trade book.
_ICICI_COLUMNS = {"stock", "action", "order ref.", "settlement"}


def _detect_format(content: bytes) -> import_pb2.ImportFormat.ValueType:
    lines = content[:16384].decode("utf-8-sig", errors="replace").splitlines()
    records = [{cell.strip().lower() for cell in record} for record in csv.reader(lines[:31])]
    columns = records[0] if records else set()
    if {"trade_type", "order_execution_time"} <= columns:
        return import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV
    if {"scrip code", "trade num"} & columns or {"trade number", "scrip name"} & columns:
        return import_pb2.IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV
    if columns >= _ICICI_COLUMNS:
        return import_pb2.IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV
    if any(record >= _FYERS_COLUMNS for record in records):
        return import_pb2.IMPORT_FORMAT_FYERS_TRADEBOOK_CSV
    return import_pb2.IMPORT_FORMAT_GENERIC_CSV


_FORMATS = {
    ImportFormatChoice.generic: import_pb2.IMPORT_FORMAT_GENERIC_CSV,
    ImportFormatChoice.zerodha: import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV,
    ImportFormatChoice.upstox: import_pb2.IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV,
    ImportFormatChoice.fyers: import_pb2.IMPORT_FORMAT_FYERS_TRADEBOOK_CSV,
    ImportFormatChoice.icici: import_pb2.IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV,
}


@app.command("import")
def trades_import(
    context: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")],
    file_format: Annotated[
        ImportFormatChoice, typer.Option("--format", help="Layout; auto looks at the header.")
    ] = ImportFormatChoice.auto,
    dry_run: Annotated[bool, typer.Option(help="Validate and count only; create nothing.")] = False,
    account: Annotated[str, typer.Option(help="Broker account id to file the trades under.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    mapping: Annotated[
        str, typer.Option(help="Read the file with your saved CSV mapping of this name (see `mappings`).")
    ] = "",
    preview: Annotated[
        bool, typer.Option(help="Show the first rows as parsed and every row problem; write nothing.")
    ] = False,
) -> None:
    """Import a broker tradebook (Zerodha, Fyers, ICICI Direct), an Upstox trade report or a generic CSV.

    The whole file goes in one idempotent call (re-running the command never imports a row twice).
    """
    content = file.read_bytes()
    rows = max(sum(1 for line in io.StringIO(content.decode("utf-8-sig", errors="replace")) if line.strip()) - 1, 0)
    if mapping and file_format is not ImportFormatChoice.auto:
        raise typer.BadParameter("--format and --mapping exclude each other", param_hint="--mapping")
    chosen = _detect_format(content) if file_format is ImportFormatChoice.auto else _FORMATS[file_format]
    if preview:
        _preview(context, content, chosen, mapping, as_json)
        return
    mapping_id = ""
    if mapping:
        with session_client(context) as client:
            mapping_id = mapping_id_by_name(client, mapping)
        chosen = import_pb2.IMPORT_FORMAT_UNSPECIFIED
    request = trade_service_pb2.ImportTradesRequest(
        mapping_id=mapping_id,
        request_id=str(uuid.uuid4()),
        format=chosen,
        content=content,
        dry_run=dry_run,
        broker_account_id=account,
        file_name=file.name,
    )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    )
    with progress, session_client(context) as client:
        label = f"mapping {mapping}" if mapping else enum_label(chosen, import_pb2.ImportFormat, "IMPORT_FORMAT_")
        task = progress.add_task(f"{'Checking' if dry_run else 'Importing'} {file.name} ({label})", total=rows)
        # One unary call: the bar pulses while the server works, then fills with the rows it processed.
        progress.update(task, total=None)
        result = client.trade.ImportTrades(request, compression=grpc.Compression.Gzip)
        progress.update(task, total=max(result.rows_total, 1), completed=result.rows_total)
    if as_json:
        print_json(result)
        return
    verb = "would be created" if dry_run else "created"
    out.print(
        f"{result.rows_total} row(s): [green]{result.rows_created} {verb}[/], "
        f"{result.rows_duplicate} already imported, [red]{result.rows_failed} failed[/]"
        + (f" (import {result.import_id})" if result.import_id else "")
    )
    _print_row_errors(result.row_errors, result.row_errors_truncated)


def _print_row_errors(row_errors: Sequence[import_pb2.ImportRowError], truncated: bool) -> None:
    if row_errors:
        table = Table(title="Rows with problems", title_justify="left")
        for column in ("row", "column", "value", "reason", "problem"):
            table.add_column(column)
        for problem in row_errors:
            table.add_row(str(problem.row_number), problem.column, problem.value, problem.reason, problem.message)
        out.print(table)
        if truncated:
            out.print("(more problems than shown: fix these and import again)")


def _preview(
    context: typer.Context, content: bytes, chosen: import_pb2.ImportFormat.ValueType, mapping: str, as_json: bool
) -> None:
    request = csv_mapping_pb2.PreviewImportRequest(content=content)
    with session_client(context) as client:
        if mapping:
            request.mapping_id = mapping_id_by_name(client, mapping)
        else:
            request.format = chosen
        result = client.trade.PreviewImport(request, compression=grpc.Compression.Gzip)
    if as_json:
        print_json(result)
        return
    table = Table(title="First rows as they would be imported", title_justify="left")
    for column in ("row", "time", "side", "symbol", "exchange", "quantity", "price", "trade id"):
        table.add_column(column)
    for row in result.rows:
        trade = row.trade
        if not row.HasField("trade"):
            table.add_row(str(row.row_number), "(has problems, see below)", "", "", "", "", "", "")
            continue
        table.add_row(
            str(row.row_number),
            format_timestamp(trade.trade_time),
            enum_label(trade.side, trade_pb2.Side, "SIDE_"),
            trade.instrument.symbol,
            enum_label(trade.instrument.exchange, instrument_pb2.Exchange, "EXCHANGE_"),
            f"{trade.quantity_micros / 1_000_000:g}",
            f"{trade.price_micros / 1_000_000:,.2f}",
            trade.broker_trade_id,
        )
    out.print(table)
    out.print(
        f"{result.rows_total} row(s): [green]{result.rows_created} would be created[/], "
        f"{result.rows_duplicate} already imported, [red]{result.rows_failed} failed[/] (preview: nothing written)"
    )
    _print_row_errors(result.row_errors, result.row_errors_truncated)
