"""CSV mappings (docs/decisions/0240): read any broker's CSV by naming its columns, time format, side words,
timezone and decimal separator. Pure: the stdlib `csv` reader, no gRPC or database.

A mapped row is translated into a row of trademesh's generic CSV (canonical cells, the file's headers kept for
error messages) and handed to `import_formats.generic_row`, so a mapped import validates, fingerprints and
deduplicates exactly like a generic one.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trademesh.kernel.errors import FieldViolation, InvalidArgument, check_fields
from trademesh.kernel.instruments import Exchange
from trademesh.services.brokers.csvcells import MAX_CONTENT_BYTES, CellError, CsvRow
from trademesh.services.trade.import_formats import MAX_ROWS, generic_row
from trademesh.services.trade.model import ImportRowError, ParsedRow

MAX_MAPPINGS_PER_USER = 20
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 100
MAX_VOCABULARY = 20
DEFAULT_TIMEZONE = "Asia/Kolkata"
_DELIMITERS = (",", ";", "|", "\t")
_SAMPLE = datetime(2026, 3, 14, 15, 9, 26)
#: Used in a cell whose mapped value was bad, so the generic row parser reports only the row's other problems.
_PLACEHOLDER_TIME = "2000-01-01T00:00:00+00:00"
_DEFAULT_PATTERNS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)


@dataclass(frozen=True, slots=True)
class Columns:
    """The header naming each field's column ("" = not mapped)."""

    symbol: str = ""
    exchange: str = ""
    side: str = ""
    quantity: str = ""
    price: str = ""
    trade_time: str = ""
    trade_date: str = ""
    time_of_day: str = ""
    fees: str = ""
    order_id: str = ""
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """How to read one CSV layout (see CsvMapping in csv_mapping.proto)."""

    columns: Columns = field(default_factory=Columns)
    time_format: str = ""
    buy_values: tuple[str, ...] = ()
    sell_values: tuple[str, ...] = ()
    timezone: str = ""
    decimal_separator: str = ""
    delimiter: str = ""
    header_row: int = 0
    default_exchange: str = ""

    def to_document(self) -> dict[str, object]:
        """Return a plain-data form (stored, and hashed into an import's request identity)."""
        return {
            "columns": {f.name: getattr(self.columns, f.name) for f in fields(Columns)},
            "time_format": self.time_format,
            "buy_values": list(self.buy_values),
            "sell_values": list(self.sell_values),
            "timezone": self.timezone,
            "decimal_separator": self.decimal_separator,
            "delimiter": self.delimiter,
            "header_row": self.header_row,
            "default_exchange": self.default_exchange,
        }

    @staticmethod
    def from_document(document: dict[str, object]) -> CsvMapping:
        """Inverse of `to_document`."""
        raw_columns = document.get("columns")
        columns = raw_columns if isinstance(raw_columns, dict) else {}
        return CsvMapping(
            columns=Columns(**{f.name: str(columns.get(f.name, "")) for f in fields(Columns)}),
            time_format=str(document.get("time_format", "")),
            buy_values=tuple(str(v) for v in _list(document.get("buy_values"))),
            sell_values=tuple(str(v) for v in _list(document.get("sell_values"))),
            timezone=str(document.get("timezone", "")),
            decimal_separator=str(document.get("decimal_separator", "")),
            delimiter=str(document.get("delimiter", "")),
            header_row=int(str(document.get("header_row", 0))),
            default_exchange=str(document.get("default_exchange", "")),
        )


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class SavedMapping:
    """A user's named mapping."""

    id: str
    user_id: str
    name: str
    mapping: CsvMapping
    version: int
    create_time: datetime
    update_time: datetime

    @property
    def etag(self) -> str:
        return f"v{self.version}"


def _words(values: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip().upper() for v in values) or default


