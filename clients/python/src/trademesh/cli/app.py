"""``trademesh``: a trader's command line over the Python SDK.

Every command talks to ``--target`` (or ``$TRADEMESH_TARGET``, the target saved by ``login``, else the
local gateway ``127.0.0.1:8080``) with the tokens saved by ``trademesh login``; token refreshes are
saved as they happen. A failure prints one line on stderr and exits non-zero:

====  ==========================================================
1     the mesh refused the request (the line names the code and reason)
2     the command line is wrong (unknown option, bad value)
3     not logged in, or the session ended: run ``trademesh login``
4     the mesh cannot be reached (UNAVAILABLE, deadline exceeded)
====  ==========================================================
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from trademesh.analytics.v1 import analytics_service_pb2, period_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.cli.config import DEFAULT_TARGET, CliConfig, Credentials, config_dir
from trademesh.cli.render import IST, equity_chart, format_inr, format_quantity, parse_micros, parse_time, write_csv
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import quote_pb2
from trademesh.sdk import (
    AsyncTrademesh,
    Tokens,
    Trademesh,
    TrademeshError,
    connect,
    connect_sync,
    parse_instrument,
)
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2
from trademesh.trade.v1 import import_pb2, position_pb2, trade_pb2, trade_service_pb2

__all__ = ["app", "main"]

EXIT_REFUSED = 1
EXIT_NOT_LOGGED_IN = 3
EXIT_UNREACHABLE = 4

app = typer.Typer(
    name="trademesh",
    help="A trader's command line for the trademesh journal: trades, positions, live quotes, analytics, sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
trades_app = typer.Typer(help="Add, list and import trades.", no_args_is_help=True)
quotes_app = typer.Typer(help="Live quotes.", no_args_is_help=True)
sync_app = typer.Typer(help="Link broker accounts and sync their trades.", no_args_is_help=True)
link_app = typer.Typer(help="Link (or re-link) a broker account.", no_args_is_help=True)
app.add_typer(trades_app, name="trades")
app.add_typer(quotes_app, name="quotes")
app.add_typer(sync_app, name="sync")
sync_app.add_typer(link_app, name="link")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A problem the CLI reports itself (not a server error)."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class State:
    """What the global options decided."""

    target: str
    config: CliConfig


def _state(context: typer.Context) -> State:
    state = context.find_root().obj
    if not isinstance(state, State):  # pragma: no cover - the callback always sets it
        raise CliError("internal error: no CLI state")
    return state


@app.callback()
def _global_options(
    context: typer.Context,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            envvar="TRADEMESH_TARGET",
            help="The mesh's address: host:port, http://host:port or https://host. "
            f"Default: the one saved by login, else {DEFAULT_TARGET}.",
            show_default=False,
        ),
    ] = None,
) -> None:
    config = CliConfig(config_dir())
    context.obj = State(target or config.saved_target() or DEFAULT_TARGET, config)


# ------------------------------------------------------------------ clients


def _saver(state: State, username: str) -> Any:
    def save(tokens: Tokens | None) -> None:
        state.config.save_credentials(Credentials(state.target, username, tokens) if tokens else None)

    return save


def _credentials(state: State) -> Credentials:
    credentials = state.config.load_credentials(state.target)
    if credentials is None:
        raise CliError(f"not logged in to {state.target}; run `trademesh login`", EXIT_NOT_LOGGED_IN)
    return credentials


@contextmanager
def _client(context: typer.Context) -> Iterator[Trademesh]:
    state = _state(context)
    credentials = _credentials(state)
    with connect_sync(state.target, tokens=credentials.tokens, on_tokens=_saver(state, credentials.username)) as client:
        yield client


def _async_client(context: typer.Context) -> AsyncTrademesh:
    state = _state(context)
    credentials = _credentials(state)
    return connect(state.target, tokens=credentials.tokens, on_tokens=_saver(state, credentials.username))


def _print_json(message: Message | Sequence[Message]) -> None:
    if not isinstance(message, Message):
        out.print_json(data=[json_format.MessageToDict(item) for item in message])
    else:
        out.print_json(json_format.MessageToJson(message))


def _time(stamp: Timestamp, *, seconds: bool = True) -> str:
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime(tzinfo=UTC).astimezone(IST).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def _enum(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).replace("_", " ").lower()


def _password(value: str | None, prompt: str = "Password: ") -> str:
    if value:
        return value
    from_env = os.environ.get("TRADEMESH_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise CliError("no password: pass --password, set TRADEMESH_PASSWORD or run in a terminal", 2)
    return getpass.getpass(prompt)


# ------------------------------------------------------------------ account


@app.command()
def register(
    context: typer.Context,
    email: Annotated[str, typer.Option(help="Your email address.")],
    username: Annotated[str, typer.Option(help="3-30 characters of a-z, 0-9, _ and .")],
    password: Annotated[str | None, typer.Option(help="Default: $TRADEMESH_PASSWORD or a prompt.")] = None,
) -> None:
    """Create an account and log in as it."""
    state = _state(context)
    secret = _password(password, "Choose a password (10+ characters): ")
    with connect_sync(state.target, on_tokens=_saver(state, username)) as client:
        user = client.register(email=email, username=username, password=secret)
    state.config.save_target(state.target)
    out.print(f"Registered and logged in as [bold]{user.username}[/] on {state.target}.")


@app.command()
def login(
    context: typer.Context,
    user: Annotated[str, typer.Argument(help="Username or email.", metavar="LOGIN")],
    password: Annotated[str | None, typer.Option(help="Default: $TRADEMESH_PASSWORD or a prompt.")] = None,
) -> None:
    """Log in; the session is saved (owner-only file) and refreshed by itself."""
    state = _state(context)
    secret = _password(password)
    with connect_sync(state.target) as client:
        me = client.login(user, secret)
        tokens = client.tokens
    if tokens is None:  # pragma: no cover - login either sets tokens or raises
        raise CliError("login returned no tokens")
    state.config.save_credentials(Credentials(state.target, me.username, tokens))
    state.config.save_target(state.target)
    out.print(f"Logged in as [bold]{me.username}[/] on {state.target}.")


@app.command()
def logout(context: typer.Context) -> None:
    """Revoke the session on the server and delete the saved tokens."""
    with _client(context) as client:
        client.logout()
    out.print("Logged out.")


@app.command()
def whoami(context: typer.Context) -> None:
    """Show the logged-in user."""
    with _client(context) as client:
        user = client.auth.GetMe(auth_service_pb2.GetMeRequest()).user
    out.print(f"{user.username} <{user.email}> (id {user.id})")


# ------------------------------------------------------------------ trades


class SideChoice(StrEnum):
    """Trade side."""

    buy = "buy"
    sell = "sell"


class CategoryChoice(StrEnum):
    """Trade category."""

    intraday = "intraday"
    swing = "swing"
    long_term = "long-term"


class ImportFormatChoice(StrEnum):
    """CSV layout of an import."""

    auto = "auto"
    generic = "generic"
    zerodha = "zerodha"
    upstox = "upstox"


def _trade_table(trades: list[trade_pb2.Trade]) -> Table:
    table = Table(title=f"{len(trades)} trade(s)", title_justify="left")
    for column in ("time (IST)", "side", "symbol", "quantity", "price", "fees", "category"):
        table.add_column(column, justify="right" if column in {"quantity", "price", "fees"} else "left", no_wrap=True)
    for trade in trades:
        exchange = instrument_pb2.Exchange.Name(trade.instrument.exchange).removeprefix("EXCHANGE_")
        table.add_row(
            _time(trade.trade_time, seconds=False),
            _enum(trade.side, trade_pb2.Side, "SIDE_"),
            trade.instrument.symbol if exchange == "NSE" else f"{exchange}:{trade.instrument.symbol}",
            format_quantity(trade.quantity_micros),
            format_inr(trade.price_micros),
            format_inr(trade.fees_micros),
            _enum(trade.category, trade_pb2.TradeCategory, "TRADE_CATEGORY_"),
        )
    return table


@trades_app.command("add")
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
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    trade.trade_time.FromDatetime(trade_time)
    if category is not None:
        trade.category = trade_pb2.TradeCategory.Value(f"TRADE_CATEGORY_{category.name.upper()}")
    with _client(context) as client:
        created = client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade)
        ).trade
    if as_json:
        _print_json(created)
    else:
        out.print(_trade_table([created]))


@trades_app.command("list")
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
    with _client(context) as client:
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
        _print_json(list(trades))
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
        _enum(trade.side, trade_pb2.Side, "SIDE_"),
        str(Decimal(trade.quantity_micros) / 1_000_000),
        str(Decimal(trade.price_micros) / 1_000_000),
        str(Decimal(trade.fees_micros) / 1_000_000),
        _enum(trade.category, trade_pb2.TradeCategory, "TRADE_CATEGORY_"),
        trade.strategy,
        " ".join(trade.tags),
        trade.notes,
    ]


def _detect_format(content: bytes) -> import_pb2.ImportFormat.ValueType:
    header = content[:4096].decode("utf-8-sig", errors="replace").splitlines()[0:1]
    columns = {cell.strip().lower() for cell in next(csv.reader(header), [])}
    if {"trade_type", "order_execution_time"} <= columns:
        return import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV
    if {"scrip code", "trade num"} & columns or {"trade number", "scrip name"} & columns:
        return import_pb2.IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV
    return import_pb2.IMPORT_FORMAT_GENERIC_CSV


_FORMATS = {
    ImportFormatChoice.generic: import_pb2.IMPORT_FORMAT_GENERIC_CSV,
    ImportFormatChoice.zerodha: import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV,
    ImportFormatChoice.upstox: import_pb2.IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV,
}


@trades_app.command("import")
def trades_import(
    context: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")],
    file_format: Annotated[
        ImportFormatChoice, typer.Option("--format", help="Layout; auto looks at the header.")
    ] = ImportFormatChoice.auto,
    dry_run: Annotated[bool, typer.Option(help="Validate and count only; create nothing.")] = False,
    account: Annotated[str, typer.Option(help="Broker account id to file the trades under.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import a Zerodha tradebook, an Upstox trade report or a generic CSV; shows every bad row.

    The whole file goes in one idempotent call (re-running the command never imports a row twice).
    """
    content = file.read_bytes()
    rows = max(sum(1 for line in io.StringIO(content.decode("utf-8-sig", errors="replace")) if line.strip()) - 1, 0)
    chosen = _detect_format(content) if file_format is ImportFormatChoice.auto else _FORMATS[file_format]
    request = trade_service_pb2.ImportTradesRequest(
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
    with progress, _client(context) as client:
        label = _enum(chosen, import_pb2.ImportFormat, "IMPORT_FORMAT_")
        task = progress.add_task(f"{'Checking' if dry_run else 'Importing'} {file.name} ({label})", total=rows)
        # One unary call: the bar pulses while the server works, then fills with the rows it processed.
        progress.update(task, total=None)
        result = client.trade.ImportTrades(request, compression=grpc.Compression.Gzip)
        progress.update(task, total=max(result.rows_total, 1), completed=result.rows_total)
    if as_json:
        _print_json(result)
        return
    verb = "would be created" if dry_run else "created"
    out.print(
        f"{result.rows_total} row(s): [green]{result.rows_created} {verb}[/], "
        f"{result.rows_duplicate} already imported, [red]{result.rows_failed} failed[/]"
        + (f" (import {result.import_id})" if result.import_id else "")
    )
    if result.row_errors:
        table = Table(title="Rows with problems", title_justify="left")
        for column in ("row", "column", "value", "reason", "problem"):
            table.add_column(column)
        for problem in result.row_errors:
            table.add_row(str(problem.row_number), problem.column, problem.value, problem.reason, problem.message)
        out.print(table)
        if result.row_errors_truncated:
            out.print("(more problems than shown: fix these and import again)")


# ------------------------------------------------------------------ positions


class PositionFilter(StrEnum):
    """Which positions to show."""

    open = "open"
    closed = "closed"
    all = "all"


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
    with _client(context) as client:
        while True:
            page = client.trade.ListPositions(
                trade_service_pb2.ListPositionsRequest(status=wanted, page_size=1000, page_token=token)
            )
            found += page.positions
            token = page.next_page_token
            if not token:
                break
    if as_json:
        _print_json(list(found))
        return
    table = Table(title=f"{len(found)} {status.value} position(s)", title_justify="left")
    for column in ("symbol", "net qty", "avg price", "open value", "realized P&L", "fees", "trades", "last trade"):
        table.add_column(column, justify="left" if column in {"symbol", "last trade"} else "right")
    for position in found:
        pnl = position.realized_pnl_micros
        table.add_row(
            position.instrument.symbol,
            format_quantity(position.net_quantity_micros),
            format_inr(position.average_open_price_micros),
            format_inr(position.open_value_micros),
            f"[{'green' if pnl >= 0 else 'red'}]{format_inr(pnl, sign=True)}[/]",
            format_inr(position.total_fees_micros),
            str(position.trade_count),
            _time(position.last_trade_time),
        )
    out.print(table)


# ------------------------------------------------------------------ quotes


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
            _time(quote.exchange_time),
        )
    return table


