"""The traders (registered, with tokens) and the mixed load's callers through the gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from grpc import aio

from bench.storage_soak.common import (
    ABANDON_DEADLINE_SECONDS,
    ANALYTICS,
    ANALYTICS_ABANDON,
    CALL_DEADLINE_SECONDS,
    CREATE,
    ERROR_PAUSE_SECONDS,
    IMPORT,
    IMPORT_DEADLINE_SECONDS,
    LIST_ABANDON,
    LIST_FIRST,
    LIST_NEXT,
    PAGE,
    PASSWORD,
    PROBE_DEADLINE_SECONDS,
    QUOTES,
    TOKEN_MARGIN_SECONDS,
    Metadata,
    T,
)
from bench.storage_soak.figures import Figures, Probe
from bench.storage_soak.stack import StackError
from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, period_pb2
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.journal import SYMBOLS
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc


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
