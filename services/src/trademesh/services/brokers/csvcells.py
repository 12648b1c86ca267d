"""Broker-neutral CSV reading for trade files: the file's rows, and cells parsed exactly (decimal micros,
IST times, dates, sides, a broker's exchange names, contract symbols), problems collected per row.

Shared by the brokers' tradebook parsers and the trade service's generic CSV; imports only the kernel.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from trademesh.kernel.calendar import IST
from trademesh.kernel.derivatives import ContractSymbolError, parse_contract_symbol
from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import Derivative, Exchange, Side

__all__ = [
    "MAX_CONTENT_BYTES",
    "BrokerFill",
    "CellError",
    "CsvRow",
    "RowProblem",
    "TradebookRow",
    "broker_exchange",
    "contract_from_symbol",
    "fill_row",
    "parse_date",
    "parse_micros",
    "parse_side",
    "parse_time",
    "read_csv",
]

MAX_CONTENT_BYTES = 15 * 1024 * 1024
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class RowProblem(Exception):
    """One bad cell: raised by the cell parsers, collected per row."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class CellError:
    """One problem with one row of a file: where (row number, column as written), what and why."""

    row_number: int
    column: str
    value: str
    reason: str
    message: str


def parse_micros(text: str) -> int:
    """Parse a decimal cell exactly into millionths; raise RowProblem."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        raise RowProblem("MISSING_VALUE", "value is required")
    if not _NUMBER.fullmatch(cleaned):
        raise RowProblem("INVALID_NUMBER", f"{text.strip()[:40]!r} is not a decimal number")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise RowProblem("INVALID_NUMBER", f"{text.strip()[:40]!r} is not a decimal number") from None
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -6 and value != value.quantize(Decimal("0.000001")):
        raise RowProblem("TOO_MANY_DECIMALS", "more than 6 decimal places")
    micros = int(value * 1_000_000)
    if abs(micros) > 10**18:
        raise RowProblem("OUT_OF_RANGE", "number is too large")
    return micros


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 or "YYYY-MM-DD HH:MM[:SS]" / "DD-MM-YYYY HH:MM[:SS]" (IST when zoneless)."""
    cleaned = text.strip()
    if not cleaned:
        raise RowProblem("MISSING_VALUE", "time is required")
    moment: datetime | None = None
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        for pattern in ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"):
            try:
                moment = datetime.strptime(cleaned, pattern)
                break
            except ValueError:
                continue
    if moment is None:
        raise RowProblem("INVALID_TIME", f"{cleaned[:40]!r} is not a valid time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment


def parse_date(text: str) -> date:
    """Parse "YYYY-MM-DD", "DD-MM-YYYY", "DD/MM/YYYY", "DD-Mon-YYYY" or "DD Mon YYYY"."""
    cleaned = text.strip()
    for pattern in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d-%b-%Y", "%d %b %Y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise RowProblem("INVALID_DATE", f"{cleaned[:40]!r} is not a valid date")


def contract_from_symbol(symbol: str, expiry_text: str, exchange: str = "NFO") -> Derivative:
    """Derive the contract from an NSE-style trading symbol (and an expiry cell when present).

    The symbol is checked before the expiry cell, so an unparseable symbol is reported as such. Without an
    expiry cell a monthly symbol's day comes from `exchange`'s rule for that month (kernel `expiry_days`).
    """
    expiry: date | None = None
    expiry_problem: RowProblem | None = None
    if expiry_text.strip():
        try:
            expiry = parse_date(expiry_text)
        except RowProblem as problem:
            expiry, expiry_problem = date.min, problem
    try:
        derivative = parse_contract_symbol(symbol, expiry=expiry, exchange=exchange)
    except ContractSymbolError as error:
        raise RowProblem("SYMBOL_UNPARSEABLE", str(error)) from None
    if expiry_problem is not None:
        raise expiry_problem
    return derivative


_EXCHANGES = {
    ("NSE", "EQ"): Exchange.NSE,
    ("BSE", "EQ"): Exchange.BSE,
    ("NSE", "FO"): Exchange.NFO,
    ("BSE", "FO"): Exchange.BFO,
    ("NSE", "CDS"): Exchange.CDS,
    ("NSE", "CD"): Exchange.CDS,
    ("BSE", "CDS"): Exchange.BCD,
    ("BSE", "CD"): Exchange.BCD,
    ("MCX", "COM"): Exchange.MCX,
    ("MCX", "MCX"): Exchange.MCX,
}


def broker_exchange(exchange: str, segment: str) -> Exchange:
    """Map a broker's (exchange, segment) pair to our exchange."""
    exchange = exchange.strip().upper()
    segment = segment.strip().upper()
    if not exchange:
        raise RowProblem("MISSING_VALUE", "exchange is required")
    mapped = _EXCHANGES.get((exchange, segment))
    if mapped is not None:
        return mapped
    try:
        direct = Exchange(exchange)
    except ValueError:
        raise RowProblem("UNKNOWN_EXCHANGE", f"unknown exchange {exchange!r}") from None
    if segment and direct in (Exchange.NSE, Exchange.BSE) and segment not in ("EQ", "BE", "EQUITY", ""):
        raise RowProblem("SEGMENT_MISMATCH", f"segment {segment!r} is unknown on {exchange}")
    return direct


def parse_side(text: str) -> Side:
    """Parse buy/sell (B/S accepted)."""
    value = text.strip().upper()
    if value in ("BUY", "B"):
        return Side.BUY
    if value in ("SELL", "S"):
        return Side.SELL
    if not value:
        raise RowProblem("MISSING_VALUE", "side is required")
    raise RowProblem("INVALID_SIDE", f"{text.strip()[:20]!r} is not buy or sell")


@dataclass
class CsvRow:
    """One data row: its line number, cells by lower-case header and the problems found so far."""

    number: int
    cells: dict[str, str]
    #: canonical (lower-case) name -> header as written
    headers: dict[str, str]
    errors: list[CellError]

    def get(self, *names: str) -> str:
        """Return the cell of the first of `names` the file has ("" when none)."""
        for name in names:
            if name in self.cells:
                return self.cells[name]
        return ""

    def column(self, *names: str) -> str:
        """Return the header, as written, of the first of `names` the file has (else the first name)."""
        for name in names:
            if name in self.headers:
                return self.headers[name]
        return names[0]

    def take(self, names: tuple[str, ...], parse: Callable[[str], object]) -> object | None:
        """Parse a cell; on a RowProblem record it against the row and return None."""
        value = self.get(*names)
        try:
            return parse(value)
        except RowProblem as problem:
            self.problem(self.column(*names), value[:100], problem.reason, problem.message)
            return None

    def problem(self, column: str, value: str, reason: str, message: str) -> None:
        """Record a problem with this row."""
        self.errors.append(CellError(self.number, column, value, reason, message))

    def columns(self, **names: tuple[str, ...]) -> dict[str, str]:
        """Return, per field path, the header (as written) of the column holding it."""
        return {name: self.column(*aliases) for name, aliases in names.items()}


def read_csv(content: bytes, required: Mapping[str, tuple[str, ...]], *, header_search: int = 0) -> Iterator[CsvRow]:
    """Check a UTF-8 CSV file's size and header (each `required` column under one of its aliases) and
    return its non-blank data rows; whole-file problems raise INVALID_ARGUMENT.

    With `header_search` > 0 the header is the first of that many leading records holding every required
    column (report titles and account details above it are skipped); else the first non-blank record.
    """
    if not content:
        raise InvalidArgument("content is empty", [FieldViolation("content", "the file is empty")])
    if len(content) > MAX_CONTENT_BYTES:
        raise InvalidArgument(
            "content is larger than 15 MiB", [FieldViolation("content", "at most 15 MiB")], reason="CONTENT_TOO_LARGE"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgument(
            "content is not UTF-8", [FieldViolation("content", "the file must be UTF-8")], reason="INVALID_ENCODING"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        first = header
        for _ in range(header_search):
            if header is None or _has_columns(header, required):
                break
            header = next(reader, None)
        if header is None or (header_search and not _has_columns(header, required)):
            header = first
    except csv.Error as error:
        raise _bad_header("content", f"unreadable CSV: {error}") from None
    if header is None:
        raise _bad_header("content", "the file has no header row")
    names = [cell.strip().lower() for cell in header]
    headers = {name: cell.strip() for name, cell in zip(names, header, strict=True)}
    for canonical, aliases in required.items():
        if not any(alias in headers for alias in aliases):
            raise _bad_header(canonical, f"required column {canonical!r} is missing")
    width = len(names)

    def rows() -> Iterator[CsvRow]:
        try:
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                row = CsvRow(reader.line_num, {}, headers, [])
                if len(record) != width:
                    row.problem("", "", "WRONG_COLUMN_COUNT", f"expected {width} cells, found {len(record)}")
                else:
                    row.cells = dict(zip(names, record, strict=True))
                yield row
        except csv.Error as error:
            raise _bad_header("content", f"unreadable CSV near line {reader.line_num}: {error}") from None

    return rows()


def _has_columns(record: list[str], required: Mapping[str, tuple[str, ...]]) -> bool:
    names = {cell.strip().lower() for cell in record}
    return all(any(alias in names for alias in aliases) for aliases in required.values())


def _bad_header(column: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, [FieldViolation(column, message)], reason="INVALID_HEADER")


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One executed trade as a broker's tradebook reports it (not yet validated as a journal trade)."""

    symbol: str
    exchange: Exchange
    side: Side
    quantity_micros: int
    price_micros: int
    trade_time: datetime
    trade_id: str
    order_id: str = ""
    derivative: Derivative | None = None
    isin: str = ""


@dataclass(frozen=True, slots=True)
class TradebookRow:
    """One data row of a tradebook: the fill (None when a cell was bad) or its problems."""

    row_number: int
    fill: BrokerFill | None
    errors: list[CellError] = field(default_factory=list)
    #: Field path of a journal trade (e.g. "instrument.symbol") -> the header holding it, for later errors.
    columns: dict[str, str] = field(default_factory=dict)


def fill_row(
    row: CsvRow,
    columns: dict[str, str],
    *,
    symbol: object,
    exchange: object,
    side: object,
    quantity: object,
    price: object,
    trade_time: object,
    trade_id: str,
    order_id: str = "",
    derivative: object = None,
    isin: str = "",
) -> TradebookRow:
    """The row's fill from its parsed cells (as `CsvRow.take` returned them), or the row's problems if any."""
    if row.errors:
        return TradebookRow(row.number, None, row.errors, columns)
    assert isinstance(symbol, str)
    assert isinstance(exchange, Exchange)
    assert isinstance(side, Side)
    assert isinstance(quantity, int)
    assert isinstance(price, int)
    assert isinstance(trade_time, datetime)
    fill = BrokerFill(
        symbol=symbol,
        exchange=exchange,
        derivative=derivative if isinstance(derivative, Derivative) else None,
        isin=isin,
        side=side,
        quantity_micros=quantity,
        price_micros=price,
        trade_time=trade_time,
        trade_id=trade_id,
        order_id=order_id,
    )
    return TradebookRow(row.number, fill, [], columns)
