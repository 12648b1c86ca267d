"""Redis adapters of the run machinery: the job stream and its workers, the scheduler lease, and
short-lived coordination records.

* Jobs are entries of the stream `sync:jobs`, read by the consumer group `sync-workers`. A worker
  acknowledges an entry only after its run finished, so a worker that dies leaves it pending; any
  worker claims entries idle for TRADEMESH_JOB_CLAIM_IDLE_SECONDS with XAUTOCLAIM and runs them again.
* While a worker executes a run it holds a lease on the run (`sync:lease:<log id>`) and keeps
  resetting the entry's idle time, both renewed every third of the claim time; so a slow but live
  worker is never raced, and a dead one's lease has lapsed by the time its entry is claimed.
* An entry delivered more than TRADEMESH_JOB_MAX_DELIVERIES times (it keeps killing workers) and
  every run that exhausts its retries go to the stream `sync:dead` with the reason.
* One scheduler runs at a time: the holder of `sync:scheduler` (SET NX PX, renewed by its holder,
  released only by it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from trademesh.services.sync.model import SyncJob, SyncLog
from trademesh.services.sync.service import SyncService

logger = logging.getLogger(__name__)

JOB_STREAM = "sync:jobs"
DEAD_LETTER_STREAM = "sync:dead"
WORKER_GROUP = "sync-workers"
SCHEDULER_LOCK = "sync:scheduler"
JOB_STREAM_MAXLEN = 1_000_000
DEAD_LETTER_MAXLEN = 100_000

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJobQueue:
    """The service's JobQueue: the job stream and the dead-letter stream."""

    def __init__(self, redis: Redis, stream: str = JOB_STREAM, dead_letters: str = DEAD_LETTER_STREAM) -> None:
        self._redis = redis
        self.stream = stream
        self.dead_letters = dead_letters

    async def enqueue(self, job: SyncJob) -> None:
        """Append a job for the workers."""
        await self._redis.xadd(
            self.stream,
            {"log_id": job.log_id, "account_id": job.account_id},
            maxlen=JOB_STREAM_MAXLEN,
            approximate=True,
        )

    async def backlog(self, group: str = WORKER_GROUP) -> int | None:
        """Return how many jobs the worker group has not acknowledged yet (queued or running), or None
        when Redis cannot tell (the group's lag is unknown after the stream was trimmed)."""
        for info in await self._redis.xinfo_groups(self.stream):
            if _text(info["name"]) == group:
                lag = info.get("lag")
                return None if lag is None else int(info["pending"]) + int(lag)
        return int(await self._redis.xlen(self.stream))

    async def dead_letter(self, log: SyncLog) -> None:
        """Record a run that exhausted its retries."""
        error = log.error
        await self.record_dead(
            SyncJob(log.id, log.broker_account_id),
            error.reason if error else "UNKNOWN",
            error.message if error else "",
            attempt=log.attempt,
        )

    async def record_dead(self, job: SyncJob, reason: str, message: str, attempt: int = 0) -> None:
        """Append an entry to the dead-letter stream."""
        await self._redis.xadd(
            self.dead_letters,
            {
                "log_id": job.log_id,
                "account_id": job.account_id,
                "reason": reason,
                "message": message[:500],
                "attempt": str(attempt),
                "time": datetime.now(UTC).isoformat(),
            },
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )


class RedisCoordination:
    """The service's Coordination: idempotency records and throttles as expiring Redis keys."""

    def __init__(self, redis: Redis, prefix: str = "sync:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def remember(self, key: str, value: str, ttl: timedelta) -> str | None:
        """Store `value` unless present; return the existing value if there was one."""
        name = self._prefix + key
        if await self._redis.set(name, value, nx=True, px=int(ttl.total_seconds() * 1000)):
            return None
        existing = await self._redis.get(name)
        return _text(existing) if existing is not None else None

    async def recall(self, key: str) -> str | None:
        """Return a stored value."""
        value = await self._redis.get(self._prefix + key)
        return _text(value) if value is not None else None

    async def throttle(self, key: str, window: timedelta) -> float | None:
        """Allow one call per window; return seconds to wait when over the limit."""
        name = self._prefix + "throttle:" + key
        if await self._redis.set(name, b"1", nx=True, px=int(window.total_seconds() * 1000)):
            return None
        remaining = await self._redis.pttl(name)
        return max(remaining, 1) / 1000


class Lease:
    """A named Redis lock held by one owner, renewed by it, released only by it."""

    def __init__(self, redis: Redis, key: str, ttl_seconds: float, owner: str | None = None) -> None:
        self._redis = redis
        self.key = key
        self._ttl_ms = int(ttl_seconds * 1000)
        self.owner = owner or secrets.token_hex(8)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours, renewing it)."""
        if await self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease if we still hold it."""
        return bool(await self._redis.eval(_RENEW, 1, self.key, self.owner, self._ttl_ms))

    async def release(self) -> None:
        """Give the lease up if we hold it."""
        await self._redis.eval(_RELEASE, 1, self.key, self.owner)


