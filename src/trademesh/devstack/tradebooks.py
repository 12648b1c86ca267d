"""Large broker tradebooks for benchmarks and tests: Zerodha Console's equity tradebook layout.

The header is Console's (the trade service's sample `tests/trade/data/zerodha_tradebook_eq.csv` starts with
it). Fills are spread over ten NSE stocks, 300 a trading day from 09:15 IST, buys and sells alternating; trade
ids of 8 digits and order ids of 16 like Kite's, so a file is about as large as a real one (50,000 rows:
5.6 MiB). Used by `bench/import_bench.py` and the large-import tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["ISINS", "ZERODHA_HEADER", "zerodha_tradebook"]

ZERODHA_HEADER = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time"
)
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


def zerodha_tradebook(rows: int) -> bytes:
    """`rows` distinct fills in the tradebook layout (one trailing newline)."""
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
