"""The report: each variant's figures beside the bare server's, and the verdicts."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from typing import Any

from bench.runtime_overhead.common import DESCRIPTIONS, TARGET_RATIO, ClientResult
from bench.runtime_overhead.orchestrator import Argon2Timing


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
