"""What the shared service runtime costs: a bare grpc.aio Echo against the same Echo behind the full chain.

Run `make bench` (or `.venv/bin/python bench/runtime_overhead.py --help`). The script is its own
orchestrator: it starts Redis and FerretDB (`trademesh.devstack.processes`), then, one variant at a
time, a server process and a client process (this same script with `--role server` / `--role client`),
and prints a table. Everything binds 127.0.0.1, every loop is bounded in time, and every child is
stopped on the way out. It is a report, not a test: the exit code is 0 whatever the verdict.

Variants (each in its own server process; the client is the same for all):
- `bare`: `grpc.aio.server()` without interceptors, Echo on raw bytes.
- `runtime`: the same Echo through `start_server` (tracing → access log → errors → auth), called with a
  real EdDSA bearer token, verified against a real `RevocationList` fed by Redis; JSON access log at
  INFO written to /dev/null; tracing exporter "none" (the production default).
- `runtime+tracing`: as `runtime`, plus an OpenTelemetry SDK tracer provider with a
  `BatchSpanProcessor` around an exporter that drops spans, so span creation is paid for real.
- `login`: the real auth service (`build_auth_server`) on Redis + FerretDB; callers log in as one user.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import grpc
from argon2 import PasswordHasher
from grpc import aio
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.keys import KeyRing, write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.connections import build_redis
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import ServiceRegistration, build_verifier, start_server, termination_requested
from trademesh.services.core.settings import CoreSettings
from trademesh.services.core.tokens import StaticKeySource

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


# --------------------------------------------------------------------------------------------- results


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


# ---------------------------------------------------------------------------------------------- client


def build_call(channel: aio.Channel, args: argparse.Namespace) -> Callable[[], Awaitable[object]]:
    """Return a zero-argument coroutine factory making one call of the benchmarked kind."""
    if args.call == "login":
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        request = auth_service_pb2.LoginRequest(login=args.login_user, password=BENCH_PASSWORD)

        def login() -> Awaitable[object]:
            return stub.Login(request, timeout=CALL_TIMEOUT_SECONDS)

        return login

    echo: aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(ECHO_METHOD)
    payload = b"\xab" * args.payload_bytes
    metadata = aio.Metadata(("authorization", f"Bearer {args.token}"))

    def call() -> Awaitable[object]:
        return echo(payload, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)

    return call


async def register_user(channel: aio.Channel, username: str) -> None:
    """Create the user the Login benchmark logs in as."""
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    await stub.Register(
        auth_service_pb2.RegisterRequest(email=f"{username}@example.com", username=username, password=BENCH_PASSWORD),
        timeout=CALL_TIMEOUT_SECONDS * 3,
    )


async def run_client(args: argparse.Namespace) -> ClientResult:
    """Drive `concurrency` callers for warm-up + measurement; keep latencies finished inside the window."""
    async with aio.insecure_channel(args.target) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=SERVER_READY_SECONDS)
        if args.call == "login":
            await register_user(channel, args.login_user)
        call = build_call(channel, args)
        start = time.perf_counter_ns()
        window_start = start + int(args.warmup * 1e9)
        window_end = window_start + int(args.seconds * 1e9)
        latencies: list[int] = []
        errors: list[str] = []
        cpu: dict[str, float | None] = {}

        async def caller() -> None:
            while True:
                began = time.perf_counter_ns()
                if began >= window_end:
                    return
                try:
                    await call()
                except grpc.RpcError as error:
                    errors.append(
                        f"{error.code().name}: {error.details()}" if isinstance(error, aio.AioRpcError) else repr(error)
                    )
                    await asyncio.sleep(0.01)  # a failing server must not turn this into a busy loop
                    continue
                ended = time.perf_counter_ns()
                if window_start <= ended <= window_end:
                    latencies.append(ended - began)

        async def sample_cpu() -> None:
            await asyncio.sleep(max(0.0, (window_start - time.perf_counter_ns()) / 1e9))
            cpu["client_start"] = time.process_time()
            cpu["server_start"] = process_cpu_seconds(args.server_pid)
            await asyncio.sleep(max(0.0, (window_end - time.perf_counter_ns()) / 1e9))
            cpu["client_end"] = time.process_time()
            cpu["server_end"] = process_cpu_seconds(args.server_pid)

        tasks = [asyncio.create_task(caller()) for _ in range(args.concurrency)]
        tasks.append(asyncio.create_task(sample_cpu()))
        # Bounded: callers stop issuing at window_end; one call can take at most CALL_TIMEOUT_SECONDS more.
        _, pending = await asyncio.wait(tasks, timeout=args.warmup + args.seconds + CALL_TIMEOUT_SECONDS + 5)
        for task in pending:
            task.cancel()

    latencies.sort()
    calls = len(latencies)
    client_cpu = _delta(cpu.get("client_start"), cpu.get("client_end"))
    server_cpu = _delta(cpu.get("server_start"), cpu.get("server_end"))
    return ClientResult(
        variant=args.variant,
        concurrency=args.concurrency,
        seconds=args.seconds,
        calls=calls,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        requests_per_second=calls / args.seconds,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p90_ms=percentile(latencies, 0.90) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        max_ms=(latencies[-1] / 1e6) if latencies else 0.0,
        client_cpu_us_per_call=(client_cpu / calls * 1e6) if client_cpu is not None and calls else None,
        server_cpu_us_per_call=(server_cpu / calls * 1e6) if server_cpu is not None and calls else None,
        client_cpu_percent=100 * (client_cpu or 0.0) / args.seconds,
        server_cpu_percent=(100 * server_cpu / args.seconds) if server_cpu is not None else None,
    )


def _delta(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


# ---------------------------------------------------------------------------------------------- server


async def echo(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    """The benchmarked method: return the request bytes."""
    return request


def echo_handler() -> grpc.GenericRpcHandler:
    """Echo as a generic handler with identity (raw bytes) serializers."""
    return grpc.method_handlers_generic_handler(
        ECHO_SERVICE,
        {"Echo": grpc.unary_unary_rpc_method_handler(echo)},
    )


class DroppingSpanExporter(SpanExporter):
    """A span exporter that accepts and discards every batch (so spans are made, never sent)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def quiet_production_logging(service: str, sink: IO[str]) -> None:
    """Log as production does (JSON lines at INFO, formatting included) but into `sink` (/dev/null)."""
    configure_logging("INFO", "json", service)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


