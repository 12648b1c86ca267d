"""A maximum-size Zerodha tradebook for the large-import tests (issue 15 item 7): the CLI's and the browser's.

The layout is Kite/Console's equity tradebook export, header taken from ``tests/trade/data/zerodha_tradebook_eq.csv``
(symbol, isin, trade_date, exchange, segment, series, trade_type, auction, quantity, price, trade_id, order_id,
order_execution_time). Fills are spread over ten NSE stocks, 300 a trading day from 09:15 IST, buys and sells
alternating; trade ids of 8 digits and order ids of 16 like Kite's, so the file is about as large as a real one
(`trademesh.devstack.tradebooks`, shared with bench/import_bench.py).
"""

from __future__ import annotations

from pathlib import Path

from trademesh.devstack.tradebooks import ISINS, ZERODHA_HEADER
from trademesh.devstack.tradebooks import zerodha_tradebook as _tradebook

__all__ = ["ISINS", "LARGE_ROWS", "ZERODHA_HEADER", "write_zerodha_tradebook", "zerodha_tradebook"]

#: The size issue 15 names: "a 50,000-row Zerodha tradebook imports through the gateway".
LARGE_ROWS = 50_000
# The trade service's own sample starts with the same header.
assert (Path(__file__).parent / "trade" / "data" / "zerodha_tradebook_eq.csv").read_text().splitlines()[
    0
] == ZERODHA_HEADER


def zerodha_tradebook(rows: int = LARGE_ROWS) -> bytes:
    """``rows`` distinct fills in the tradebook layout (`trademesh.devstack.tradebooks`)."""
    return _tradebook(rows)


def write_zerodha_tradebook(path: Path, rows: int = LARGE_ROWS) -> Path:
    """Write :func:`zerodha_tradebook` to ``path``; return it."""
    path.write_bytes(zerodha_tradebook(rows))
    return path
