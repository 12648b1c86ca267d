"""The variants, limits and timings the roles share, and a client's result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
VARIANTS = ("bare", "runtime", "runtime+tracing")
TARGET_RATIO = 0.5
CALL_TIMEOUT_SECONDS = 10.0
SERVER_READY_SECONDS = 60.0
SERVER_STOP_SECONDS = 15.0
BENCH_PASSWORD = "Bench-Horse-Battery-42"
DESCRIPTIONS = {
    "bare": "bare grpc.aio (no interceptors)",
    "runtime": "runtime, auth, tracing off (default)",
    "runtime+tracing": "runtime, auth, tracing on (spans dropped)",
    "login": "auth service Login (argon2id)",
}


@dataclass(frozen=True)
class ClientResult:
    """What one client run measured over its measurement window."""

    variant: str
    concurrency: int
    seconds: float
    calls: int
    errors: int
    first_error: str | None
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_us_per_call: float | None
    server_cpu_us_per_call: float | None
    client_cpu_percent: float
    server_cpu_percent: float | None


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def process_cpu_seconds(pid: int) -> float | None:
    """Return user+system CPU seconds of process `pid` from /proc (None where unavailable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, so utime (14) and stime (15) are at indices 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
