"""Import file formats: the trademesh generic CSV here, the brokers' tradebooks in their packages
(`brokers.zerodha.tradebook`, `brokers.upstox.tradebook`, `brokers.fyers.tradebook`,
`brokers.icicidirect.tradebook`), all read with `brokers.csvcells`.

Parsing only (stdlib `csv`, exact `Decimal` numbers): each data row becomes TradeFields or row
errors; whole-file problems raise InvalidArgument. Validation of the resulting fields, duplicate
detection and storage happen in the import use case (`service.imports`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment, Side
from trademesh.services.brokers.csvcells import (
    CellError,
    CsvRow,
    RowProblem,
    TradebookRow,
    contract_from_symbol,
    parse_date,
    parse_micros,
    parse_side,
    parse_time,
    read_csv,
)
from trademesh.services.brokers.fyers import tradebook as fyers_tradebook
from trademesh.services.brokers.icicidirect import tradebook as icici_tradebook
from trademesh.services.brokers.upstox import tradebook as upstox_tradebook
from trademesh.services.brokers.zerodha import tradebook as zerodha_tradebook
from trademesh.services.trade.model import (
    Broker,
    Category,
    ImportRowError,
    ParsedRow,
    TradeFields,
    fingerprint_key,
)

MAX_ROWS = 100_000


def _row_errors(errors: list[CellError]) -> list[ImportRowError]:
    return [ImportRowError(e.row_number, e.column, e.value, e.reason, e.message) for e in errors]


def _row_result(row: CsvRow, fields: TradeFields | None, key: str | None, columns: dict[str, str]) -> ParsedRow:
    if row.errors or fields is None:
        return ParsedRow(row.number, None, _row_errors(row.errors), columns=columns)
    return ParsedRow(row.number, fields, [], key, columns=columns)


def _broker_row(parsed: TradebookRow, broker: Broker) -> ParsedRow:
    fill = parsed.fill
    if fill is None:
        return ParsedRow(parsed.row_number, None, _row_errors(parsed.errors), columns=parsed.columns)
    fields = TradeFields(
        symbol=fill.symbol,
        exchange=fill.exchange,
        derivative=fill.derivative,
        isin=fill.isin,
        side=fill.side,
        quantity_micros=fill.quantity_micros,
        price_micros=fill.price_micros,
        trade_time=fill.trade_time,
        broker=broker,
        broker_trade_id=fill.trade_id,
        broker_order_id=fill.order_id,
    )
    return ParsedRow(parsed.row_number, fields, [], None, columns=parsed.columns)


def _fingerprinted_row(parsed: TradebookRow, broker: Broker, user_id: str, occurrences: Counter[str]) -> ParsedRow:
    """A broker row without a trade id, keyed like a generic row without one (fingerprint + occurrence)."""
    row = _broker_row(parsed, broker)
    if row.fields is None:
        return row
    base = fingerprint_key(user_id, row.fields, 0)
    occurrences[base] += 1
    return ParsedRow(
        row.row_number, row.fields, [], fingerprint_key(user_id, row.fields, occurrences[base]), columns=row.columns
    )


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


def generic_row(row: CsvRow, user_id: str, occurrences: Counter[str]) -> ParsedRow:
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
        row.problem(row.column("exchange"), "", "MISSING_VALUE", "exchange is required")
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
            row.problem(
                row.column("contract_type"),
                kind_text[:100],
                "SYMBOL_UNPARSEABLE",
                "contract_type must be FUTURE, CALL or PUT (FUT/CE/PE)",
            )
        strike = row.take(("strike",), lambda v: parse_micros(v) if v.strip() else 0)
        expiry = row.take(("expiry_date",), parse_date)
        if kind is not None and isinstance(strike, int) and isinstance(expiry, date):
            derivative = Derivative(row.get("underlying").strip().upper(), expiry.isoformat(), kind, strike)
    elif isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        parsed = row.take(("symbol",), lambda v: contract_from_symbol(symbol, ""))
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
        records = read_csv(content, zerodha_tradebook.REQUIRED_COLUMNS)

        def parse_row(row: CsvRow) -> ParsedRow:
            return _broker_row(zerodha_tradebook.parse_row(row), Broker.ZERODHA)
    elif format_name == "IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV":
        records = read_csv(content, upstox_tradebook.REQUIRED_COLUMNS)

        def parse_row(row: CsvRow) -> ParsedRow:
            return _broker_row(upstox_tradebook.parse_row(row), Broker.UPSTOX)
    elif format_name == "IMPORT_FORMAT_FYERS_TRADEBOOK_CSV":
        records = (
            row
            for row in read_csv(content, fyers_tradebook.REQUIRED_COLUMNS, header_search=30)
            if row.errors or not fyers_tradebook.is_mirror(row)
        )
        seen: Counter[str] = Counter()

        def parse_row(row: CsvRow) -> ParsedRow:
            return _fingerprinted_row(fyers_tradebook.parse_row(row), Broker.MANUAL, user_id, seen)
    elif format_name == "IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV":
        records = read_csv(content, icici_tradebook.REQUIRED_COLUMNS)
        counted: Counter[str] = Counter()

        def parse_row(row: CsvRow) -> ParsedRow:
            return _fingerprinted_row(icici_tradebook.parse_row(row), Broker.MANUAL, user_id, counted)
    elif format_name == "IMPORT_FORMAT_GENERIC_CSV":
        records = read_csv(content, _GENERIC_REQUIRED)
        occurrences: Counter[str] = Counter()

        def parse_row(row: CsvRow) -> ParsedRow:
            return generic_row(row, user_id, occurrences)
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