def _quote_line(quote: quote_pb2.Quote) -> str:
    return (
        f"{quote.instrument.symbol} {format_inr(quote.last_price_micros)} "
        f"{format_inr(quote.change_micros, sign=True)} ({quote.change_percent:+.2f}%) seq={quote.sequence}"
    )


@quotes_app.command("watch")
def quotes_watch(
    context: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL, one or more.")],
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many quote updates.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    mode: Annotated[ModeChoice, typer.Option(help="ltp (smallest) or quote (bid/ask, volume).")] = ModeChoice.quote,
) -> None:
    """Watch live quotes in a table (one line per update when the output is not a terminal).

    Survives reconnects (the stream resumes with a fresh snapshot); stops on Ctrl-C, --count or --duration.
    """
    try:
        instruments = [parse_instrument(symbol) for symbol in symbols]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    quote_mode = quote_pb2.QUOTE_MODE_LTP if mode is ModeChoice.ltp else quote_pb2.QUOTE_MODE_QUOTE

    async def watch() -> None:
        client = _async_client(context)  # an asyncio channel belongs to the loop it is created in
        updates = 0
        held: dict[tuple[int, str], quote_pb2.Quote] = {}
        interactive = out.is_terminal
        stream = client.subscribe_quotes(instruments, mode=quote_mode, give_up_after=60.0)
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