class Scheduler:
    """Start due runs, on one replica at a time (the holder of the scheduler lease)."""

    def __init__(
        self,
        service: SyncService,
        redis: Redis,
        *,
        lock_seconds: float,
        tick_seconds: float,
        stale_run_seconds: float,
        owner: str | None = None,
    ) -> None:
        self._service = service
        self.lease = Lease(redis, SCHEDULER_LOCK, lock_seconds, owner)
        self._lock_seconds = lock_seconds
        self._tick = tick_seconds
        self._stale = timedelta(seconds=stale_run_seconds)
        self._stop = asyncio.Event()

    async def tick_once(self) -> int | None:
        """Schedule due accounts if this scheduler holds (or takes) the lease; None when another does."""
        if not await self.lease.acquire():
            return None
        renewing = asyncio.create_task(self._keep(self.lease))
        try:
            started = await self._service.schedule_due()
            await self._service.recover_stale(self._stale)
        finally:
            renewing.cancel()
        if started:
            logger.info("scheduled %d sync runs", started)
        return started

    async def _keep(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self._lock_seconds / 3)
            await lease.renew()

    async def run(self) -> None:
        """Tick until closed; keeps the lease between ticks so leadership does not flap."""
        while not self._stop.is_set():
            try:
                await self.tick_once()
            except (RedisError, OSError) as error:
                logger.warning("scheduler tick failed: %s", error)
            except Exception:
                logger.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=min(self._tick, self._lock_seconds / 3))

    def close(self) -> None:
        """Ask the loop to end."""
        self._stop.set()


class Worker:
    """Consume the job stream: run each job once at a time, claim what dead workers left."""

    def __init__(
        self,
        redis: Redis,
        execute: Callable[[SyncJob], Awaitable[SyncLog | None]],
        give_up: Callable[[SyncJob, str], Awaitable[None]],
        *,
        consumer: str | None = None,
        concurrency: int = 64,
        claim_idle_seconds: float = 60.0,
        max_deliveries: int = 5,
        stream: str = JOB_STREAM,
        group: str = WORKER_GROUP,
        block_seconds: float = 1.0,
    ) -> None:
        self._redis = redis
        self._execute = execute
        self._give_up = give_up
        self.consumer = consumer or f"worker-{secrets.token_hex(6)}"
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._max_deliveries = max_deliveries
        self._stream = stream
        self._group = group
        self._block_ms = int(block_seconds * 1000)
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.completed = 0

    async def ensure_group(self) -> None:
        """Create the stream and the consumer group if they do not exist."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def run(self) -> None:
        """Read and run jobs until closed (in-flight jobs are cancelled with the task, not acknowledged)."""
        await self.ensure_group()
        next_claim = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_claim:
                        await self._claim_abandoned()
                        next_claim = time.monotonic() + self._claim_idle_ms / 1000
                    await self._read()
                except (RedisError, OSError) as error:
                    logger.warning("job stream unavailable: %s", error)
                    await asyncio.sleep(1.0)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        """Ask the loop to end."""
        self._stop.set()

    async def _read(self) -> None:
        free = self._concurrency - len(self._tasks)
        if free <= 0:
            await asyncio.sleep(0.05)
            return
        reply: Any = await self._redis.xreadgroup(
            self._group, self.consumer, {self._stream: ">"}, count=free, block=self._block_ms
        )
        for _, entries in reply or []:
            for entry_id, fields in entries:
                self._spawn(_text(entry_id), fields)

    async def _claim_abandoned(self) -> None:
        reply: Any = await self._redis.xautoclaim(
            self._stream, self._group, self.consumer, min_idle_time=self._claim_idle_ms, start_id="0-0", count=100
        )
        claimed: list[tuple[Any, dict[Any, Any]]] = reply[1] if len(reply) > 1 else []
        for entry_id, fields in claimed:
            if not fields:
                continue  # deleted from the stream meanwhile
            entry = _text(entry_id)
            pending = await self._redis.xpending_range(self._stream, self._group, min=entry, max=entry, count=1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            if deliveries > self._max_deliveries:
                job = _job(fields)
                logger.error("job %s was delivered %d times; dead-lettering it", job.log_id, deliveries)
                await self._give_up(job, f"the job was delivered {deliveries} times without finishing")
                await self._redis.xack(self._stream, self._group, entry)
                continue
            logger.info("claimed job entry %s abandoned by a dead worker", entry)
            self._spawn(entry, fields)

    def _spawn(self, entry_id: str, fields: dict[Any, Any]) -> None:
        task = asyncio.create_task(self._handle(entry_id, _job(fields)), name=f"sync-job-{entry_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, entry_id: str, job: SyncJob) -> None:
        lease = Lease(self._redis, f"sync:lease:{job.log_id}", self._claim_idle_ms / 1000, self.consumer)
        if not await lease.acquire():
            return  # a live worker runs it; the entry stays pending until that worker acknowledges it
        keeper = asyncio.create_task(self._keep_alive(lease, entry_id))
        finished = False
        try:
            await self._execute(job)
            await self._redis.xack(self._stream, self._group, entry_id)
            self.completed += 1
            finished = True
        except asyncio.CancelledError:
            raise  # shutting down or killed: the entry stays pending and the lease lapses
        except Exception:
            logger.exception("sync job %s failed; it will be redelivered", job.log_id)
        finally:
            keeper.cancel()
            if finished:
                with contextlib.suppress(RedisError, OSError):
                    await lease.release()

    async def _keep_alive(self, lease: Lease, entry_id: str) -> None:
        while True:
            await asyncio.sleep(self._claim_idle_ms / 3000)
            with contextlib.suppress(RedisError, OSError):
                await lease.renew()
                # Reset the entry's idle time so no other worker claims a job that is still running.
                await self._redis.xclaim(
                    self._stream, self._group, self.consumer, min_idle_time=0, message_ids=[entry_id], justid=True
                )


def _job(fields: dict[Any, Any]) -> SyncJob:
    values = {_text(k): _text(v) for k, v in fields.items()}
    return SyncJob(values.get("log_id", ""), values.get("account_id", ""))
