"""Counting the calls: per-minute buckets, percentiles, the per-minute table and headline."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import grpc

from bench.storage_soak.common import MINUTE, PROBE, QUOTES, RPCS, UNAVAILABLE
from bench.storage_soak.stack import Sample


@dataclass(frozen=True)
class Probe:
    """One probe call."""

    ok: bool
    seconds: float
    code: str


@dataclass
class Bucket:
    """What happened in one minute of the load (or after it: the drain bucket)."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    abandoned: Counter[str] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    quotes: int = 0
    stream_messages: int = 0
    probe: Probe | None = None
    sample: Sample | None = None
    cpu_percent: float = 0.0
    client_cpu_percent: float = 0.0

    def ok_calls(self) -> int:
        """Calls answered OK (the probe excluded)."""
        return sum(len(values) for rpc, values in self.latencies.items() if rpc != PROBE)

    def error_count(self, code: str | None = None) -> int:
        """Failed calls, of one status code or of any."""
        return sum(n for (_, c), n in self.errors.items() if code is None or c == code)

    def merge(self, other: Bucket) -> None:
        """Add another bucket's calls to this one."""
        for rpc, values in other.latencies.items():
            self.latencies[rpc].extend(values)
        self.abandoned.update(other.abandoned)
        self.errors.update(other.errors)
        self.quotes += other.quotes
        self.stream_messages += other.stream_messages


class Figures:
    """Per-minute buckets; a call counts in the minute it ended in, anything after the load in the drain bucket."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self.buckets = [Bucket() for _ in range(minutes + 1)]
        self.started = time.monotonic()

    @property
    def drain(self) -> Bucket:
        """Calls that ended after the load window."""
        return self.buckets[self.minutes]

    def current(self) -> Bucket:
        """The bucket of now."""
        return self.buckets[min(self.minutes, int((time.monotonic() - self.started) // MINUTE))]

    def ok(self, rpc: str, seconds: float) -> None:
        """Record an OK call."""
        self.current().latencies[rpc].append(seconds * 1000)

    def failed(self, rpc: str, code: grpc.StatusCode) -> None:
        """Record a failed call."""
        self.current().errors[(rpc, code.name)] += 1

    def abandoned(self, rpc: str) -> None:
        """Record a call that hit its 50 ms deadline, as its caller wanted."""
        self.current().abandoned[rpc] += 1

    def total(self) -> Bucket:
        """Every call of the run."""
        whole = Bucket()
        for bucket in self.buckets:
            whole.merge(bucket)
        return whole


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _errors_text(bucket: Bucket, rpc: str) -> str:
    parts = [f"{code} x{n}" for (name, code), n in sorted(bucket.errors.items()) if name == rpc]
    return ", ".join(parts) or "-"


def rpc_table(bucket: Bucket, seconds: float, indent: str = "  ") -> list[str]:
    """One line per RPC: OK calls, rate, latency percentiles, abandoned calls, errors by code."""
    header = f"{'rpc':<18} {'ok':>7} {'ok/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'abandoned':>9}  errors"
    lines = [indent + header]
    for rpc in RPCS:
        values = bucket.latencies.get(rpc, [])
        abandoned = bucket.abandoned.get(rpc, 0)
        errors = _errors_text(bucket, rpc)
        if rpc == QUOTES:
            received = f"quotes {bucket.quotes:,} in {bucket.stream_messages:,} messages"
            lines.append(indent + f"{rpc:<18} {received:>59}  {errors}")
            continue
        if not values and not abandoned and errors == "-":
            continue
        if values:
            figures = f"{percentile(values, 0.5):>8.1f} {percentile(values, 0.99):>8.1f} {max(values):>8.1f}"
        else:
            figures = f"{'-':>8} {'-':>8} {'-':>8}"
        lines.append(
            indent
            + f"{rpc:<18} {len(values):>7,} {len(values) / seconds:>7.1f} {figures} {abandoned or '-':>9}  {errors}"
        )
    return lines


def minute_headline(number: int, bucket: Bucket, previous: Sample | None) -> str:
    """The minute's one-line verdict: probe, UNAVAILABLE, cursors, FerretDB."""
    probe = bucket.probe
    if probe is None:
        probe_text = "probe MISSING"
    elif probe.ok:
        probe_text = f"probe PASS {probe.seconds * 1000:.0f} ms"
    else:
        probe_text = f"probe FAIL ({probe.code} after {probe.seconds * 1000:.0f} ms)"
    unavailable = bucket.error_count(UNAVAILABLE)
    parts = [f"minute {number}", probe_text, f"UNAVAILABLE {unavailable}" + (" <<<" if unavailable else "")]
    sample = bucket.sample
    if sample is not None:
        created = sample.created - (previous.created if previous and previous.pid == sample.pid else 0)
        closed = sample.closed - (previous.closed if previous and previous.pid == sample.pid else 0)
        parts.append(f"open cursors {sample.open} (+{created:,} created, -{closed:,} closed)")
        parts.append(f"FerretDB RSS {sample.rss_bytes / 2**20:,.0f} MiB CPU {bucket.cpu_percent:.0f} %")
        if previous is not None and previous.pid != sample.pid:
            parts.append(f"FerretDB RESTARTED (pid {previous.pid} -> {sample.pid}) <<<")
    parts.append(f"quotes {bucket.quotes:,}")
    parts.append(f"client CPU {bucket.client_cpu_percent:.0f} %")
    return " | ".join(parts)