async def wait_for_stop(max_seconds: float) -> None:
    """Return on SIGTERM/SIGINT, when the parent process goes away, or after `max_seconds`."""
    loop = asyncio.get_running_loop()
    stop = termination_requested()
    parent = os.getppid()
    deadline = loop.time() + max_seconds
    while not stop.is_set() and loop.time() < deadline and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def announce(port: int) -> None:
    """Tell the orchestrator (reading stdout) that the server is ready and where."""
    sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()


async def run_bare_server(args: argparse.Namespace) -> None:
    server = aio.server()
    server.add_generic_rpc_handlers((echo_handler(),))
    port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    announce(port)
    await wait_for_stop(args.max_seconds)
    await server.stop(1.0)


async def run_runtime_server(args: argparse.Namespace) -> None:
    settings = CoreSettings(service_name="bench", grpc_host=HOST, grpc_port=0, redis_url=args.redis_url)
    provider = None
    if args.variant == "runtime+tracing":
        provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        provider.add_span_processor(BatchSpanProcessor(DroppingSpanExporter()))
        trace.set_tracer_provider(provider)

    keyring = KeyRing.from_files([Path(args.key_file)])
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    verifier = build_verifier(settings, StaticKeySource(keyring.public_keys()), revocations)
    handler = echo_handler()
    registration = ServiceRegistration(
        name=ECHO_SERVICE, add_to_server=lambda server: server.add_generic_rpc_handlers((handler,)), public_methods=()
    )
    host = await start_server(settings, [registration], verifier)
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.on_stop(redis.aclose)
    announce(host.port)
    await wait_for_stop(args.max_seconds)
    await host.stop(1.0)
    if provider is not None:
        provider.shutdown()


async def run_auth_server(args: argparse.Namespace) -> None:
    settings = AuthSettings(
        grpc_host=HOST,
        grpc_port=0,
        mongo_url=args.mongo_url,
        mongo_database=f"bench_{uuid.uuid4().hex[:8]}",
        redis_url=args.redis_url,
        signing_key_files=args.key_file,
        login_max_failures_per_account=1_000_000,
        login_max_failures_per_address=1_000_000,
    )
    host = await build_auth_server(settings)
    announce(host.port)
    await wait_for_stop(args.max_seconds)
    await host.stop(1.0)


