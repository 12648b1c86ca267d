"""Timing: samples of a call, percentiles, throughput at a concurrency, CPU and idleness of a process."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _wait_idle(pid: int, limit_seconds: float = 3600.0) -> float:
    """Wait until the database process has used < 5% of a core for 3 s in a row; return the wait.

    The trade service starts with an outbox-relay sweep and a purge pass (both served by indexes
    now: the wait says what a restart costs), which would otherwise run under the figures.
    """
    started = time.perf_counter()
    quiet = 0
    last = _cpu_seconds(pid)
    while quiet < 3 and time.perf_counter() - started < limit_seconds:
        await asyncio.sleep(1.0)
        now = _cpu_seconds(pid)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return time.perf_counter() - started


async def _timed(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _row(name: str, service: list[float], direct: list[float]) -> str:
    s50, s99 = statistics.median(service), _percentile(service, 0.99)
    d50, d99 = statistics.median(direct), _percentile(direct, 0.99)
    # issue 15's target: service p99 <= 50 ms and <= 1.5x the same query through the driver
    verdict = "PASS" if s99 <= 50 and s99 <= 1.5 * d99 else "FAIL"
    return f"{name:<30} {s50:>10.1f} {s99:>10.1f} {d50:>10.1f} {d99:>10.1f} {s99 / d99:>9.2f}x {verdict:>6}"


async def _throughput(operation: Callable[[int], Awaitable[Any]], total: int, concurrency: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await operation(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


class CpuMeter:
    """CPU seconds used from its creation to `stop` by this process (`time.process_time`) and by the named
    processes (by pid), shown as milliseconds per call."""

    def __init__(self, processes: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in processes.items() if pid is not None}
        self._start = self._read()
        self._per_call: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {"this process": time.process_time()} | {name: _cpu_seconds(pid) for name, pid in self._pids.items()}

    def stop(self, calls: int) -> None:
        end = self._read()
        self._per_call = {name: (end[name] - self._start[name]) * 1000 / calls for name in end}

    def __str__(self) -> str:
        return ", ".join(f"{name} {ms:.2f}" for name, ms in self._per_call.items())
