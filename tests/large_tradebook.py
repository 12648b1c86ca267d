"""A maximum-size Zerodha tradebook for the large-import tests (issue 15 item 7): the CLI's and the browser's.

The layout is Kite/Console's equity tradebook export, header taken from ``tests/trade/data/zerodha_tradebook_eq.csv``
(symbol, isin, trade_date, exchange, segment, series, trade_type, auction, quantity, price, trade_id, order_id,
order_execution_time). Fills are spread over ten NSE stocks, 300 a trading day from 09:15 IST, buys and sells
alternating; trade ids of 8 digits and order ids of 16 like Kite's, so the file is about as large as a real one
(bench/import_bench.py writes the same rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["ISINS", "LARGE_ROWS", "ZERODHA_HEADER", "write_zerodha_tradebook", "zerodha_tradebook"]

#: The size issue 15 names: "a 50,000-row Zerodha tradebook imports through the gateway".
LARGE_ROWS = 50_000
#: The first line of Console's equity tradebook, as in the trade service's own sample.
ZERODHA_HEADER = (Path(__file__).parent / "trade" / "data" / "zerodha_tradebook_eq.csv").read_text().splitlines()[0]
ISINS = {
    "INFY": "INE009A01021",
    "TCS": "INE467B01029",
    "RELIANCE": "INE002A01018",
    "HDFCBANK": "INE040A01034",
    "ICICIBANK": "INE090A01021",
    "SBIN": "INE062A01020",
    "ITC": "INE154A01025",
    "LT": "INE018A01030",
    "WIPRO": "INE075A01022",
    "AXISBANK": "INE238A01034",
}


def zerodha_tradebook(rows: int = LARGE_ROWS) -> bytes:
    """``rows`` distinct fills in the tradebook layout (CRLF-free, one trailing newline)."""
    symbols = list(ISINS)
    lines = [ZERODHA_HEADER]
    first_day = datetime(2023, 1, 2, 9, 15)
    for index in range(rows):
        moment = first_day + timedelta(days=index // 300, minutes=index % 300)
        symbol = symbols[index % len(symbols)]
        side = "buy" if index % 2 == 0 else "sell"
        lines.append(
            f"{symbol},{ISINS[symbol]},{moment:%Y-%m-%d},NSE,EQ,EQ,{side},false,{1 + index % 7}.000000,"
            f"{100 + index % 900}.050000,{70_000_000 + index},{1_100_000_000_000_000 + index // 2},"
            f"{moment:%Y-%m-%dT%H:%M:%S}"
        )
    return ("\n".join(lines) + "\n").encode()


def write_zerodha_tradebook(path: Path, rows: int = LARGE_ROWS) -> Path:
    """Write :func:`zerodha_tradebook` to ``path``; return it."""
    path.write_bytes(zerodha_tradebook(rows))
    return path
