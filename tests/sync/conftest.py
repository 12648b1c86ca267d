"""Sync-test fixtures: fake brokers, a real trade service and sync services started per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from grpc import aio
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.kernel.calendar import IST
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.brokers.fake_server import BrokerApp
from trademesh.services.brokers.upstox.fake import FakeUpstox
from trademesh.services.brokers.zerodha.fake import FakeKite
from trademesh.services.core.server import ServiceHost
from trademesh.services.sync.credentials import new_key_text
from trademesh.services.sync.model import now_millis
from trademesh.services.sync.server import SyncRuntime, build_sync_server
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2, sync_service_pb2_grpc
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

if TYPE_CHECKING:
    from trademesh.sync.v1.sync_service_pb2_grpc import SyncServiceAsyncStub
    from trademesh.trade.v1.trade_service_pb2_grpc import TradeServiceAsyncStub

DATA = Path(__file__).parent / "data"


def _morning_offset() -> timedelta:
    """Return the offset that puts a clock at the last 06:00 IST: a Kite session made then lasts until the next
    06:00 IST, which is after the real clock too (the `tick` entry point runs on the real clock)."""
    now = now_millis()
    local = now.astimezone(IST)
    morning = local.replace(hour=6, minute=0, second=0, microsecond=0)
    if morning > local:
        morning -= timedelta(days=1)
    return morning - now


@dataclass
class RunningSync:
    """A started sync service with a stub, its settings and its internals.

    Its clock starts at the last 06:00 IST and only the test moves it forward, so token expiry
    (06:00 IST) never falls inside a test, whatever the hour it runs at.
    """

    runtime: SyncRuntime
    stub: SyncServiceAsyncStub
    settings: SyncSettings
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        self.offset = _morning_offset()
        self.shift_clock(timedelta(0))

    def shift_clock(self, delta: timedelta) -> None:
        """Move the service's clock forward by `delta`."""
        self.offset += delta
        offset = self.offset
        self.runtime.service.clock = lambda: now_millis() + offset

    async def advance_to_due(self, account_id: str) -> None:
        """Move the clock just past the account's next run time."""
        account = await self.runtime.service.accounts.get(account_id)
        assert account is not None
        assert account.next_sync_time is not None
        wait = account.next_sync_time - self.runtime.service.clock()
        self.shift_clock(max(wait, timedelta(0)) + timedelta(seconds=1))


@dataclass
class Mesh:
    """Trade service stub and a way to start sync services against it."""

    trade: TradeServiceAsyncStub
    start: Callable[..., Awaitable[RunningSync]]
    database: Any


@pytest.fixture
async def fake_kite() -> AsyncIterator[FakeKite]:
    """A fake Kite Connect server on a free port."""
    server = FakeKite()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_upstox() -> AsyncIterator[FakeUpstox]:
    """A fake Upstox server on a free port."""
    server = FakeUpstox()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def service_token(key_dir: Path) -> str:
    """A service token issued the supported way (the auth admin command's function)."""
    return issue_service_token(KeyRing.from_files([key_dir / "active.pem"]), "sync", 1, "trademesh-auth", "trademesh")


@pytest.fixture
async def mesh(
    redis: Redis,
    core_settings: Callable[..., dict[str, Any]],
    fake_kite: FakeKite,
    fake_upstox: FakeUpstox,
    service_token: str,
) -> AsyncIterator[Mesh]:
    """A real trade service and a factory of sync services (all stopped after the test)."""
    trade_host = await build_trade_server(TradeSettings(**core_settings(relay_scan_interval_seconds=30.0)))
    channels: list[aio.Channel] = []
    started: list[ServiceHost] = []
    trade_channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
    channels.append(trade_channel)

    async def start(**overrides: Any) -> RunningSync:
        values = core_settings(
            trade_target=f"127.0.0.1:{trade_host.port}",
            broker_credentials_key=new_key_text("test"),
            service_token=service_token,
            kite_base_url=fake_kite.base_url,
            upstox_base_url=fake_upstox.base_url,
            scheduler_enabled=False,
            broker_attempts=3,
            broker_backoff_seconds=0.05,
            broker_backoff_max_seconds=0.2,
            broker_timeout_seconds=1.0,
            job_claim_idle_seconds=1.0,
        )
        values.update(overrides)
        settings = SyncSettings(**values)
        runtime = await build_sync_server(settings)
        started.append(runtime.host)
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        channels.append(channel)
        stub: SyncServiceAsyncStub = sync_service_pb2_grpc.SyncServiceStub(channel)
        return RunningSync(runtime, stub, settings)

    settings = TradeSettings(**core_settings())
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    trade_stub: TradeServiceAsyncStub = trade_service_pb2_grpc.TradeServiceStub(trade_channel)
    yield Mesh(trade_stub, start, client[settings.mongo_database])
    for channel in channels:
        await channel.close()
    for host in reversed(started):
        await host.stop(0)
    await trade_host.stop(0)
    await client.close()


def request_id() -> str:
    """Return a fresh idempotency key."""
    return str(uuid.uuid4())


