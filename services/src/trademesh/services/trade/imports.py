"""CSV importers: Zerodha Console tradebook (equity and F&O), Upstox trade report, trademesh generic CSV.

Parsing only (stdlib `csv`, exact `Decimal` numbers): each data row becomes TradeFields or row
errors; whole-file problems raise InvalidArgument. Validation of the resulting fields, duplicate
detection and storage happen in the domain (`TradeService.import_rows`).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.lots import Side
from trademesh.services.trade.domain import ParsedRow
from trademesh.services.trade.model import (
    IST,
    Broker,
    Category,
    ContractType,
    Derivative,
    Exchange,
    ImportRowError,
    Segment,
    TradeFields,
    fingerprint_key,
)

MAX_CONTENT_BYTES = 15 * 1024 * 1024
MAX_ROWS = 100_000
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_MONTHS = {name.upper(): index for index, name in enumerate(calendar.month_abbr) if name}
_MONTHLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
    r"(?P<strike>\d+(\.\d+)?)?(?P<kind>FUT|CE|PE)$"
)
_WEEKLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})(?P<strike>\d+(\.\d+)?)(?P<kind>CE|PE)$"
)
_WEEKLY_MONTH = {**{str(n): n for n in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_KINDS = {"FUT": ContractType.FUTURE, "CE": ContractType.CALL, "PE": ContractType.PUT}


class RowProblem(Exception):
    """One bad cell: raised by the cell parsers, collected per row."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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


def parse_time(text: str, *, date_only_ok: bool = False) -> datetime:
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
    """Parse "YYYY-MM-DD", "DD-MM-YYYY" or "DD/MM/YYYY"."""
    cleaned = text.strip()
    for pattern in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d-%b-%Y", "%d %b %Y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise RowProblem("INVALID_DATE", f"{cleaned[:40]!r} is not a valid date")


