"""The broker file the CSV-mapping tests read (on fakes and through the real service), and its columns.

`BROKER_FILE` holds the same three fills as `tests.trade.use_cases.helpers.GENERIC`, in a broker's own layout (a
title line above the header, its own side words, day-first dates, a 12-hour clock); `COLUMN_NAMES` maps each field
of a mapping's columns to the file's heading, for the proto `CsvColumns` and the domain `Columns` alike;
`TIME_FORMAT` reads its date and time.
"""

from __future__ import annotations

COLUMN_NAMES = {
    "symbol": "Scrip",
    "exchange": "Exch",
    "side": "Buy/Sell",
    "quantity": "Qty",
    "price": "Rate",
    "trade_date": "Trade Date",
    "time_of_day": "Trade Time",
    "trade_id": "Trade No",
}
TIME_FORMAT = "%d/%m/%Y %I:%M:%S %p"
BROKER_FILE = (
    b"Tradebook of client X\n"
    b"Scrip,Exch,Buy/Sell,Qty,Rate,Trade Date,Trade Time,Trade No\n"
    b"INFY,NSE,Bought,10,1500.5,02/03/2026,09:30:00 AM,G1\n"
    b"INFY,NSE,sold,10,1510,02/03/2026,10:30:00 AM,G2\n"
    b"TCS,NSE,BOUGHT,5,3500,02/03/2026,11:00:00 AM,\n"
)
