"""Derivative contracts from NSE/Kite-style trading symbols (e.g. NIFTY21JUN15000CE, NIFTY2161015000PE).

Monthly symbols (``<underlying><yy><MON>[strike]<FUT|CE|PE>``) name no day: the expiry is the month's last
Thursday/Tuesday/… as the exchange's rule of that month says (`expiry_days.py`) unless the caller knows better
(a tradebook's expiry column, the instrument master). Weekly option symbols
(``<underlying><yy><m><dd><strike><CE|PE>``, m = 1-9, O, N, D) carry the day. Pure: no I/O.
"""

from __future__ import annotations

import calendar as _calendar
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from trademesh.kernel.expiry_days import monthly_expiry
from trademesh.kernel.instruments import ContractType, Derivative

__all__ = ["ContractSymbolError", "parse_contract_symbol"]

_MONTHS = {name.upper(): index for index, name in enumerate(_calendar.month_abbr) if name}
_MONTHLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
    r"(?P<strike>\d+(\.\d+)?)?(?P<kind>FUT|CE|PE)$"
)
_WEEKLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})(?P<strike>\d+(\.\d+)?)(?P<kind>CE|PE)$"
)
_WEEKLY_MONTH = {**{str(n): n for n in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_KINDS = {"FUT": ContractType.FUTURE, "CE": ContractType.CALL, "PE": ContractType.PUT}


class ContractSymbolError(ValueError):
    """The symbol names no contract this module can derive (the message says why)."""


def _strike_micros(text: str) -> int:
    try:
        micros = Decimal(text) * 1_000_000
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ContractSymbolError(f"strike {text!r} is not a number") from None
    if micros != micros.to_integral_value():
        raise ContractSymbolError(f"strike {text!r} has more than 6 decimal places")
    return int(micros)


def parse_contract_symbol(symbol: str, *, expiry: date | None = None, exchange: str = "NFO") -> Derivative:
    """Derive the contract from a trading symbol; `expiry`, when known, wins over the symbol's month.

    `exchange` (NFO, BFO, MCX, CDS, BCD) picks the monthly expiry rule; NFO when not known.
    """
    match = _MONTHLY.fullmatch(symbol) or _WEEKLY.fullmatch(symbol)
    if match is None:
        raise ContractSymbolError(f"cannot derive the contract from symbol {symbol!r}")
    kind = _KINDS[match["kind"]]
    strike = _strike_micros(match["strike"]) if match["strike"] else 0
    if kind is not ContractType.FUTURE and strike == 0:
        raise ContractSymbolError(f"option symbol {symbol!r} has no strike")
    if expiry is None:
        year = 2000 + int(match["yy"])
        try:
            if match.groupdict().get("mon"):
                expiry = monthly_expiry(exchange, match["u"], year, _MONTHS[match["mon"]])
            else:
                expiry = date(year, _WEEKLY_MONTH[match["m"]], int(match["dd"]))
        except ValueError:
            raise ContractSymbolError(f"symbol {symbol!r} has an invalid expiry") from None
    return Derivative(match["u"], expiry.isoformat(), kind, strike)