def check_mapping(mapping: CsvMapping, prefix: str = "mapping") -> None:
    """Validate a mapping on its own (not against a file); raise INVALID_ARGUMENT naming each bad field."""
    violations: list[FieldViolation] = []
    columns = mapping.columns
    for f in fields(Columns):
        if len(getattr(columns, f.name)) > MAX_VALUE_CHARS:
            violations.append(FieldViolation(f"{prefix}.columns.{f.name}", f"at most {MAX_VALUE_CHARS} characters"))
    for name in ("symbol", "side", "quantity", "price"):
        if not getattr(columns, name).strip():
            violations.append(FieldViolation(f"{prefix}.columns.{name}", f"the {name} column is required"))
    if not columns.exchange.strip() and not mapping.default_exchange.strip():
        violations.append(
            FieldViolation(f"{prefix}.columns.exchange", "an exchange column or a default_exchange is required")
        )
    split = bool(columns.trade_date.strip() or columns.time_of_day.strip())
    if columns.trade_time.strip() and split:
        violations.append(
            FieldViolation(f"{prefix}.columns.trade_time", "set trade_time or trade_date and time_of_day, not both")
        )
    elif not columns.trade_time.strip():
        for name in ("trade_date", "time_of_day"):
            if not getattr(columns, name).strip():
                violations.append(
                    FieldViolation(f"{prefix}.columns.{name}", "trade_time or trade_date and time_of_day is required")
                )
    if mapping.time_format:
        problem = _format_problem(mapping.time_format)
        if problem:
            violations.append(FieldViolation(f"{prefix}.time_format", problem))
    for name, values in (("buy_values", mapping.buy_values), ("sell_values", mapping.sell_values)):
        if len(values) > MAX_VOCABULARY or any(not v.strip() or len(v) > 40 for v in values):
            violations.append(FieldViolation(f"{prefix}.{name}", f"at most {MAX_VOCABULARY} non-empty values of ≤ 40"))
    overlap = set(_words(mapping.buy_values, ("BUY", "B"))) & set(_words(mapping.sell_values, ("SELL", "S")))
    if overlap:
        violations.append(FieldViolation(f"{prefix}.sell_values", f"{sorted(overlap)[0]!r} means both BUY and SELL"))
    if mapping.timezone:
        try:
            ZoneInfo(mapping.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            violations.append(FieldViolation(f"{prefix}.timezone", f"{mapping.timezone[:60]!r} is not an IANA zone"))
    if mapping.decimal_separator not in ("", ".", ","):
        violations.append(FieldViolation(f"{prefix}.decimal_separator", 'must be "." or ","'))
    if mapping.delimiter not in ("", *_DELIMITERS):
        violations.append(FieldViolation(f"{prefix}.delimiter", 'must be ",", ";", "|" or a tab'))
    if mapping.decimal_separator == "," and mapping.delimiter in ("", ","):
        violations.append(FieldViolation(f"{prefix}.delimiter", 'a "," decimal separator needs another delimiter'))
    if not 0 <= mapping.header_row <= 100:
        violations.append(FieldViolation(f"{prefix}.header_row", "must be 0 to 100"))
    if mapping.default_exchange and mapping.default_exchange.strip().upper() not in Exchange.__members__:
        violations.append(FieldViolation(f"{prefix}.default_exchange", "not an exchange (NSE, BSE, NFO, …)"))
    check_fields(violations, "invalid CSV mapping")


def _format_problem(pattern: str) -> str:
    """Return why a strptime format is unusable for a trade time ("" when it is fine)."""
    if len(pattern) > 60:
        return "at most 60 characters"
    if "%" not in pattern:
        return "not a strptime format (e.g. %d-%m-%Y %H:%M:%S)"
    try:
        parsed = datetime.strptime(_SAMPLE.strftime(pattern), pattern)
    except ValueError as error:
        return f"not a usable strptime format: {error}"
    if parsed.date() != _SAMPLE.date():
        return "must contain the day, month and year (%d, %m or %b, %Y or %y)"
    return ""


def _missing_column(field_name: str, header: str) -> FieldViolation:
    return FieldViolation(f"mapping.columns.{field_name}", f"column {header[:60]!r} is not in the file's header")


def _records(content: bytes, mapping: CsvMapping) -> tuple[list[str], Any]:
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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter or ",", strict=True)
    header: list[str] | None = None
    try:
        for _ in range(max(mapping.header_row, 1)):
            header = next(reader, None)
            if header is None:
                break
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as error:
        raise InvalidArgument(
            f"unreadable CSV: {error}", [FieldViolation("content", f"unreadable CSV: {error}")], reason="INVALID_HEADER"
        ) from None
    if header is None:
        raise InvalidArgument(
            "the file has no header row",
            [FieldViolation("mapping.header_row", "the file has no header row there")],
            reason="INVALID_HEADER",
        )
    return header, reader


