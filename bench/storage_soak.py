"""Storage soak (issue 15): the whole local mesh on the local engine under minutes of mixed load.

Starts the mesh exactly as ``make up`` does (``python -m trademesh.devstack.up``: Redis, FerretDB on
SQLite with our patches, every service, Envoy), but private: a temporary data directory, free ports, and
FerretDB's debug listener on (``TRADEMESH_FERRETDB_DEBUG_ADDR``) for its Prometheus metrics. Then:

1. registers ``--users`` traders through the auth service and bulk-inserts ``--trades-per-user`` trades
   for each straight into the trade service's collection (``trademesh.trades``, documents built by the
   store's own ``trade_to_document``, as ``bench/trade_bench.py`` does; the trade service's indexes exist
   already, so they are maintained while loading);
2. runs ``--minutes`` of mixed load through the gateway (native gRPC, a bearer token per trader):
   ListTrades first pages and deeper pages (following page tokens), callers that give up after 50 ms
   (ListTrades and GetAnalytics; DEADLINE_EXCEEDED is what they expect and is counted apart, not as an
   error), a 2,000-row generic CSV ImportTrades now and then, CreateTrade, GetAnalytics, and
   SubscribeQuotes streams counting the quotes they receive;
3. every minute, a probe (a ListTrades first page for the first trader, on its own connection, 1 s
   deadline) must answer, and a row of figures is printed: calls, p50/p99 per RPC, errors by status
   code, quotes received, FerretDB's open cursors (``ferretdb_cursors_created_total`` minus the count of
   ``ferretdb_cursors_duration_seconds``, observed when a cursor is removed), its RSS and CPU;
4. after the load it lets in-flight work settle (polls, with a deadline: callers finish, the trade
   service's outbox is published, no cursor is open), probes once more, prints a summary and stops the
   stack with SIGINT, as Ctrl-C would (then checks that no process of the run is left).

Pass criteria (exit code 0 only if all hold): every minute's probe answered within 1 s, no UNAVAILABLE
during the load or after it, no open cursor left once the load has ended, the final probe answered,
no process of the run left after the stack stopped.

    .venv/bin/python bench/storage_soak.py                                   # 100 x 10,000 trades, 10 minutes
    .venv/bin/python bench/storage_soak.py --users 5 --trades-per-user 2000 --minutes 1   # a quick look

Ctrl-C or SIGTERM stops the load and the stack (everything the run started).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import grpc
from grpc import aio
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, period_pb2
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.journal import SYMBOLS, load_journals
from trademesh.devstack.processes import find_free_port, repo_root
from trademesh.devstack.stack import MONGO_DATABASE, free_base_port
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.trade.store import PENDING_FLAG
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc

Document = dict[str, Any]
Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")

PASSWORD = "Correct-Horse-42"
PAGE = 50
MINUTE = 60.0
#: The probe's deadline: the issue's "every minute a probe call must answer within 1 s".
PROBE_DEADLINE_SECONDS = 1.0
#: The deadline of the callers that give up (their calls are abandoned while the services work on them).
ABANDON_DEADLINE_SECONDS = 0.05
#: Deadline of the other unary calls: the gateway's default route timeout.
CALL_DEADLINE_SECONDS = 15.0
#: ImportTrades' deadline: what the contract asks clients to allow.
IMPORT_DEADLINE_SECONDS = 120.0
#: A caller whose call failed waits this long before its next one (a failing mesh must not become a busy loop).
ERROR_PAUSE_SECONDS = 0.2
#: Refresh a trader's access token (they live 15 minutes) when it has less than this left.
TOKEN_MARGIN_SECONDS = 300.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Marks every process of this run (inherited by the launcher's children), to find strays after the stop.
RUN_MARKER = "TRADEMESH_STORAGE_SOAK_RUN"
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.name

LIST_FIRST = "ListTrades first"
LIST_NEXT = "ListTrades next"
LIST_ABANDON = "ListTrades 50ms"
ANALYTICS = "GetAnalytics"
ANALYTICS_ABANDON = "GetAnalytics 50ms"
CREATE = "CreateTrade"
IMPORT = "ImportTrades"
QUOTES = "SubscribeQuotes"
PROBE = "probe"
RPCS = [LIST_FIRST, LIST_NEXT, LIST_ABANDON, ANALYTICS, ANALYTICS_ABANDON, CREATE, IMPORT, QUOTES, PROBE]


# ----------------------------------------------------------------------------------------- the stack


class StackError(RuntimeError):
    """The private stack did not start, or died."""


class DevStack:
    """``python -m trademesh.devstack.up`` on a temporary data directory and free ports, in its own process group."""

    def __init__(self, workdir: Path, start_timeout: float) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "devstack.log"
        self.base_port = free_base_port()
        self.redis_port = find_free_port()
        self.mongo_port = find_free_port()
        self.gateway_port = find_free_port()
        self.gateway_admin_port = find_free_port()
        self.debug_address = f"127.0.0.1:{find_free_port()}"
        self.marker = uuid.uuid4().hex
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def gateway(self) -> str:
        """The gateway's address (gRPC for every service)."""
        return f"127.0.0.1:{self.gateway_port}"

    @property
    def auth(self) -> str:
        """The auth service's own address."""
        return f"127.0.0.1:{self.base_port}"

    @property
    def mongo_url(self) -> str:
        """FerretDB's MongoDB URL."""
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def metrics_url(self) -> str:
        """FerretDB's Prometheus metrics."""
        return f"http://{self.debug_address}/debug/metrics"

    def start(self) -> None:
        """Start the launcher and wait until it prints its summary (everything SERVING)."""
        command = [
            sys.executable, "-m", "trademesh.devstack.up",
            "--data-dir", str(self.data_dir),
            "--base-port", str(self.base_port),
            "--redis-port", str(self.redis_port),
            "--mongo-port", str(self.mongo_port),
            "--gateway-port", str(self.gateway_port),
            "--gateway-admin-port", str(self.gateway_admin_port),
        ]  # fmt: skip
        env = os.environ | {
            "TRADEMESH_FERRETDB_DEBUG_ADDR": self.debug_address,
            RUN_MARKER: self.marker,
        }
        print(f"starting the mesh (data {self.data_dir}, gateway {self.gateway}, log {self.log_path})", flush=True)
        with self.log_path.open("ab") as log:
            # Its own process group: a Ctrl-C reaches only this script, which then stops the launcher,
            # which stops its children in order (services before the databases they use).
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=repo_root(),
                process_group=0,
            )
        deadline = time.monotonic() + self._start_timeout
        while "trademesh dev stack is up" not in self._log_text():
            if self._process.poll() is not None:
                raise StackError(f"the launcher exited ({self._process.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"the mesh was not up within {self._start_timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.5)
        print(f"the mesh is up ({time.monotonic() - deadline + self._start_timeout:.0f}s)", flush=True)

    def alive(self) -> bool:
        """Return True while the launcher runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 240.0) -> None:
        """SIGINT the launcher (it stops every child in order) and wait; SIGKILL only if it hangs."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        print("stopping the mesh (SIGINT to the launcher)", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"the launcher did not stop within {timeout:.0f}s; killing it", flush=True)
            process.kill()
            process.wait()

    def strays(self) -> list[tuple[int, str]]:
        """Processes of this run still alive (pid, command line), found by the marker in their environment."""
        needle = f"{RUN_MARKER}={self.marker}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append((int(entry.name), command.strip()))
            except OSError:
                continue
        return found

    def ferretdb_pid(self) -> int | None:
        """The PID of this stack's FerretDB (found again after a restart by the launcher's supervisor)."""
        needle = f"--state-dir={self.data_dir / 'ferretdb'}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if arguments and arguments[0].endswith(b"ferretdb") and needle in arguments:
                return int(entry.name)
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the launcher's output."""
        return "\n".join(self._log_text().splitlines()[-lines:])

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------- FerretDB observations


@dataclass(frozen=True)
class Sample:
    """FerretDB's state at one moment."""

    pid: int | None
    created: int
    closed: int
    #: Open cursors by (db, collection, type), only those with any open.
    open_by_label: dict[tuple[str, str, str], int]
    rss_bytes: int
    cpu_seconds: float
    moment: float

    @property
    def open(self) -> int:
        """Cursors created and not removed yet."""
        return self.created - self.closed

    def describe_open(self) -> str:
        """``db.collection (type) xN`` for every label set with open cursors."""
        return ", ".join(f"{db}.{coll} ({kind}) x{n}" for (db, coll, kind), n in sorted(self.open_by_label.items()))


def _fetch_metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback http URL of our own
        text: str = response.read().decode()
        return text


def _process_state(pid: int | None) -> tuple[int, float]:
    if pid is None:
        return 0, 0.0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0.0
    rss_kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return rss_kib * 1024, (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def observe(stack: DevStack) -> Sample:
    """Read FerretDB's cursor metrics and its process figures."""
    created: Counter[tuple[str, str, str]] = Counter()
    closed: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(_fetch_metrics(stack.metrics_url)):
        for sample in family.samples:
            label = (sample.labels.get("db", ""), sample.labels.get("collection", ""), sample.labels.get("type", ""))
            if sample.name == "ferretdb_cursors_created_total":
                created[label] += int(sample.value)
            elif sample.name == "ferretdb_cursors_duration_seconds_count":
                closed[label] += int(sample.value)
    pid = stack.ferretdb_pid()
    rss, cpu = _process_state(pid)
    open_by_label = {label: created[label] - closed[label] for label in created if created[label] > closed[label]}
    return Sample(pid, sum(created.values()), sum(closed.values()), open_by_label, rss, cpu, time.monotonic())


# ------------------------------------------------------------------------------------------ figures


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


# ---------------------------------------------------------------------------------- traders and data


@dataclass
class Trader:
    """One registered user and its current tokens."""

    number: int
    username: str
    user_id: str
    access_token: str
    refresh_token: str
    expires_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Traders:
    """The soak's users; hands out a bearer token, refreshed before it expires."""

    def __init__(self, auth: auth_service_pb2_grpc.AuthServiceAsyncStub) -> None:
        self._auth = auth
        self.all: list[Trader] = []
        #: Failed token refreshes and logins, by RPC and status code.
        self.failures: Counter[str] = Counter()

    async def register(self, count: int, concurrency: int = 4) -> None:
        """Register ``count`` users (Register hashes the password: a few at a time)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(number: int) -> Trader:
            username = f"soak_{number:03d}_{uuid.uuid4().hex[:6]}"
            async with gate:
                response = await self._auth.Register(
                    auth_service_pb2.RegisterRequest(
                        email=f"{username}@example.com", username=username, password=PASSWORD
                    ),
                    timeout=60,
                )
            tokens = response.tokens
            return Trader(
                number,
                username,
                response.user.id,
                tokens.access_token,
                tokens.refresh_token,
                _expiry(tokens.access_token_expire_time.ToDatetime(tzinfo=UTC)),
            )

        self.all = list(await asyncio.gather(*(one(number) for number in range(count))))

    async def refresh_all(self) -> None:
        """Fresh access tokens for everyone (before the load: loading may have taken longer than they live)."""
        for trader in self.all:
            if not await self._refresh(trader):
                raise StackError(f"could not refresh the tokens of {trader.username}: {dict(self.failures)}")

    async def metadata(self, trader: Trader) -> Metadata:
        """The call metadata of ``trader``, with a token that has at least a few minutes left if auth can give one."""
        if trader.expires_at - time.monotonic() < TOKEN_MARGIN_SECONDS:
            async with trader.lock:
                if trader.expires_at - time.monotonic() < TOKEN_MARGIN_SECONDS and not await self._refresh(trader):
                    # Keep the old token (its calls fail UNAUTHENTICATED once it expires); try again in 30 s.
                    trader.expires_at = time.monotonic() + TOKEN_MARGIN_SECONDS + 30
        return (("authorization", f"Bearer {trader.access_token}"),)

    async def _refresh(self, trader: Trader) -> bool:
        try:
            refreshed = await self._auth.Refresh(
                auth_service_pb2.RefreshRequest(refresh_token=trader.refresh_token), timeout=30
            )
            tokens = refreshed.tokens
        except aio.AioRpcError as error:
            self.failures[f"Refresh {error.code().name}"] += 1
            try:
                login = await self._auth.Login(
                    auth_service_pb2.LoginRequest(login=trader.username, password=PASSWORD), timeout=30
                )
            except aio.AioRpcError as login_error:
                self.failures[f"Login {login_error.code().name}"] += 1
                return False
            tokens = login.tokens
        trader.access_token = tokens.access_token
        trader.refresh_token = tokens.refresh_token
        trader.expires_at = _expiry(tokens.access_token_expire_time.ToDatetime(tzinfo=UTC))
        return True


def _expiry(moment: datetime) -> float:
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()


def generic_csv(rows: int, tag: str) -> bytes:
    """A generic-CSV file of ``rows`` fills over the last days, each with its own trade id."""
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    lines = ["symbol,exchange,side,quantity,price,trade_time,trade_id"]
    for index in range(rows):
        moment = first + timedelta(minutes=index)
        side = "BUY" if index % 2 == 0 else "SELL"
        lines.append(
            f"{SYMBOLS[index % len(SYMBOLS)]},NSE,{side},{1 + index % 50},{100 + index % 900}.05,"
            f"{moment.isoformat()},{tag}-{index}"
        )
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------------------------- load


class Load:
    """The mixed load's callers, sharing one channel to the gateway."""

    def __init__(self, args: argparse.Namespace, channel: aio.Channel, traders: Traders, figures: Figures) -> None:
        self.args = args
        self.trade = trade_service_pb2_grpc.TradeServiceStub(channel)
        self.analytics = analytics_service_pb2_grpc.AnalyticsServiceStub(channel)
        self.marketdata = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        self.traders = traders
        self.figures = figures
        self.stopping = asyncio.Event()
        #: (trader, page token) pairs seen by the listers, for the callers that give up on deeper pages.
        self.tokens: deque[tuple[Trader, str]] = deque(maxlen=500)
        self.imports: list[tuple[int, int, int]] = []  # rows created, duplicate, failed per import
        self._imports_done = 0

    def workers(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """Every caller of the load except the quote streams."""
        args = self.args
        return (
            [self.lister] * args.listers
            + [self.abandoner] * args.abandoners
            + [self.importer] * args.importers
            + [self.creator] * args.creators
            + [self.analyst] * args.analysts
        )

    async def _call(self, rpc: str, call: Awaitable[T], abandoning: bool = False) -> T | None:
        started = time.perf_counter()
        try:
            result = await call
        except aio.AioRpcError as error:
            if abandoning and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                self.figures.abandoned(rpc)
            else:
                self.figures.failed(rpc, error.code())
                await self._pause(ERROR_PAUSE_SECONDS)
            return None
        self.figures.ok(rpc, time.perf_counter() - started)
        return result

    def _someone(self) -> Trader:
        return random.choice(self.traders.all)

    async def _list(self, trader: Trader, token: str, rpc: str, deadline: float) -> str | None:
        request = trade_service_pb2.ListTradesRequest(page_size=PAGE, page_token=token)
        metadata = await self.traders.metadata(trader)
        call = self.trade.ListTrades(request, metadata=metadata, timeout=deadline)
        response = await self._call(rpc, call, abandoning=deadline == ABANDON_DEADLINE_SECONDS)
        return None if response is None else response.next_page_token

    async def lister(self) -> None:
        """A first page of a random trader, then up to ``--max-depth`` further pages."""
        while not self.stopping.is_set():
            trader = self._someone()
            token = await self._list(trader, "", LIST_FIRST, CALL_DEADLINE_SECONDS)
            for _ in range(random.randint(0, self.args.max_depth)):
                if not token or self.stopping.is_set():
                    break
                self.tokens.append((trader, token))
                token = await self._list(trader, token, LIST_NEXT, CALL_DEADLINE_SECONDS)

    async def abandoner(self) -> None:
        """ListTrades (first or deeper pages) and GetAnalytics with a 50 ms deadline, a few a second."""
        while not self.stopping.is_set():
            choice = random.random()
            if choice < 0.35:
                await self._list(self._someone(), "", LIST_ABANDON, ABANDON_DEADLINE_SECONDS)
            elif choice < 0.7 and self.tokens:
                trader, token = random.choice(self.tokens)
                await self._list(trader, token, LIST_ABANDON, ABANDON_DEADLINE_SECONDS)
            else:
                await self._analytics(ANALYTICS_ABANDON, ABANDON_DEADLINE_SECONDS)
            await self._pause(random.uniform(0.05, 0.25))

    async def importer(self) -> None:
        """An ImportTrades of a ``--import-rows`` generic CSV every ``--import-every`` seconds."""
        while not self.stopping.is_set():
            started = time.monotonic()
            trader = self.traders.all[self._imports_done % len(self.traders.all)]
            self._imports_done += 1
            request = trade_service_pb2.ImportTradesRequest(
                request_id=str(uuid.uuid4()),
                format=import_pb2.IMPORT_FORMAT_GENERIC_CSV,
                content=generic_csv(self.args.import_rows, uuid.uuid4().hex[:12]),
                file_name="soak.csv",
            )
            metadata = await self.traders.metadata(trader)
            call = self.trade.ImportTrades(request, metadata=metadata, timeout=IMPORT_DEADLINE_SECONDS)
            response = await self._call(IMPORT, call)
            if response is not None:
                self.imports.append((response.rows_created, response.rows_duplicate, response.rows_failed))
            await self._pause(self.args.import_every - (time.monotonic() - started))

    async def creator(self) -> None:
        """CreateTrade for random traders, one after the other."""
        while not self.stopping.is_set():
            trader = self._someone()
            item = trade_pb2.Trade(
                instrument=instrument_pb2.Instrument(
                    symbol=random.choice(SYMBOLS), exchange=instrument_pb2.EXCHANGE_NSE
                ),
                side=random.choice([trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL]),
                quantity_micros=random.randint(1, 50) * 1_000_000,
                price_micros=random.randint(100, 1000) * 1_000_000 + 50_000,
                category=trade_pb2.TRADE_CATEGORY_SWING,
            )
            item.trade_time.FromDatetime(datetime.now(UTC) - timedelta(minutes=random.randint(1, 60 * 24 * 30)))
            request = trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=item)
            metadata = await self.traders.metadata(trader)
            await self._call(CREATE, self.trade.CreateTrade(request, metadata=metadata, timeout=CALL_DEADLINE_SECONDS))

    async def _analytics(self, rpc: str, deadline: float) -> None:
        trader = self._someone()
        period = random.choice([period_pb2.PERIOD_ALL_TIME, period_pb2.PERIOD_ALL_TIME, period_pb2.PERIOD_MONTHLY])
        request = analytics_service_pb2.GetAnalyticsRequest(
            period=period, include_equity_curve=random.random() < 0.3, include_daily_pnl=random.random() < 0.2
        )
        metadata = await self.traders.metadata(trader)
        call = self.analytics.GetAnalytics(request, metadata=metadata, timeout=deadline)
        await self._call(rpc, call, abandoning=deadline == ABANDON_DEADLINE_SECONDS)

    async def analyst(self) -> None:
        """GetAnalytics for random traders, one after the other."""
        while not self.stopping.is_set():
            await self._analytics(ANALYTICS, CALL_DEADLINE_SECONDS)

    async def quotes(self, number: int) -> None:
        """A SubscribeQuotes stream, counting quotes; reopened if it ends before the load does."""
        instruments = [instrument_pb2.Instrument(symbol=s, exchange=instrument_pb2.EXCHANGE_NSE) for s in SYMBOLS]
        while not self.stopping.is_set():
            trader = self.traders.all[number % len(self.traders.all)]
            request = marketdata_service_pb2.SubscribeQuotesRequest(instruments=instruments)
            call = self.marketdata.SubscribeQuotes(request, metadata=await self.traders.metadata(trader))
            stop = asyncio.ensure_future(self.stopping.wait())
            try:
                async for response in call:
                    bucket = self.figures.current()
                    bucket.stream_messages += 1
                    if response.WhichOneof("event") == "batch":
                        bucket.quotes += len(response.batch.quotes)
                    if stop.done():
                        break
                else:
                    self.figures.failed(QUOTES, grpc.StatusCode.OK)  # ended by the server while the load ran
            except aio.AioRpcError as error:
                self.figures.failed(QUOTES, error.code())
            finally:
                call.cancel()
                stop.cancel()
            await self._pause(1.0)

    async def _pause(self, seconds: float) -> None:
        # Ends at once when the load stops.
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)


async def probe(channel: aio.Channel, traders: Traders) -> Probe:
    """ListTrades' first page for the first trader, with a 1 s deadline."""
    stub = trade_service_pb2_grpc.TradeServiceStub(channel)
    metadata = await traders.metadata(traders.all[0])
    started = time.perf_counter()
    try:
        request = trade_service_pb2.ListTradesRequest(page_size=PAGE)
        await stub.ListTrades(request, metadata=metadata, timeout=PROBE_DEADLINE_SECONDS)
    except aio.AioRpcError as error:
        return Probe(False, time.perf_counter() - started, error.code().name)
    seconds = time.perf_counter() - started
    return Probe(seconds <= PROBE_DEADLINE_SECONDS, seconds, "OK")


# --------------------------------------------------------------------------------------------- soak


@dataclass
class Outcome:
    """What the summary judges."""

    settled: bool = False
    settle_seconds: float = 0.0
    pending_events: int = -1
    after: Sample | None = None
    final_probe: Probe | None = None
    stragglers: int = 0
    #: Errors of the outbox count while settling, by message.
    settle_errors: Counter[str] = field(default_factory=Counter)


async def _observe(stack: DevStack) -> Sample:
    return await asyncio.to_thread(observe, stack)


async def _minute_reporter(stack: DevStack, figures: Figures, probes: aio.Channel, traders: Traders) -> None:
    previous = await _observe(stack)
    client_cpu = time.process_time()
    for index in range(figures.minutes):
        begin = figures.started + index * MINUTE
        await asyncio.sleep(max(0.0, begin + MINUTE / 2 - time.monotonic()))
        bucket = figures.buckets[index]
        bucket.probe = result = await probe(probes, traders)
        if result.ok:
            figures.ok(PROBE, result.seconds)
        else:  # a late OK counts as DEADLINE_EXCEEDED: the 1 s had passed
            figures.failed(
                PROBE, grpc.StatusCode[result.code] if result.code != "OK" else grpc.StatusCode.DEADLINE_EXCEEDED
            )
        await asyncio.sleep(max(0.0, begin + MINUTE - time.monotonic()))
        sample = await _observe(stack)
        bucket.sample = sample
        wall = sample.moment - previous.moment
        if sample.pid == previous.pid and wall > 0:
            bucket.cpu_percent = 100 * (sample.cpu_seconds - previous.cpu_seconds) / wall
        now_cpu = time.process_time()
        bucket.client_cpu_percent = 100 * (now_cpu - client_cpu) / max(wall, 1e-9)
        client_cpu = now_cpu
        print(minute_headline(index + 1, bucket, previous), flush=True)
        for line in rpc_table(bucket, MINUTE):
            print(line, flush=True)
        previous = sample
        if not stack.alive():
            raise StackError(f"the launcher exited during the load:\n{stack.log_tail()}")


async def _settle(stack: DevStack, trades: AsyncCollection[Document], limit: float, outcome: Outcome) -> None:
    """Poll until no cursor is open and the outbox is published (three polls in a row), or ``limit`` passes."""
    started = time.monotonic()
    quiet = 0
    while True:
        try:
            outcome.pending_events = await trades.count_documents({PENDING_FLAG: True})
        except PyMongoError as error:  # the database failing here is a finding, not the end of the report
            outcome.pending_events = -1
            outcome.settle_errors[str(error).split(", full error")[0][-80:]] += 1
        # After the count: its own cursor is closed by the time it answers.
        outcome.after = await _observe(stack)
        quiet = quiet + 1 if outcome.pending_events == 0 and outcome.after.open == 0 else 0
        outcome.settle_seconds = time.monotonic() - started
        if quiet >= 3:
            outcome.settled = True
            return
        if outcome.settle_seconds > limit:
            return
        await asyncio.sleep(0.5)


async def soak(stack: DevStack, args: argparse.Namespace) -> int:
    """Register, load, run the mixed load, settle, report; return the exit code."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # SIGTERM ends like Ctrl-C
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    auth_channel = aio.insecure_channel(stack.auth)
    channel = aio.insecure_channel(stack.gateway, options=options)
    probe_channel = aio.insecure_channel(stack.gateway)
    tasks: list[asyncio.Task[None]] = []
    try:
        trades = mongo[MONGO_DATABASE].trades
        traders = Traders(auth_service_pb2_grpc.AuthServiceStub(auth_channel))
        started = time.perf_counter()
        await traders.register(args.users)
        print(f"registered {args.users} users in {time.perf_counter() - started:.1f}s", flush=True)

        total = args.users * args.trades_per_user
        print(f"loading {total:,} trades ({args.users} users x {args.trades_per_user:,}) into {MONGO_DATABASE}.trades")
        started = time.perf_counter()
        loaded = await load_journals(
            trades, "soak", [t.user_id for t in traders.all], args.trades_per_user, args.load_workers
        )
        load_seconds = time.perf_counter() - started
        print(f"  loaded {loaded:,} in {load_seconds:.1f}s ({loaded / load_seconds:,.0f} docs/s)", flush=True)
        await traders.refresh_all()

        before = await _observe(stack)
        print(
            f"before the load: open cursors {before.open}, FerretDB RSS {before.rss_bytes / 2**20:,.0f} MiB; "
            f"{args.minutes} minutes of load through the gateway {stack.gateway}",
            flush=True,
        )
        figures = Figures(args.minutes)
        load_ = Load(args, channel, traders, figures)
        workers = [asyncio.create_task(worker()) for worker in load_.workers()]
        streams = [asyncio.create_task(load_.quotes(number)) for number in range(args.streams)]
        tasks += workers + streams
        await _minute_reporter(stack, figures, probe_channel, traders)

        # ---- after the load: let in-flight work finish, then check what is left
        outcome = Outcome()
        load_.stopping.set()
        print(f"load over; waiting (at most {args.drain_seconds:.0f}s) for the callers' last calls", flush=True)
        await asyncio.wait(streams, timeout=30)
        _, pending = await asyncio.wait(workers, timeout=args.drain_seconds)
        outcome.stragglers = len(pending)
        for straggler in pending:
            straggler.cancel()
        await asyncio.gather(*workers, *streams, return_exceptions=True)
        await _settle(stack, trades, args.settle_seconds, outcome)
        outcome.final_probe = await probe(probe_channel, traders)
        return summary(figures, load_, outcome, before)
    finally:
        # Interrupted: the callers end before the channels they use close.
        for running in tasks:
            running.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for closing in (channel, probe_channel, auth_channel):
            await closing.close()
        await mongo.close()


def summary(figures: Figures, load_: Load, outcome: Outcome, before: Sample) -> int:
    """Print the per-minute table, the per-RPC totals and the verdicts; return the exit code."""
    print()
    print("per minute")
    print(
        f"  {'min':>3} {'calls ok':>9} {'abandoned':>9} {'errors':>6} {'UNAVAIL':>7} {'probe':>12} "
        f"{'open cursors':>12} {'created':>8} {'RSS MiB':>8} {'CPU %':>6} {'quotes':>8}"
    )
    previous = before
    for index, bucket in enumerate(figures.buckets[: figures.minutes]):
        probe_text = (
            "-"
            if bucket.probe is None
            else (f"PASS {bucket.probe.seconds * 1000:.0f}ms" if bucket.probe.ok else f"FAIL {bucket.probe.code[:7]}")
        )
        sample = bucket.sample
        created = (
            "-" if sample is None else f"{sample.created - (previous.created if previous.pid == sample.pid else 0):,}"
        )
        print(
            f"  {index + 1:>3} {bucket.ok_calls():>9,} {sum(bucket.abandoned.values()):>9,} "
            f"{bucket.error_count():>6,} {bucket.error_count(UNAVAILABLE):>7,} "
            f"{probe_text:>12} {('-' if sample is None else sample.open):>12} {created:>8} "
            f"{('-' if sample is None else f'{sample.rss_bytes / 2**20:,.0f}'):>8} {bucket.cpu_percent:>6.0f} "
            f"{bucket.quotes:>8,}"
        )
        previous = sample or previous
    drain = figures.drain
    print(
        f"  after the load: {drain.ok_calls():,} calls ok, {sum(drain.abandoned.values()):,} abandoned, "
        f"{drain.error_count():,} errors ({drain.error_count(UNAVAILABLE)} UNAVAILABLE)"
    )

    total = figures.total()
    print()
    print(f"per RPC, the whole run ({figures.minutes} min)")
    for line in rpc_table(total, figures.minutes * MINUTE):
        print(line)
    if load_.imports:
        imported = sum(row[0] for row in load_.imports)
        failed = sum(row[2] for row in load_.imports)
        print(f"  imports: {len(load_.imports)} done, {imported:,} trades created, {failed:,} rows failed")
    by_code: Counter[str] = Counter()
    for (_, code), n in total.errors.items():
        by_code[code] += n
    if by_code:
        print(f"  errors by code: {', '.join(f'{code} x{n}' for code, n in sorted(by_code.items()))}")

    probes = [bucket.probe for bucket in figures.buckets[: figures.minutes]]
    passed = sum(1 for p in probes if p is not None and p.ok)
    unavailable = total.error_count(UNAVAILABLE)
    after = outcome.after
    open_after = after.open if after is not None else -1
    final = outcome.final_probe
    verdicts = [
        (f"probe answered within 1 s every minute ({passed}/{figures.minutes})", passed == figures.minutes),
        (f"UNAVAILABLE during and after the load: {unavailable}", unavailable == 0),
        (
            f"open cursors after the load: {open_after}"
            + (f" [{after.describe_open()}]" if after is not None and after.open else "")
            + f" (none of ours is live: the quote streams closed first; polled {outcome.settle_seconds:.1f}s)",
            open_after == 0,
        ),
        (
            "final probe: " + ("-" if final is None else f"{final.code} in {final.seconds * 1000:.0f} ms"),
            final is not None and final.ok,
        ),
    ]
    print()
    print("criteria")
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL':<4}  {text}")
    # Reported, not judged: the criteria are the four above.
    others = sum(n for code, n in by_code.items() if code != UNAVAILABLE)
    if others:
        listed = ", ".join(f"{code} x{n}" for code, n in sorted(by_code.items()) if code != UNAVAILABLE)
        print(f"  WARN  {others:,} other failed calls ({listed}); see the services' logs")
    if outcome.pending_events > 0:
        print(
            f"  WARN  {outcome.pending_events} trades still held unpublished events after "
            f"{outcome.settle_seconds:.0f}s (the trade service's outbox)"
        )
    if load_.traders.failures:
        failures = ", ".join(f"{name} x{n}" for name, n in sorted(load_.traders.failures.items()))
        print(f"  WARN  token refreshes failed (auth service, direct): {failures}")
    for message, n in outcome.settle_errors.items():
        print(f"  WARN  counting the outbox after the load failed x{n}: ...{message}")
    if outcome.stragglers:
        print(f"  note  {outcome.stragglers} caller(s) were still in a call after the drain limit and were cancelled")
    if after is not None:
        print(
            f"  note  FerretDB after the load: RSS {after.rss_bytes / 2**20:,.0f} MiB "
            f"(before {before.rss_bytes / 2**20:,.0f}); cursors created {after.created:,}, closed {after.closed:,}"
        )
    return 0 if all(ok for _, ok in verdicts) else 1


# --------------------------------------------------------------------------------------------- main


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100, help="users registered and loaded (default 100)")
    parser.add_argument("--trades-per-user", type=int, default=10_000, help="trades loaded per user (default 10,000)")
    parser.add_argument("--minutes", type=int, default=10, help="minutes of mixed load (default 10)")
    parser.add_argument("--listers", type=int, default=6, help="ListTrades callers (first and deeper pages)")
    parser.add_argument("--max-depth", type=int, default=10, help="further pages a lister follows at most")
    parser.add_argument("--abandoners", type=int, default=4, help="callers with a 50 ms deadline")
    parser.add_argument("--importers", type=int, default=1, help="ImportTrades callers")
    parser.add_argument("--import-rows", type=int, default=2000, help="rows of each imported generic CSV")
    parser.add_argument("--import-every", type=float, default=30.0, help="seconds between an importer's imports")
    parser.add_argument("--creators", type=int, default=2, help="CreateTrade callers")
    parser.add_argument("--analysts", type=int, default=2, help="GetAnalytics callers")
    parser.add_argument("--streams", type=int, default=2, help="SubscribeQuotes streams")
    parser.add_argument("--load-workers", type=int, default=2, help="concurrent insert_many calls while loading")
    parser.add_argument("--drain-seconds", type=float, default=150.0, help="how long the last calls may take")
    parser.add_argument("--settle-seconds", type=float, default=120.0, help="how long to wait for zero open cursors")
    parser.add_argument(
        "--keep-data", action="store_true", help="keep FerretDB's files (GBs at full size); the logs are always kept"
    )
    parser.add_argument("--start-timeout", type=float, default=300.0, help="how long the mesh may take to start")
    args = parser.parse_args()
    if args.users < 1 or args.trades_per_user < 0 or args.minutes < 1:
        parser.error("need at least 1 user and 1 minute")
    return args


def main() -> None:
    """Start the mesh, soak it, stop it; exit 0 only if every criterion passed."""
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # until the event loop runs: SIGTERM ends like Ctrl-C
    stack = DevStack(Path(tempfile.mkdtemp(prefix="storage-soak-")), args.start_timeout)
    code = 1
    try:
        stack.start()
        code = asyncio.run(soak(stack, args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted", flush=True)
        code = 130
    except StackError as error:
        print(f"error: {error}", flush=True)
    except Exception:
        traceback.print_exc()
        print("error: the soak failed (traceback above)", flush=True)
    finally:
        # A second Ctrl-C must not leave the stack half stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    strays = stack.strays()
    if strays:
        print(f"FAIL  {len(strays)} process(es) of this run left after the stop (killed now):")
        for pid, command in strays:
            print(f"        {pid} {command[:150]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = code or 1
    else:
        print("PASS  no process of this run left after the stop")
    if not args.keep_data:
        for database in (stack.data_dir / "ferretdb").glob("*.sqlite*"):  # ferretdb.log stays
            database.unlink(missing_ok=True)
    print(f"logs: {stack.data_dir / 'logs'} and {stack.log_path}" + ("" if args.keep_data else " (database removed)"))
    sys.exit(code)


if __name__ == "__main__":
    main()
