"""The orchestrator: Argon2's own cost, then each variant's server and client processes, measured."""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from argon2 import PasswordHasher

from bench.runtime_overhead.common import (
    BENCH_PASSWORD,
    CALL_TIMEOUT_SECONDS,
    HOST,
    SERVER_READY_SECONDS,
    SERVER_STOP_SECONDS,
    ClientResult,
)
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.keys import KeyRing, write_new_key
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.settings import CoreSettings


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
    return [sys.executable, "-m", "bench.runtime_overhead", *extra]


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
