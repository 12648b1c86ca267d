"""Which weekday a monthly F&O contract expires on, by exchange, underlying and month (effective-dated).

Monthly trading symbols (``NIFTY25SEPFUT``) name a month, not a day; the day is the month's last
<weekday>, and the weekday has changed over the years. The table below is the rule as the exchanges'
circulars set it; where a tradebook's expiry column or the instrument master gives the exact date, that
date wins (holidays move an expiry to the previous trading day, which this module does not know).

Sources (circulars as reported, retrieved 2026-12):
- NSE circular of 23 June 2025 (after SEBI's circular of 26 May 2025): every NSE index and stock
  derivative (NIFTY, BANKNIFTY, FINNIFTY, MIDCPNIFTY, NIFTYNXT50, single stocks) expires on a Tuesday
  from the end of day 28 August 2025; monthly contracts on the month's last Tuesday (September 2025 on).
  Business Today, 23 June 2025; NDTV Profit, 2 September 2025.
- NSE circular of 29 November 2024: from 1 January 2025 BANKNIFTY, FINNIFTY, MIDCPNIFTY and NIFTYNXT50
  monthly contracts expire on the last Thursday (before: last Wednesday, Tuesday, Monday and Friday).
  The start dates of those 2024 index-specific days are not modelled: before 2025 the rule here is the
  classic last Thursday for every NSE contract.
- BSE circular of 28 November 2024: from 1 January 2025 SENSEX, BANKEX and SENSEX50 monthly contracts
  expire on the last Tuesday (before: last Friday, last Monday and last Thursday). Business Standard,
  28 November 2024.
- BSE moved to Thursday expiries from 1 September 2025 (SEBI's May 2025 circular let it choose Thursday
  while NSE chose Tuesday): monthly contracts on the last Thursday from September 2025.
- MCX and currency contracts (CDS/BCD) follow other rules (per commodity; two working days before the
  month's last business day for currency): not derivable from the weekday, so the classic last Thursday
  is kept only as a placeholder — their exact dates come from the tradebook or the instrument master.

Pure: no I/O.
"""

from __future__ import annotations

from datetime import date

from trademesh.kernel.calendar import last_weekday

__all__ = ["monthly_expiry"]

_MONDAY, _TUESDAY, _THURSDAY, _FRIDAY = 0, 1, 3, 4
#: BSE's monthly weekday per underlying before 2025 (BSE circular of 28 November 2024).
_BSE_BEFORE_2025 = {"SENSEX": _FRIDAY, "BANKEX": _MONDAY, "SENSEX50": _THURSDAY}


def _weekday(exchange: str, underlying: str, year: int, month: int) -> int:
    month_index = year * 12 + month
    if exchange == "BFO":
        if month_index >= 2025 * 12 + 9:
            return _THURSDAY
        if month_index >= 2025 * 12 + 1:
            return _TUESDAY
        return _BSE_BEFORE_2025.get(underlying, _THURSDAY)
    if exchange == "NFO" and month_index >= 2025 * 12 + 9:
        return _TUESDAY
    return _THURSDAY


def monthly_expiry(exchange: str, underlying: str, year: int, month: int) -> date:
    """Return the expiry date of a monthly contract as the exchange's rule of that month gives it."""
    return last_weekday(year, month, _weekday(exchange, underlying, year, month))