# ---------------------------------------------------------------------------------------- orchestrator


@dataclass(frozen=True)
class Argon2Timing:
    time_cost: int
    memory_kib: int
    parallelism: int
    hash_ms: float
    verify_ms: float
    samples: int


def time_argon2(samples: int = 10) -> Argon2Timing:
    """Time one argon2id hash and one verify with the auth service's configured parameters."""
    fields = AuthSettings.model_fields
    time_cost = int(fields["argon2_time_cost"].default)
    memory_kib = int(fields["argon2_memory_kib"].default)
    parallelism = int(fields["argon2_parallelism"].default)
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    hashed = hasher.hash(BENCH_PASSWORD)
    hash_times, verify_times = [], []
    for _ in range(samples):
        began = time.perf_counter_ns()
        hasher.hash(BENCH_PASSWORD)
        hash_times.append(time.perf_counter_ns() - began)
        began = time.perf_counter_ns()
        hasher.verify(hashed, BENCH_PASSWORD)
        verify_times.append(time.perf_counter_ns() - began)
    return Argon2Timing(
        time_cost,
        memory_kib,
        parallelism,
        statistics.median(hash_times) / 1e6,
        statistics.median(verify_times) / 1e6,
        samples,
    )


def script_command(*extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *extra]


def read_ready_line(process: subprocess.Popen[str], stdout: IO[str], log_path: Path) -> dict[str, Any]:
    """Wait (bounded) for the server's JSON ready line."""
    deadline = time.monotonic() + SERVER_READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        readable, _, _ = select.select([stdout], [], [], 0.2)
        if readable:
            line = stdout.readline()
            if line:
                ready: dict[str, Any] = json.loads(line)
                return ready
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    raise RuntimeError(f"server did not become ready (exit code {process.poll()}); log {log_path}:\n{tail}")


def stop_process(process: subprocess.Popen[str]) -> None:
    """SIGTERM, wait (bounded), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def server_process(server_args: list[str], log_path: Path) -> Iterator[dict[str, Any]]:
    """Run a server role process; yield its ready line ({port, pid}); always stop it."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            script_command(*server_args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            assert process.stdout is not None
            yield read_ready_line(process, process.stdout, log_path)
        finally:
            stop_process(process)
            if process.stdout is not None:
                process.stdout.close()


def run_client_process(client_args: list[str], log_path: Path, budget: float) -> ClientResult:
    """Run a client role process and parse its JSON result."""
    with log_path.open("w") as log:
        completed = subprocess.run(
            script_command(*client_args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=budget,
            check=False,
        )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"client failed (exit code {completed.returncode}); log {log_path}:\n{tail}")
    return ClientResult(**json.loads(lines[-1]))


def measure(
    label: str,
    variant: str,
    server_args: list[str],
    call_args: list[str],
    args: argparse.Namespace,
    concurrency: int,
    work: Path,
) -> ClientResult:
    budget = args.warmup + args.seconds + CALL_TIMEOUT_SECONDS + SERVER_READY_SECONDS + 30
    log_name = variant.replace("+", "_")
    print(f"  running {label} ({args.warmup:g}s warm-up + {args.seconds:g}s) ...", file=sys.stderr, flush=True)
    common = ["--max-seconds", str(budget + 60)]
    with server_process(
        ["--role", "server", "--variant", variant, *common, *server_args], work / f"{log_name}-server.log"
    ) as ready:
        client_args = [
            "--role", "client",
            "--variant", variant,
            "--target", f"{HOST}:{ready['port']}",
            "--server-pid", str(ready["pid"]),
            "--concurrency", str(concurrency),
            "--seconds", str(args.seconds),
            "--warmup", str(args.warmup),
            "--payload-bytes", str(args.payload_bytes),
            *call_args,
        ]  # fmt: skip
        return run_client_process(client_args, work / f"{log_name}-client.log", budget)


