# ruff: noqa: ASYNC110, ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""What every role shares: the symbol universe, process CPU and memory, latency histograms, the start signal."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MAX_LATENCY_MS = 60_000
METHOD = "/trademesh.marketdata.v1.MarketDataService/SubscribeQuotes"


def write_universe(path: Path, count: int) -> None:
    """Write a universe of `count` NSE instruments with tokens 1..count."""
    rng = random.Random(2024)
    lines = ["exchange,symbol,instrument_token,tick_size,previous_close"]
    for index in range(1, count + 1):
        price = rng.randint(100, 5000) * 20  # whole multiples of 0.05 INR, in paise / 5
        lines.append(f"NSE,SIM{index:04d},{index},0.05,{price // 20}.{(price % 20) * 5:02d}")
    path.write_text("\n".join(lines) + "\n")


def stream_symbols(stream: int, symbols: int, per_stream: int) -> list[int]:
    """Return the tokens (1-based) stream `stream` watches."""
    return sorted(token + 1 for token in random.Random(stream).sample(range(symbols), per_stream))


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of a process (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Return the resident set size of a process in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(histogram: Sequence[int], fraction: float) -> float:
    """Return the percentile (ms) of a 1-ms-bucket histogram."""
    total = sum(histogram)
    if not total:
        return float("nan")
    threshold = fraction * total
    running = 0
    for bucket, count in enumerate(histogram):
        running += count
        if running >= threshold:
            return float(bucket)
    return float(len(histogram))


async def sleep_until(wall: float) -> None:
    """Sleep until the wall-clock time `wall`."""
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def wait_go(truth: str) -> None:
    """Wait for the orchestrator's `<truth>.go` file: the feed starts after the idle-memory check."""
    while not Path(truth + ".go").exists():
        await asyncio.sleep(0.05)


class Tally:
    """What one client process measured."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.updates = 0
        self.messages = 0
        self.errors = 0
        self.first_error = ""
        self.histogram = [0] * (MAX_LATENCY_MS + 1)
        self.sampled = 0
        self.opened = 0

    def as_dict(self, final: dict[int, dict[int, list[int]]]) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "messages": self.messages,
            "errors": self.errors,
            "first_error": self.first_error,
            "histogram": self.histogram,
            "opened": self.opened,
            "final": {str(stream): {str(k): v for k, v in state.items()} for stream, state in final.items()},
        }
