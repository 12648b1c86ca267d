"""The KiteTicker adapter (real kiteconnect client on Twisted) against a local fake Kite ticker.

Twisted's reactor can start only once per process, so the scenario runs in a subprocess
(`tests/marketdata/kite_probe.py`) and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kite_ticker_feed_parses_real_frames_reconnects_and_counts_bad_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.marketdata.kite_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    # The real full packet from Kite's samples: INFY at ₹1573.70 with 5-level depth.
    assert seen["infy"] == {
        "last": 1_573_700_000,
        "volume": 1_192_471,
        "bid": 1_573_400_000,
        "ask": 1_573_700_000,
        "bids": 5,
        "close": 1_567_800_000,
        "exchange_time_ns": 1_625_461_887_000_000_000,  # 2021-07-05 10:41:27 IST
    }
    assert seen["sequences"] == [1, 2]  # full, then the real quote packet
    assert seen["reliance"][0] == [1_285_400_000, 1_285_350_000, 1_285_450_000]
    # Credentials in the URL, FULL mode for every token, and again after the dropped connection.
    assert seen["paths"][0] == "/?api_key=key&access_token=token"
    assert seen["reconnected"]
    assert seen["connects"] >= 2
    assert len(seen["modes"]) >= 2
    assert all(mode["v"][0] == "full" and 408065 in mode["v"][1] for mode in seen["modes"])
    # Per connection: one truncated frame and one impossible packet size (feed) + one unknown token.
    assert seen["bad_frames"] >= 2
    assert seen["bad_ticks"] >= 1