# ------------------------------------------------------------------ analytics


class PeriodChoice(StrEnum):
    """Analytics period."""

    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    yearly = "yearly"
    financial_year = "financial-year"
    all_time = "all-time"


@app.command()
def analytics(
    context: typer.Context,
    period: Annotated[PeriodChoice, typer.Option(help="The period to report.")] = PeriodChoice.monthly,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show performance, risk and the equity curve of a period."""
    request = analytics_service_pb2.GetAnalyticsRequest(
        period=period_pb2.Period.Value(f"PERIOD_{period.name.upper()}"),
        include_equity_curve=True,
        equity_curve_max_points=120,
    )
    with _client(context) as client:
        report = client.analytics.GetAnalytics(request).report
    if as_json:
        _print_json(report)
        return
    stats, risk = report.performance, report.risk
    summary = Table(title=f"{period.value} performance", title_justify="left", show_header=False)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = [
        ("round trips", f"{stats.round_trip_count} ({stats.win_count} won, {stats.loss_count} lost)"),
        ("win rate", f"{stats.win_rate_percent:.1f} %" if stats.HasField("win_rate_percent") else "—"),
        ("net P&L", format_inr(stats.net_pnl_micros, sign=True)),
        ("fees", format_inr(stats.fees_micros)),
        (
            "profit factor",
            "∞"
            if stats.profit_factor_unbounded
            else f"{stats.profit_factor:.2f}"
            if stats.HasField("profit_factor")
            else "—",
        ),
        ("expectancy", format_inr(stats.expectancy_micros) if stats.HasField("expectancy_micros") else "—"),
        ("max drawdown", format_inr(risk.max_drawdown_micros)),
        ("sharpe", f"{risk.sharpe_ratio:.2f}" if risk.HasField("sharpe_ratio") else "—"),
        ("unrealized P&L", format_inr(report.unrealized_pnl_micros, sign=True)),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    out.print(summary)
    for title, entries in (
        ("Best instruments", report.top_instruments),
        ("Worst instruments", report.worst_instruments),
    ):
        if entries:
            table = Table(title=title, title_justify="left")
            for column in ("symbol", "round trips", "net P&L"):
                table.add_column(column, justify="left" if column == "symbol" else "right")
            for entry in entries:
                table.add_row(
                    entry.instrument.symbol,
                    str(entry.stats.round_trip_count),
                    format_inr(entry.stats.net_pnl_micros, sign=True),
                )
            out.print(table)
    out.print("Equity curve (cumulative net P&L by closed round trip):")
    for line in equity_chart([point.cumulative_net_pnl_micros for point in report.equity_curve.points]):
        out.print(line)


# ------------------------------------------------------------------ sync


def _account_table(accounts: list[broker_account_pb2.BrokerAccount]) -> Table:
    table = Table(title=f"{len(accounts)} broker account(s)", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max((len(account.id) for account in accounts), default=2))
    for column in ("broker", "user", "name", "status", "last sync", "next sync"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            account.id,
            _enum(account.broker, instrument_pb2.Broker, "BROKER_"),
            account.broker_user_id,
            account.nickname or account.display_name,
            _enum(account.status, broker_account_pb2.BrokerAccountStatus, "BROKER_ACCOUNT_STATUS_")
            + (f" ({account.error_reason})" if account.error_reason else ""),
            _time(account.last_sync_time, seconds=False),
            _time(account.next_sync_time, seconds=False),
        )
    return table


def _link(context: typer.Context, request: sync_service_pb2.LinkBrokerAccountRequest) -> None:
    with _client(context) as client:
        response = client.sync.LinkBrokerAccount(request)
    out.print(("Linked" if response.created else "Re-linked") + " account:")
    out.print(_account_table([response.broker_account]))


@link_app.command("zerodha")
def link_zerodha(
    context: typer.Context,
    api_key: Annotated[str, typer.Option(help="Your Kite Connect app's API key.")],
    request_token: Annotated[str, typer.Option(help="The request_token from Kite's login redirect.")],
    api_secret: Annotated[str | None, typer.Option(help="Default: $KITE_API_SECRET or a prompt.")] = None,
    nickname: Annotated[str, typer.Option(help="A label for the account.")] = "",
) -> None:
    """Link a Zerodha account through your Kite Connect app."""
    secret = api_secret or os.environ.get("KITE_API_SECRET") or _password(None, "Kite API secret: ")
    credentials = broker_account_pb2.ZerodhaCredentials(api_key=api_key, api_secret=secret, request_token=request_token)
    _link(
        context,
        sync_service_pb2.LinkBrokerAccountRequest(request_id=str(uuid.uuid4()), zerodha=credentials, nickname=nickname),
    )


@link_app.command("upstox")
def link_upstox(
    context: typer.Context,
    client_id: Annotated[str, typer.Option(help="Your Upstox app's API key.")],
    redirect_uri: Annotated[str, typer.Option(help="The app's registered redirect URI.")],
    code: Annotated[str, typer.Option(help="The authorization code from Upstox's login redirect.")],
    client_secret: Annotated[str | None, typer.Option(help="Default: $UPSTOX_CLIENT_SECRET or a prompt.")] = None,
    nickname: Annotated[str, typer.Option(help="A label for the account.")] = "",
) -> None:
    """Link an Upstox account through your Upstox API app."""
    secret = client_secret or os.environ.get("UPSTOX_CLIENT_SECRET") or _password(None, "Upstox API secret: ")
    credentials = broker_account_pb2.UpstoxCredentials(
        client_id=client_id, client_secret=secret, redirect_uri=redirect_uri, authorization_code=code
    )
    _link(
        context,
        sync_service_pb2.LinkBrokerAccountRequest(request_id=str(uuid.uuid4()), upstox=credentials, nickname=nickname),
    )


def _accounts(client: Trademesh) -> list[broker_account_pb2.BrokerAccount]:
    response = client.sync.ListBrokerAccounts(sync_service_pb2.ListBrokerAccountsRequest(page_size=100))
    return list(response.broker_accounts)


@sync_app.command("accounts")
def sync_accounts(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your linked broker accounts."""
    with _client(context) as client:
        accounts = _accounts(client)
    if as_json:
        _print_json(accounts)
    else:
        out.print(_account_table(accounts))


@sync_app.command("now")
def sync_now(
    context: typer.Context,
    account: Annotated[
        str | None, typer.Argument(help="The broker account id (default: your only account; see `sync accounts`).")
    ] = None,
) -> None:
    """Sync an account now, streaming its progress, and show the summary."""
    summary: sync_log_pb2.SyncLog | None = None
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err)
    with _client(context) as client:
        if account is None:
            linked = [item.id for item in _accounts(client)]
            if len(linked) != 1:
                raise CliError(f"you have {len(linked)} linked accounts: name one (see `trademesh sync accounts`)", 2)
            account = linked[0]
        request = sync_service_pb2.SyncNowRequest(broker_account_id=account, request_id=str(uuid.uuid4()))
        with progress:
            summary = _follow_sync(client, request, progress)
    if summary is None:
        raise CliError("the sync stream ended without a summary", EXIT_UNREACHABLE)
    counters = summary.counters
    status = _enum(summary.status, sync_log_pb2.SyncStatus, "SYNC_STATUS_")
    out.print(
        f"Sync {summary.id}: {status} — {counters.fetched} fetched, {counters.created} new, "
        f"{counters.updated} updated, {counters.unchanged} unchanged, {counters.failed} failed"
        + (f"; {summary.error.reason}: {summary.error.message}" if summary.HasField("error") else "")
    )
    if summary.status not in (sync_log_pb2.SYNC_STATUS_SUCCEEDED, sync_log_pb2.SYNC_STATUS_PARTIAL):
        raise typer.Exit(EXIT_REFUSED)


