"""Formatting for the terminal: exact money and quantities, Indian digit grouping, an equity-curve chart."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TextIO

__all__ = [
    "FORMULA_TRIGGERS",
    "IST",
    "equity_chart",
    "format_inr",
    "format_quantity",
    "group_indian",
    "parse_micros",
    "parse_time",
    "spreadsheet_safe",
    "write_csv",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_MICROS = Decimal(1_000_000)


def group_indian(digits: str) -> str:
    """Group an integer's digits the Indian way: ``12345678`` → ``1,23,45,678``."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def _decimal_text(micros: int, min_places: int) -> str:
    value = Decimal(micros) / _MICROS
    text = f"{abs(value):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(min_places, "0")
    sign = "-" if micros < 0 else ""
    return f"{sign}{group_indian(whole)}" + (f".{fraction}" if fraction else "")


def format_inr(micros: int, *, sign: bool = False) -> str:
    """Format INR micros exactly: ``1234050000`` → ``₹1,234.05`` (at least 2 decimals, more if needed)."""
    text = _decimal_text(micros, 2)
    if text.startswith("-"):
        return f"-₹{text[1:]}"
    return f"+₹{text}" if sign and micros > 0 else f"₹{text}"


def format_quantity(micros: int) -> str:
    """Format micro-units exactly: ``10000000`` → ``10``, ``123456`` → ``0.123456``."""
    return _decimal_text(micros, 0)


def parse_micros(text: str, what: str) -> int:
    """Parse a decimal (``"1520.5"``, ``"1,520.50"``) into micros, exactly.

    Raises:
        ValueError: Not a number, or more than 6 decimal places.
    """
    try:
        value = Decimal(text.replace(",", "").replace("₹", "").strip())
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {text!r}") from None
    micros = value * _MICROS
    if micros != micros.to_integral_value():
        raise ValueError(f"{what} has more than 6 decimal places: {text!r}")
    return int(micros)


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 / ISO 8601 or ``YYYY-MM-DD HH:MM[:SS]``; a time without a zone is IST.

    Raises:
        ValueError: Not a time.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use e.g. 2024-12-20T10:15:00+05:30 or '2024-12-20 10:15')") from None
    return parsed.replace(tzinfo=IST) if parsed.tzinfo is None else parsed.astimezone(UTC)


def equity_chart(values: Sequence[int], *, width: int = 60, height: int = 10) -> list[str]:
    """Draw a line of cumulative P&L (micros) as text rows, with the ₹ scale on the left.

    The series is resampled to ``width`` columns; each column marks its value with ``●`` and fills
    towards the zero line with ``│``, so gains rise above the ``─`` axis and losses hang below it.
    """
    if not values:
        return ["(no closed round trips in this period)"]
    columns = [values[round(i * (len(values) - 1) / max(width - 1, 1))] for i in range(min(width, len(values)))]
    top, bottom = max(*columns, 0), min(*columns, 0)
    span = (top - bottom) or 1

    def row_of(value: int) -> int:
        return round((top - value) * (height - 1) / span)

    zero = row_of(0)
    grid = [[" "] * len(columns) for _ in range(height)]
    for x, value in enumerate(columns):
        row = row_of(value)
        for between in range(min(row, zero), max(row, zero) + 1):
            grid[between][x] = "│"
        grid[zero][x] = "─" if row != zero else grid[zero][x]
        grid[row][x] = "●"
    labels = {0: format_inr(top), zero: format_inr(0), height - 1: format_inr(bottom)}
    pad = max(len(label) for label in labels.values())
    return [f"{labels.get(index, ''):>{pad}} ┤{''.join(cells)}" for index, cells in enumerate(grid)]


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection"): = + - @ and the
#: tab and carriage return that some spreadsheets skip before one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Return a text cell that a spreadsheet shows as text: a leading formula trigger gets a `'` before it.

    Applied to every cell that holds text a user typed (notes, strategy, tags, symbols), so a note
    ``=HYPERLINK("http://evil","click")`` exports as the text it is, not a live formula.
    """
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a CSV (every cell quoted, every cell spreadsheet-safe) — the one CSV writer of the CLI."""
    writer = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