def last_thursday(year: int, month: int) -> date:
    """Return the last Thursday of a month (the classic monthly F&O expiry)."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    return day - timedelta(days=(day.weekday() - 3) % 7)


def parse_derivative(symbol: str, expiry_text: str) -> Derivative:
    """Derive the contract from an NSE-style trading symbol (and an expiry cell when present)."""
    match = _MONTHLY.fullmatch(symbol) or _WEEKLY.fullmatch(symbol)
    if match is None:
        raise RowProblem("SYMBOL_UNPARSEABLE", f"cannot derive the contract from symbol {symbol!r}")
    kind = _KINDS[match["kind"]]
    strike = parse_micros(match["strike"]) if match["strike"] else 0
    if kind is not ContractType.FUTURE and strike == 0:
        raise RowProblem("SYMBOL_UNPARSEABLE", f"option symbol {symbol!r} has no strike")
    if expiry_text.strip():
        expiry = parse_date(expiry_text)
    elif "mon" in match.groupdict() and match.groupdict().get("mon"):
        expiry = last_thursday(2000 + int(match["yy"]), _MONTHS[match["mon"]])
    else:
        try:
            expiry = date(2000 + int(match["yy"]), _WEEKLY_MONTH[match["m"]], int(match["dd"]))
        except ValueError:
            raise RowProblem("SYMBOL_UNPARSEABLE", f"symbol {symbol!r} has an invalid expiry") from None
    return Derivative(match["u"], expiry.isoformat(), kind, strike)


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
class _Row:
    number: int
    cells: dict[str, str]
    headers: dict[str, str]  # canonical name → header as written
    errors: list[ImportRowError]

    def get(self, *names: str) -> str:
        for name in names:
            if name in self.cells:
                return self.cells[name]
        return ""

    def column(self, *names: str) -> str:
        for name in names:
            if name in self.headers:
                return self.headers[name]
        return names[0]

    def take(self, names: tuple[str, ...], parse: Callable[[str], object]) -> object | None:
        value = self.get(*names)
        try:
            return parse(value)
        except RowProblem as problem:
            self.errors.append(
                ImportRowError(self.number, self.column(*names), value[:100], problem.reason, problem.message)
            )
            return None


def _records(content: bytes, required: Mapping[str, tuple[str, ...]]) -> tuple[Iterator[_Row], dict[str, str]]:
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

    def rows() -> Iterator[_Row]:
        try:
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                row = _Row(reader.line_num, {}, headers, [])
                if len(record) != width:
                    row.errors.append(
                        ImportRowError(
                            row.number, "", "", "WRONG_COLUMN_COUNT", f"expected {width} cells, found {len(record)}"
                        )
                    )
                else:
                    row.cells = dict(zip(names, record, strict=True))
                yield row
        except csv.Error as error:
            raise _bad_header("content", f"unreadable CSV near line {reader.line_num}: {error}") from None

    return rows(), headers


def _bad_header(column: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, [FieldViolation(column, message)], reason="INVALID_HEADER")


def _row_result(row: _Row, fields: TradeFields | None, key: str | None, columns: dict[str, str]) -> ParsedRow:
    if row.errors or fields is None:
        return ParsedRow(row.number, None, row.errors, columns=columns)
    return ParsedRow(row.number, fields, [], key, columns=columns)


def _columns(row: _Row, **names: tuple[str, ...]) -> dict[str, str]:
    return {field: row.column(*aliases) for field, aliases in names.items()}


# ---------------------------------------------------------------- Zerodha tradebook

_ZERODHA_REQUIRED = {
    "symbol": ("symbol",),
    "trade_date": ("trade_date",),
    "exchange": ("exchange",),
    "trade_type": ("trade_type",),
    "quantity": ("quantity",),
    "price": ("price",),
    "trade_id": ("trade_id",),
}


def _zerodha_row(row: _Row) -> ParsedRow:
    columns = _columns(
        row,
        **{
            "instrument.symbol": ("symbol",),
            "instrument.exchange": ("exchange",),
            "segment": ("segment",),
            "side": ("trade_type",),
            "quantity_micros": ("quantity",),
            "price_micros": ("price",),
            "trade_time": ("order_execution_time", "trade_date"),
            "broker_trade_id": ("trade_id",),
            "broker_order_id": ("order_id",),
            "isin": ("isin",),
            "derivative": ("symbol",),
            "derivative.expiry_date": ("expiry_date",),
        },
    )
    if row.errors:
        return _row_result(row, None, None, columns)
    symbol = row.get("symbol").strip().upper()
    exchange = row.take(("exchange",), lambda v: broker_exchange(v, row.get("segment")))
    side = row.take(("trade_type",), parse_side)
    quantity = row.take(("quantity",), parse_micros)
    price = row.take(("price",), parse_micros)
    executed = row.get("order_execution_time").strip()
    if executed:
        trade_time = row.take(("order_execution_time",), parse_time)
    else:
        trade_time = row.take(("trade_date",), lambda v: datetime.combine(parse_date(v), datetime.min.time(), IST))
    trade_id = row.get("trade_id").strip()
    if not trade_id:
        row.errors.append(
            ImportRowError(row.number, row.column("trade_id"), "", "MISSING_VALUE", "trade_id is required")
        )
    derivative = None
    if isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        derivative = row.take(("symbol",), lambda v: parse_derivative(symbol, row.get("expiry_date")))
    if row.errors:
        return _row_result(row, None, None, columns)
    assert isinstance(exchange, Exchange)
    assert isinstance(side, Side)
    assert isinstance(quantity, int)
    assert isinstance(price, int)
    assert isinstance(trade_time, datetime)
    fields = TradeFields(
        symbol=symbol,
        exchange=exchange,
        derivative=derivative if isinstance(derivative, Derivative) else None,
        isin=row.get("isin").strip(),
        side=side,
        quantity_micros=quantity,
        price_micros=price,
        trade_time=trade_time,
        broker=Broker.ZERODHA,
        broker_trade_id=trade_id,
        broker_order_id=row.get("order_id").strip(),
    )
    return _row_result(row, fields, None, columns)


# ---------------------------------------------------------------- Upstox trade report

_UPSTOX_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "trade date", "trade_date"),
    "symbol": ("symbol", "scrip", "scrip name", "scrip code", "trading symbol", "tradingsymbol"),
    "exchange": ("exchange",),
    "segment": ("segment",),
    "instrument_type": ("instrument type", "instrument_type"),
    "strike": ("strike price", "strike_price", "strike"),
    "expiry": ("expiry", "expiry date", "expiry_date"),
    "option_type": ("option type", "option_type"),
    "trade_id": ("trade num", "trade number", "trade no", "trade no.", "trade id", "trade_id"),
    "order_id": ("order num", "order number", "order id", "order_id"),
    "time": ("trade time", "trade_time", "time"),
    "side": ("side", "buy/sell", "transaction type", "type"),
    "quantity": ("quantity", "qty"),
    "price": ("price", "rate", "trade price"),
}
_UPSTOX_REQUIRED = {
    name: _UPSTOX_ALIASES[name] for name in ("date", "symbol", "exchange", "trade_id", "side", "quantity", "price")
}


def _upstox_row(row: _Row) -> ParsedRow:
    a = _UPSTOX_ALIASES
    columns = _columns(
        row,
        **{
            "instrument.symbol": a["symbol"],
            "instrument.exchange": a["exchange"],
            "segment": a["segment"],
            "side": a["side"],
            "quantity_micros": a["quantity"],
            "price_micros": a["price"],
            "trade_time": a["time"],
            "broker_trade_id": a["trade_id"],
            "derivative": a["instrument_type"],
            "derivative.expiry_date": a["expiry"],
            "derivative.strike_price_micros": a["strike"],
        },
    )
    if row.errors:
        return _row_result(row, None, None, columns)
    symbol = row.get(*a["symbol"]).strip().upper()
    exchange = row.take(a["exchange"], lambda v: broker_exchange(v, row.get(*a["segment"])))
    side = row.take(a["side"], parse_side)
    quantity = row.take(a["quantity"], parse_micros)
    price = row.take(a["price"], parse_micros)
    day = row.take(a["date"], parse_date)
    time_text = row.get(*a["time"]).strip()
    trade_time: object = None
    if isinstance(day, date):
        if time_text and ("-" in time_text or "T" in time_text):
            trade_time = row.take(a["time"], parse_time)
        elif time_text:
            trade_time = row.take(a["time"], lambda v: parse_time(f"{day.isoformat()} {v.strip()}"))
        else:
            trade_time = datetime.combine(day, datetime.min.time(), IST)
    trade_id = row.get(*a["trade_id"]).strip()
    if not trade_id:
        row.errors.append(
            ImportRowError(row.number, row.column(*a["trade_id"]), "", "MISSING_VALUE", "trade number is required")
        )
    derivative: object = None
    if isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        derivative = row.take(a["instrument_type"], lambda v: _upstox_derivative(row, symbol))
    if row.errors:
        return _row_result(row, None, None, columns)
    assert isinstance(exchange, Exchange)
    assert isinstance(side, Side)
    assert isinstance(quantity, int)
    assert isinstance(price, int)
    assert isinstance(trade_time, datetime)
    fields = TradeFields(
        symbol=symbol,
        exchange=exchange,
        derivative=derivative if isinstance(derivative, Derivative) else None,
        side=side,
        quantity_micros=quantity,
        price_micros=price,
        trade_time=trade_time,
        broker=Broker.UPSTOX,
        broker_trade_id=trade_id,
        broker_order_id=row.get(*_UPSTOX_ALIASES["order_id"]).strip(),
    )
    return _row_result(row, fields, None, columns)


def _upstox_derivative(row: _Row, symbol: str) -> Derivative:
    a = _UPSTOX_ALIASES
    kind_text = row.get(*a["instrument_type"]).strip().upper()
    option = row.get(*a["option_type"]).strip().upper()
    expiry_text = row.get(*a["expiry"]).strip()
    if kind_text.startswith("FUT"):
        kind = ContractType.FUTURE
    elif kind_text.startswith("OPT") or option in ("CE", "PE"):
        kind = ContractType.PUT if option == "PE" or symbol.endswith("PE") else ContractType.CALL
    else:
        return parse_derivative(symbol, expiry_text)
    if not expiry_text:
        return parse_derivative(symbol, "")
    strike_text = row.get(*a["strike"]).strip()
    strike = parse_micros(strike_text) if strike_text and kind is not ContractType.FUTURE else 0
    underlying = re.match(r"^[A-Z&-]+", symbol)
    return Derivative(underlying.group(0) if underlying else "", parse_date(expiry_text).isoformat(), kind, strike)


# ---------------------------------------------------------------- generic CSV

_GENERIC_REQUIRED = {name: (name,) for name in ("symbol", "exchange", "side", "quantity", "price", "trade_time")}
_CONTRACT_TYPES = {
    "FUTURE": ContractType.FUTURE,
    "FUT": ContractType.FUTURE,
    "CALL": ContractType.CALL,
    "CE": ContractType.CALL,
    "PUT": ContractType.PUT,
    "PE": ContractType.PUT,
}


def _enum_cell(
    kind: type[Exchange] | type[Segment] | type[Category] | type[Broker], reason: str
) -> Callable[[str], object]:
    def parse(value: str) -> object:
        cleaned = value.strip().upper().replace("-", "_")
        if not cleaned:
            return None
        try:
            return kind(cleaned)
        except ValueError:
            raise RowProblem(reason, f"{value.strip()[:40]!r} is not a valid value") from None

    return parse


def _generic_row(row: _Row, user_id: str, occurrences: Counter[str]) -> ParsedRow:
    columns = {
        "instrument.symbol": row.column("symbol"),
        "instrument.exchange": row.column("exchange"),
        "quantity_micros": row.column("quantity"),
        "price_micros": row.column("price"),
        "fees_micros": row.column("fees"),
        "derivative.strike_price_micros": row.column("strike"),
        "derivative.expiry_date": row.column("expiry_date"),
        "derivative.underlying": row.column("underlying"),
        "derivative.contract_type": row.column("contract_type"),
        "broker_trade_id": row.column("trade_id"),
        "broker_order_id": row.column("order_id"),
    }
    if row.errors:
        return _row_result(row, None, None, columns)
    symbol = row.get("symbol").strip().upper()
    exchange = row.take(("exchange",), _enum_cell(Exchange, "UNKNOWN_EXCHANGE"))
    if exchange is None and not row.errors:
        row.errors.append(
            ImportRowError(row.number, row.column("exchange"), "", "MISSING_VALUE", "exchange is required")
        )
    segment = row.take(("segment",), _enum_cell(Segment, "SEGMENT_MISMATCH"))
    side = row.take(("side",), parse_side)
    quantity = row.take(("quantity",), parse_micros)
    price = row.take(("price",), parse_micros)
    trade_time = row.take(("trade_time",), parse_time)
    fees = row.take(("fees",), lambda v: parse_micros(v) if v.strip() else 0)
    category = row.take(("category",), _enum_cell(Category, "INVALID_CATEGORY"))
    broker = row.take(("broker",), _enum_cell(Broker, "INVALID_BROKER"))
    derivative: Derivative | None = None
    kind_text = row.get("contract_type").strip().upper()
    expiry_text = row.get("expiry_date").strip()
    if kind_text or expiry_text or row.get("strike").strip():
        kind = _CONTRACT_TYPES.get(kind_text)
        if kind is None:
            row.errors.append(
                ImportRowError(
                    row.number,
                    row.column("contract_type"),
                    kind_text[:100],
                    "SYMBOL_UNPARSEABLE",
                    "contract_type must be FUTURE, CALL or PUT (FUT/CE/PE)",
                )
            )
        strike = row.take(("strike",), lambda v: parse_micros(v) if v.strip() else 0)
        expiry = row.take(("expiry_date",), parse_date)
        if kind is not None and isinstance(strike, int) and isinstance(expiry, date):
            derivative = Derivative(row.get("underlying").strip().upper(), expiry.isoformat(), kind, strike)
    elif isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        parsed = row.take(("symbol",), lambda v: parse_derivative(symbol, ""))
        derivative = parsed if isinstance(parsed, Derivative) else None
    tags = tuple(tag for tag in (t.strip() for t in row.get("tags").split(";")) if tag)
    if row.errors:
        return _row_result(row, None, None, columns)
    assert isinstance(exchange, Exchange)
    assert isinstance(side, Side)
    assert isinstance(quantity, int)
    assert isinstance(price, int)
    assert isinstance(trade_time, datetime)
    assert isinstance(fees, int)
    fields = TradeFields(
        symbol=symbol,
        exchange=exchange,
        segment=segment if isinstance(segment, Segment) else None,
        derivative=derivative,
        isin=row.get("isin").strip(),
        side=side,
        quantity_micros=quantity,
        price_micros=price,
        fees_micros=fees,
        trade_time=trade_time,
        category=category if isinstance(category, Category) else None,
        strategy=row.get("strategy"),
        tags=tags,
        notes=row.get("notes"),
        broker=broker if isinstance(broker, Broker) else Broker.MANUAL,
        broker_trade_id=row.get("trade_id").strip(),
        broker_order_id=row.get("order_id").strip(),
    )
    key = None
    if not fields.broker_trade_id:
        base = fingerprint_key(user_id, fields, 0)
        occurrences[base] += 1
        key = fingerprint_key(user_id, fields, occurrences[base])
    return _row_result(row, fields, key, columns)


def parse_file(format_name: str, content: bytes, user_id: str) -> tuple[int, list[ParsedRow]]:
    """Parse a whole file of the given ImportFormat name; return (data row count, parsed rows)."""
    parsed: list[ParsedRow] = []
    if format_name == "IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV":
        records, _ = _records(content, _ZERODHA_REQUIRED)
        parse_row: Callable[[_Row], ParsedRow] = _zerodha_row
    elif format_name == "IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV":
        records, _ = _records(content, _UPSTOX_REQUIRED)
        parse_row = _upstox_row
    elif format_name == "IMPORT_FORMAT_GENERIC_CSV":
        records, _ = _records(content, _GENERIC_REQUIRED)
        occurrences: Counter[str] = Counter()

        def parse_row(row: _Row) -> ParsedRow:
            return _generic_row(row, user_id, occurrences)
    else:
        raise InvalidArgument("unknown format", [FieldViolation("format", "unknown import format")])
    for row in records:
        parsed.append(parse_row(row))
        if len(parsed) > MAX_ROWS:
            raise InvalidArgument(
                f"the file has more than {MAX_ROWS} data rows",
                [FieldViolation("content", f"at most {MAX_ROWS} data rows")],
                reason="TOO_MANY_ROWS",
            )
    return len(parsed), parsed