def sign_bench_token(key_file: Path) -> str:
    """A real access token, as the auth service would issue it, valid for an hour."""
    settings = CoreSettings()
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "roles": ["user"],
        "username": "bench",
    }
    return KeyRing.from_files([key_file]).sign(claims)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, ClientResult] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="trademesh-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        key_file = work / "keys" / "active.pem"
        write_new_key(key_file)
        token = sign_bench_token(key_file)
        print("  timing argon2id ...", file=sys.stderr, flush=True)
        argon2 = time_argon2()
        print("  starting Redis ...", file=sys.stderr, flush=True)
        redis = stack.enter_context(RedisServer(work / "redis"))
        echo_call = ["--token", token]
        rounds: dict[str, list[ClientResult]] = {variant: [] for variant in args.variants}
        # Rounds interleave the variants, so a burst of outside load does not land on one variant only.
        for round_index in range(args.rounds):
            for variant in args.variants:
                if variant in failures:
                    continue
                server_args = [] if variant == "bare" else ["--redis-url", redis.url, "--key-file", str(key_file)]
                label = f"{variant} (round {round_index + 1}/{args.rounds})" if args.rounds > 1 else variant
                try:
                    rounds[variant].append(
                        measure(label, variant, server_args, echo_call, args, args.concurrency, work)
                    )
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    failures[variant] = str(error)
        for variant, measured in rounds.items():
            if measured and variant not in failures:
                # The round with the median throughput stands for the variant (all rounds go to --json).
                results[variant] = sorted(measured, key=lambda result: result.requests_per_second)[len(measured) // 2]
        if not args.skip_login:
            print("  starting FerretDB ...", file=sys.stderr, flush=True)
            try:
                database = stack.enter_context(FerretDBServer(work / "ferretdb"))
                server_args = ["--redis-url", redis.url, "--mongo-url", database.url, "--key-file", str(key_file)]
                login_call = ["--call", "login", "--login-user", f"bench_{uuid.uuid4().hex[:10]}"]
                concurrency = args.login_concurrency or args.concurrency
                results["login"] = measure("login", "login", server_args, login_call, args, concurrency, work)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                failures["login"] = str(error)
    return {"results": results, "rounds": rounds, "failures": failures, "argon2": argon2}


# ---------------------------------------------------------------------------------------------- report


def verdicts(results: dict[str, ClientResult]) -> dict[str, dict[str, Any]]:
    """Ratio of each runtime variant's throughput to the bare server's, against the target."""
    bare = results.get("bare")
    out: dict[str, dict[str, Any]] = {}
    for variant in ("runtime", "runtime+tracing"):
        result = results.get(variant)
        if bare is None or result is None or bare.requests_per_second == 0:
            continue
        ratio = result.requests_per_second / bare.requests_per_second
        out[variant] = {"ratio": ratio, "pass": ratio >= TARGET_RATIO and result.errors == 0}
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    results: dict[str, ClientResult] = outcome["results"]
    failures: dict[str, str] = outcome["failures"]
    argon2: Argon2Timing = outcome["argon2"]
    judged = verdicts(results)
    print()
    print(
        f"trademesh runtime overhead — {os.cpu_count()} CPUs shared by client and server; "
        f"{args.concurrency} concurrent callers, {args.payload_bytes}-byte payload, "
        f"{args.warmup:g}s warm-up + {args.seconds:g}s measured per variant"
        + (f", median of {args.rounds} interleaved rounds" if args.rounds > 1 else "")
    )
    header = (
        f"{'variant':<43} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'target':>7}"
        f" {'srv CPU':>8} {'srv µs/call':>11} {'cli µs/call':>11} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for variant in (*args.variants, "login"):
        result = results.get(variant)
        if result is None:
            if variant in failures:
                print(f"{DESCRIPTIONS[variant]:<43} FAILED: {failures[variant].splitlines()[0]}")
            continue
        verdict = judged.get(variant)
        ratio = f"{verdict['ratio']:.2f}x" if verdict else ("1.00x" if variant == "bare" else "")
        target = ("PASS" if verdict["pass"] else "FAIL") if verdict else ""
        print(
            f"{DESCRIPTIONS[variant]:<43} {result.requests_per_second:>9.0f} {result.p50_ms:>8.2f} "
            f"{result.p99_ms:>8.2f} {ratio:>8} {target:>7} {_fmt(result.server_cpu_percent, '.0f') + '%':>8} "
            f"{_fmt(result.server_cpu_us_per_call, '.0f'):>11} {_fmt(result.client_cpu_us_per_call, '.0f'):>11} "
            f"{result.errors:>6}"
        )
    login = results.get("login")
    print()
    print(
        f"argon2id in use: time_cost={argon2.time_cost}, memory={argon2.memory_kib} KiB, "
        f"parallelism={argon2.parallelism} (OWASP minimum); one hash {argon2.hash_ms:.1f} ms, "
        f"one verify {argon2.verify_ms:.1f} ms (median of {argon2.samples}, timed directly before any server started)"
    )
    if login is not None:
        ceiling = (os.cpu_count() or 1) * 1000 / argon2.verify_ms
        print(
            f"Login: {login.requests_per_second:.1f} logins/s with {login.concurrency} callers, "
            f"p50 {login.p50_ms:.0f} ms, p99 {login.p99_ms:.0f} ms "
            f"(argon2 ceiling with every core hashing: ~{ceiling:.0f}/s)"
        )
    for variant, result in results.items():
        if result.errors:
            print(f"note: {variant}: {result.errors} failed calls, first: {result.first_error}")
    for variant, message in failures.items():
        print(f"note: {variant} could not be measured:\n{message}")
    print()
    if judged:
        passed = all(v["pass"] for v in judged.values())
        detail = ", ".join(f"{variant} {v['ratio']:.2f}x" for variant, v in judged.items())
        print(
            f"VERDICT: {'PASS' if passed else 'FAIL'} — target: authenticated call >= {TARGET_RATIO} x bare "
            f"throughput ({detail})"
        )
    else:
        print("VERDICT: n/a — the bare and runtime variants were not both measured")
    if args.json:
        document = {
            "config": {
                "cpus": os.cpu_count(),
                "concurrency": args.concurrency,
                "login_concurrency": args.login_concurrency or args.concurrency,
                "payload_bytes": args.payload_bytes,
                "warmup_seconds": args.warmup,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "target_ratio": TARGET_RATIO,
            },
            "results": {variant: asdict(result) for variant, result in results.items()},
            "rounds": {
                variant: [asdict(result) for result in measured] for variant, measured in outcome["rounds"].items()
            },
            "verdicts": judged,
            "argon2": asdict(argon2),
            "failures": failures,
        }
        print(json.dumps(document, indent=2))


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers (default 32)")
    parser.add_argument("--login-concurrency", type=int, default=0, help="callers for Login (default: --concurrency)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per variant (default 2)")
    parser.add_argument("--payload-bytes", type=int, default=256, help="Echo request/response size (default 256)")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="server variants to run (default all)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the server variants, interleaved; report the median (default 1)"
    )
    parser.add_argument("--skip-login", action="store_true", help="do not run the Login benchmark")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    # Internal: the server and client processes are this script with --role.
    internal = parser.add_argument_group("internal (child processes)")
    internal.add_argument("--role", choices=("orchestrate", "server", "client"), default="orchestrate")
    internal.add_argument("--variant", choices=(*VARIANTS, "login"), default="bare")
    internal.add_argument("--call", choices=("echo", "login"), default="echo")
    internal.add_argument("--target", default="")
    internal.add_argument("--server-pid", type=int, default=0)
    internal.add_argument("--token", default="")
    internal.add_argument("--login-user", default="")
    internal.add_argument("--redis-url", default="")
    internal.add_argument("--mongo-url", default="")
    internal.add_argument("--key-file", default="")
    internal.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.rounds < 1 or args.seconds <= 0 or args.warmup < 0 or args.payload_bytes < 0:
        parser.error("--concurrency and --rounds must be >= 1, --seconds > 0, --warmup >= 0, --payload-bytes >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "server":
        if args.variant == "bare":
            asyncio.run(run_bare_server(args))
            return 0
        runner = run_auth_server if args.variant == "login" else run_runtime_server
        with open(os.devnull, "w") as sink:
            quiet_production_logging("auth" if args.variant == "login" else "bench", sink)
            asyncio.run(runner(args))
        return 0
    if args.role == "client":
        result = asyncio.run(run_client(args))
        sys.stdout.write(json.dumps(asdict(result)) + "\n")
        return 0

    # SIGTERM → SystemExit, so the `finally`/`with` blocks stop every child process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    outcome = orchestrate(args)
    print_report(args, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
