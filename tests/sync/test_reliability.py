"""One scheduler at a time, and a job whose worker dies completes once after redelivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf import field_mask_pb2
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.sync.conftest import Mesh, journal, kite_app, link_kite, wait_for_log
from trademesh.services.sync.fakes.book import Fault, FaultKind, sample_book
from trademesh.services.sync.fakes.servers import FakeKite
from trademesh.services.sync.jobs import JOB_STREAM, WORKER_GROUP, RedisJobQueue, Scheduler, Worker
from trademesh.services.sync.model import SyncJob, SyncLog, SyncPhase
from trademesh.services.sync.schedule import tick
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2


async def test_two_schedulers_at_once_only_one_runs(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    user = await new_user()
    sync = await mesh.start()
    accounts = [await link_kite(sync, user, kite_app(fake_kite, sample_book(2))) for _ in range(3)]
    service = sync.runtime.service
    first, second = (
        Scheduler(service, redis, lock_seconds=30, tick_seconds=5, stale_run_seconds=900, owner=name)
        for name in ("replica-a", "replica-b")
    )

    results = await asyncio.gather(first.tick_once(), second.tick_once())

    assert sorted(results, key=lambda r: r is None) == [3, None]
    holder = await redis.get("sync:scheduler")
    assert holder in (b"replica-a", b"replica-b")
    # The other replica stays out while the lease is held, even once accounts are due again.
    loser = second if holder == b"replica-a" else first
    for account in accounts:
        logs = await wait_for_log(sync, user, account.id, count=1)
        assert [log.type for log in logs] == [sync_log_pb2.SYNC_TYPE_SCHEDULED]
    assert await loser.tick_once() is None


async def test_worker_killed_mid_job_completes_once_after_redelivery(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    user = await new_user()
    app = kite_app(fake_kite, sample_book(40))
    sync = await mesh.start(worker_enabled=False)
    account = await link_kite(sync, user, app)
    service = sync.runtime.service
    # The broker is slow to answer, so the first worker is mid-job when it dies.
    app.faults.append(Fault(FaultKind.SLOW, seconds=0.8, path="/trades"))
    doomed = Worker(redis, service.execute, service.give_up, consumer="doomed", claim_idle_seconds=1.0)
    doomed_task = asyncio.create_task(doomed.run())
    assert await service.schedule_due() == 1

    async def running_log() -> SyncLog | None:
        return await service.logs.get((await service.accounts.get(account.id)).running_log_id)  # type: ignore[union-attr]

    log = await eventually(
        running_log,
        interval=0.02,
        until=lambda log: log is not None and log.phase is SyncPhase.FETCHING,
        what="the first worker starts the job (FETCHING)",
    )
    assert log is not None
    doomed_task.cancel()  # killed: no acknowledgement, no lease release
    with contextlib.suppress(asyncio.CancelledError):
        await doomed_task

    rescuer = Worker(redis, service.execute, service.give_up, consumer="rescuer", claim_idle_seconds=1.0)
    rescuer_task = asyncio.create_task(rescuer.run())
    try:
        logs = await wait_for_log(sync, user, account.id, count=1, within=20)
    finally:
        rescuer.close()
        await rescuer_task

    assert len(logs) == 1
    assert logs[0].id == log.id
    assert logs[0].status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert logs[0].counters.created == 40
    assert rescuer.completed == 1
    assert Counter(Counter(t.broker_trade_id for t in await journal(mesh, user, account.id)).values()) == {1: 40}
    pending = await redis.xpending(JOB_STREAM, WORKER_GROUP)
    assert pending["pending"] == 0


async def test_scheduled_runs_stop_while_sync_is_disabled(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    sync = await mesh.start()
    account = await link_kite(sync, user, kite_app(fake_kite, sample_book(1)))
    updated = await sync.stub.UpdateBrokerAccount(
        sync_service_pb2.UpdateBrokerAccountRequest(
            broker_account=broker_account_pb2.BrokerAccount(id=account.id, sync_enabled=False, nickname="Family HUF"),
            update_mask=field_mask_pb2.FieldMask(paths=["sync_enabled", "nickname"]),
            etag=account.etag,
        ),
        metadata=user.metadata,
    )
    assert not updated.broker_account.sync_enabled
    assert updated.broker_account.nickname == "Family HUF"
    assert not updated.broker_account.HasField("next_sync_time")
    assert updated.broker_account.etag != account.etag
    assert await sync.runtime.service.schedule_due() == 0


async def test_cronjob_entry_point_queues_due_runs_once(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    user = await new_user()
    sync = await mesh.start()
    account = await link_kite(sync, user, kite_app(fake_kite, sample_book(3)))

    assert await tick(sync.settings) == 1
    logs = await wait_for_log(sync, user, account.id, count=1)
    assert logs[0].counters.created == 3
    assert await redis.get("sync:scheduler") is None  # released on exit

    holder = Scheduler(sync.runtime.service, redis, lock_seconds=30, tick_seconds=5, stale_run_seconds=900)
    assert await holder.lease.acquire()
    assert await tick(sync.settings) is None


async def test_job_backlog_counts_queued_and_running_jobs_until_acknowledged(redis: Redis) -> None:
    stream = f"test:jobs:{time.time_ns()}"
    queue = RedisJobQueue(redis, stream=stream, dead_letters=f"{stream}:dead")
    for index in range(3):
        await queue.enqueue(SyncJob(f"log-{index}", f"account-{index}"))
    assert await queue.backlog() == 3  # no worker group yet: everything is queued
    await redis.xgroup_create(stream, WORKER_GROUP, id="0")
    reply: Any = await redis.xreadgroup(WORKER_GROUP, "w1", {stream: ">"}, count=2)
    entry_ids = [entry_id for _, entries in reply for entry_id, _ in entries]
    assert len(entry_ids) == 2
    assert await queue.backlog() == 3  # two running (pending), one queued (lag)
    await redis.xack(stream, WORKER_GROUP, *entry_ids)
    assert await queue.backlog() == 1
    reply = await redis.xreadgroup(WORKER_GROUP, "w1", {stream: ">"}, count=5)
    await redis.xack(stream, WORKER_GROUP, *[entry_id for _, entries in reply for entry_id, _ in entries])
    assert await queue.backlog() == 0