def _follow_sync(
    client: Trademesh, request: sync_service_pb2.SyncNowRequest, progress: Progress
) -> sync_log_pb2.SyncLog | None:
    summary: sync_log_pb2.SyncLog | None = None
    task = progress.add_task("queued", total=None)
    for message in client.sync.SyncNow(request):
        if message.WhichOneof("item") == "progress":
            update = message.progress
            counters = update.counters
            progress.update(
                task,
                description=f"{_enum(update.phase, sync_log_pb2.SyncPhase, 'SYNC_PHASE_')}: "
                f"{counters.fetched} fetched, {counters.created} new, {counters.updated} updated, "
                f"{counters.failed} failed",
            )
            for failure in update.row_failures:
                err.print(f"  row {failure.row_ref} {failure.symbol}: {failure.reason} {failure.message}")
        else:
            summary = message.summary
    return summary


# ------------------------------------------------------------------ entry point


def _describe(error: TrademeshError) -> str:
    text = f"{error.code.name}" + (f" {error.reason}" if error.reason else "") + f": {error.message}"
    if error.field_violations:
        text += " — " + "; ".join(f"{v.field}: {v.description}" for v in error.field_violations)
    if error.retry_delay:
        text += f" (try again in {error.retry_delay:.0f}s)"
    return text


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"trademesh: error: {message}", markup=False, soft_wrap=True)
    raise SystemExit(code)


def main() -> None:
    """Run the CLI (the ``trademesh`` console script)."""
    started = time.monotonic()
    try:
        app()
    except TrademeshError as error:
        if error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason != "INVALID_CREDENTIALS":
            _fail(f"{_describe(error)} (run `trademesh login`)", EXIT_NOT_LOGGED_IN)
        if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            elapsed = time.monotonic() - started
            _fail(f"{_describe(error)} (after {elapsed:.1f}s; is the mesh running?)", EXIT_UNREACHABLE)
        _fail(_describe(error), EXIT_REFUSED)
    except CliError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