class _Reader:
    """Translate one mapped data record into a generic-CSV row, collecting the mapping's own cell problems."""

    def __init__(self, mapping: CsvMapping, header: list[str]) -> None:
        self.mapping = mapping
        self.names = [cell.strip().lower() for cell in header]
        written = {name: cell.strip() for name, cell in zip(self.names, header, strict=True)}
        self.index: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        missing: list[FieldViolation] = []
        for f in fields(Columns):
            wanted = getattr(mapping.columns, f.name).strip()
            if not wanted:
                continue
            if wanted.lower() not in written:
                missing.append(_missing_column(f.name, wanted))
                continue
            self.index[f.name] = self.names.index(wanted.lower())
            self.headers[f.name] = written[wanted.lower()]
        if missing:
            raise InvalidArgument(
                f"{len(missing)} mapped column(s) are not in the file's header", missing, reason="INVALID_HEADER"
            )
        if "trade_date" in self.headers:
            self.headers["trade_time"] = f"{self.headers['trade_date']} + {self.headers['time_of_day']}"
        self.zone = ZoneInfo(mapping.timezone or DEFAULT_TIMEZONE)
        self.buy = _words(mapping.buy_values, ("BUY", "B"))
        self.sell = _words(mapping.sell_values, ("SELL", "S"))
        self.default_exchange = mapping.default_exchange.strip().upper()

    def row(self, number: int, record: list[str]) -> tuple[CsvRow, list[CellError]]:
        problems: list[CellError] = []
        headers = dict(self.headers)
        if len(record) != len(self.names):
            row = CsvRow(number, {}, headers, [])
            row.problem("", "", "WRONG_COLUMN_COUNT", f"expected {len(self.names)} cells, found {len(record)}")
            return row, problems
        cell = {name: record[i] for name, i in self.index.items()}
        cells = {
            "symbol": cell.get("symbol", ""),
            "exchange": cell.get("exchange", "").strip() or self.default_exchange,
            "quantity": self._number(cell.get("quantity", "")),
            "price": self._number(cell.get("price", "")),
            "fees": self._number(cell.get("fees", "")),
            "order_id": cell.get("order_id", ""),
            "trade_id": cell.get("trade_id", ""),
        }
        side = cell.get("side", "").strip()
        if side.upper() in self.buy:
            cells["side"] = "BUY"
        elif side.upper() in self.sell:
            cells["side"] = "SELL"
        elif not side:
            cells["side"] = ""  # the generic parser reports MISSING_VALUE
        else:
            cells["side"] = "BUY"
            words = "/".join(self.buy[:3] + self.sell[:3])
            problems.append(
                CellError(number, headers["side"], side[:100], "INVALID_SIDE", f"{side[:20]!r} is none of {words}")
            )
        if "trade_date" in cell:
            when = f"{cell['trade_date'].strip()} {cell.get('time_of_day', '').strip()}".strip()
        else:
            when = cell.get("trade_time", "").strip()
        cells["trade_time"] = self._time(number, when, headers["trade_time"], problems)
        return CsvRow(number, cells, headers, []), problems

    def _number(self, text: str) -> str:
        if self.mapping.decimal_separator == ",":
            return text.replace(".", "").replace(" ", "").replace("\u00a0", "").replace(",", ".")
        return text

    def _time(self, number: int, text: str, column: str, problems: list[CellError]) -> str:
        if not text:
            return ""  # the generic parser reports MISSING_VALUE
        moment: datetime | None = None
        if self.mapping.time_format:
            try:
                moment = datetime.strptime(text, self.mapping.time_format)
            except ValueError:
                moment = None
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                for pattern in _DEFAULT_PATTERNS:
                    try:
                        moment = datetime.strptime(text, pattern)
                        break
                    except ValueError:
                        continue
        if moment is None:
            expected = self.mapping.time_format or "RFC 3339 or YYYY-MM-DD HH:MM[:SS]"
            problems.append(
                CellError(number, column, text[:100], "INVALID_TIME", f"{text[:40]!r} does not match {expected}")
            )
            return _PLACEHOLDER_TIME
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.isoformat()


def parse_mapped(content: bytes, mapping: CsvMapping, user_id: str) -> tuple[int, list[ParsedRow]]:
    """Parse a whole file with a (valid) mapping; return (data row count, parsed rows) as `parse_file` does."""
    header, reader = _records(content, mapping)
    translate = _Reader(mapping, header)
    occurrences: Counter[str] = Counter()
    parsed: list[ParsedRow] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            row, problems = translate.row(reader.line_num, record)
            result = generic_row(row, user_id, occurrences)
            if problems:
                errors = [ImportRowError(e.row_number, e.column, e.value, e.reason, e.message) for e in problems]
                result = ParsedRow(
                    result.row_number,
                    None,
                    sorted([*errors, *result.errors], key=lambda e: e.column),
                    columns=result.columns,
                )
            parsed.append(result)
            if len(parsed) > MAX_ROWS:
                raise InvalidArgument(
                    f"the file has more than {MAX_ROWS} data rows",
                    [FieldViolation("content", f"at most {MAX_ROWS} data rows")],
                    reason="TOO_MANY_ROWS",
                )
    except csv.Error as error:
        message = f"unreadable CSV near line {reader.line_num}: {error}"
        raise InvalidArgument(message, [FieldViolation("content", message)], reason="INVALID_HEADER") from None
    return len(parsed), parsed


def check_name(name: str) -> str:
    """Return a mapping name trimmed; raise INVALID_ARGUMENT when empty or too long."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_CHARS or not cleaned.isprintable():
        raise InvalidArgument(
            "invalid mapping name", [FieldViolation("name", f"1 to {MAX_NAME_CHARS} printable characters")]
        )
    return cleaned
