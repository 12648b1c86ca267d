"""The soak itself: load, minute reports and probes, settling, and the summary that judges it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from grpc import aio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from bench.storage_soak.common import MAX_MESSAGE_BYTES, MINUTE, PROBE, UNAVAILABLE, Document
from bench.storage_soak.figures import Figures, Probe, minute_headline, rpc_table
from bench.storage_soak.load import Load, Traders, probe
from bench.storage_soak.stack import DevStack, Sample, StackError, observe
from trademesh.auth.v1 import auth_service_pb2_grpc
from trademesh.devstack.journal import load_journals
from trademesh.devstack.stack import MONGO_DATABASE
from trademesh.services.trade.store import PENDING_FLAG


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