def kite_app(fake_kite: FakeKite, trades: list[dict[str, Any]] | None = None) -> BrokerApp:
    """Register a Kite app with a unique key and user, holding `trades`."""
    suffix = uuid.uuid4().hex[:8]
    app = fake_kite.add_app(f"key{suffix}", f"secret{suffix}", f"ZX{suffix[:4].upper()}", "Asha Rao")
    app.trades = trades or []
    return app


async def link_kite(sync: RunningSync, user: MeshUser, app: BrokerApp, **extra: Any) -> Any:
    """Link a Kite account through the API and return it."""
    response = await sync.stub.LinkBrokerAccount(
        sync_service_pb2.LinkBrokerAccountRequest(
            request_id=request_id(),
            zerodha=broker_account_pb2.ZerodhaCredentials(
                api_key=app.api_key, api_secret=app.api_secret, request_token=f"rt-{uuid.uuid4().hex}"
            ),
            **extra,
        ),
        metadata=user.metadata,
    )
    return response.broker_account


def upstox_app(fake_upstox: FakeUpstox, trades: list[dict[str, Any]] | None = None) -> BrokerApp:
    """Register an Upstox app with a unique client id and user, holding `trades`."""
    suffix = uuid.uuid4().hex[:6]
    app = fake_upstox.add_app(f"client{suffix}", f"secret{suffix}", f"UP{suffix}", "Ravi Iyer")
    app.trades = trades or []
    return app


async def link_upstox(sync: RunningSync, user: MeshUser, app: BrokerApp) -> Any:
    """Link an Upstox account through the API (a fresh authorization code) and return it."""
    response = await sync.stub.LinkBrokerAccount(
        sync_service_pb2.LinkBrokerAccountRequest(
            request_id=request_id(),
            upstox=broker_account_pb2.UpstoxCredentials(
                client_id=app.api_key,
                client_secret=app.api_secret,
                redirect_uri=app.redirect_uri,
                authorization_code=f"code-{uuid.uuid4().hex}",
            ),
        ),
        metadata=user.metadata,
    )
    return response.broker_account


async def sync_now(
    sync: RunningSync, user: MeshUser, account_id: str, rid: str | None = None
) -> list[sync_service_pb2.SyncNowResponse]:
    """Run SyncNow and return every streamed message."""
    call = sync.stub.SyncNow(
        sync_service_pb2.SyncNowRequest(broker_account_id=account_id, request_id=rid or request_id()),
        metadata=user.metadata,
        timeout=60,
    )
    return [message async for message in call]


async def wait_for_log(
    sync: RunningSync, user: MeshUser, account_id: str, *, count: int, within: float = 30.0
) -> list[sync_log_pb2.SyncLog]:
    """Wait until the account has `count` finished runs and runs nothing; return its logs, newest first."""

    async def logs_when_idle() -> tuple[list[sync_log_pb2.SyncLog], bool]:
        response = await sync.stub.ListSyncLogs(
            sync_service_pb2.ListSyncLogsRequest(broker_account_id=account_id, include_row_failures=True),
            metadata=user.metadata,
        )
        account = await sync.runtime.service.accounts.get(account_id)
        return list(response.sync_logs), account is not None and not account.running_log_id

    def settled(found: tuple[list[sync_log_pb2.SyncLog], bool]) -> bool:
        logs, idle = found
        finished = [log for log in logs if log.status != sync_log_pb2.SYNC_STATUS_RUNNING]
        return len(finished) >= count and len(finished) == len(logs) and idle

    logs, _ = await eventually(
        logs_when_idle,
        within=within,
        interval=0.1,
        until=settled,
        what=f"{count} finished run(s) of account {account_id} and none running",
    )
    return logs


async def run_scheduled(sync: RunningSync, user: MeshUser, account_id: str, count: int) -> sync_log_pb2.SyncLog:
    """Let the schedule start the account's next run (moving the clock to it); return the run, finished.

    `count` is how many finished runs the account will have then.
    """
    # The previous run must have let go of the account first (its end is written after SyncNow returns).
    await wait_for_log(sync, user, account_id, count=count - 1)

    async def started_runs() -> int:
        await sync.advance_to_due(account_id)
        return await sync.runtime.service.schedule_due()

    await eventually(
        started_runs, interval=0.1, until=lambda started: started >= 1, what="the schedule starts the account's run"
    )
    logs = await wait_for_log(sync, user, account_id, count=count)
    return logs[0]


async def journal(mesh: Mesh, user: MeshUser, account_id: str = "") -> list[trade_pb2.Trade]:
    """Return every trade of the user's journal (optionally of one broker account)."""
    trades: list[trade_pb2.Trade] = []
    token = ""
    while True:
        response = await mesh.trade.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=500, page_token=token, broker_account_id=account_id),
            metadata=user.metadata,
        )
        trades.extend(response.trades)
        token = response.next_page_token
        if not token:
            return trades


def summary_of(messages: list[sync_service_pb2.SyncNowResponse]) -> sync_log_pb2.SyncLog:
    """Return the summary that must end a SyncNow stream."""
    assert messages, "the stream sent nothing"
    assert messages[-1].WhichOneof("item") == "summary"
    return messages[-1].summary


def ist(text: str) -> datetime:
    """Parse a Kite timestamp (IST wall-clock)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
