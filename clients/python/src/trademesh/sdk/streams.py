"""Resumable server streams: SubscribeQuotes, WatchTrades, WatchPnl and WatchNotifications that survive reconnects.

A stream that ends (UNAVAILABLE, a transport reset while a gateway restarts, the server's maximum
lifetime, or silence longer than the idle timeout) is opened again with exponential backoff and full
jitter (the ``backoff`` library's schedule), and continues where it was:

* **quotes** — every (re)subscription starts with a snapshot; quotes older (lower ``sequence``) than the
  one already delivered for an instrument are dropped, so a consumer never goes back in time;
* **trades** — the stream reopens with the ``resume_token`` of the last event, snapshot end or heartbeat,
  so every change after it is delivered exactly once, with no new snapshot;
* **P&L** — every reopen starts with a fresh snapshot (``PnlUpdate.snapshot``), which replaces state;
* **notifications** — the stream reopens with the ``resume_token`` of the last message (snapshot,
  notification or heartbeat), so every notification after it is delivered exactly once, with no new
  snapshot; a notification whose ``sequence`` was already delivered is dropped all the same.

An UNAUTHENTICATED end (the access token that opened the stream expired) refreshes the token and
reopens at once. Other errors (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...) are raised to the consumer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import backoff
import grpc
from google.protobuf.message import Message

from trademesh.analytics.v1 import analytics_service_pb2, pnl_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2, quote_pb2, quote_stream_pb2
from trademesh.notifications.v1 import notifications_service_pb2
from trademesh.sdk.errors import TrademeshError
from trademesh.sdk.options import ClientOptions
from trademesh.trade.v1 import trade_service_pb2

__all__ = [
    "NotificationTracker",
    "PnlTracker",
    "QuoteTracker",
    "ResumableStream",
    "StreamTracker",
    "SyncResumableStream",
    "TradeTracker",
]

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", covariant=True)
ItemT_co = TypeVar("ItemT_co")
TrackerT = TypeVar("TrackerT", bound="StreamTracker[Any]")


class StreamTracker(Protocol[ItemT]):
    """What a resumable stream remembers between connections."""

    def request(self) -> Message:
        """Return the request that (re)opens the stream from the current position."""

    def accept(self, response: Any) -> ItemT | None:
        """Take one response; return what to hand to the consumer (None: nothing)."""


def _resumable(error: TrademeshError) -> bool:
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return True
    # A proxy restarting mid-stream resets the HTTP/2 stream: INTERNAL/UNKNOWN/CANCELLED without the
    # ErrorInfo every trademesh service error carries.
    return error.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED) and (
        not error.domain
    )


def _delays(options: ClientOptions) -> Generator[float, None, None]:
    schedule = backoff.expo(base=2, factor=0.25, max_value=options.stream_max_backoff_seconds)
    next(schedule)  # the generator's first value is a priming None
    for delay in schedule:
        yield backoff.full_jitter(delay)


class _Policy:
    """Decides, after a stream ended, whether and when to reopen it (shared by both runners)."""

    def __init__(self, options: ClientOptions, give_up_after: float | None) -> None:
        self._options = options
        self._give_up_after = give_up_after
        self._delays: Generator[float, None, None] | None = None
        self._failing_since: float | None = None
        self._auth_retried = False
        #: How many times the stream was reopened.
        self.reconnects = 0

    def progressed(self) -> None:
        self._delays = None
        self._failing_since = None
        self._auth_retried = False

    def after_end(self, error: TrademeshError | None) -> tuple[float, bool]:
        """Return (delay before reopening, whether to refresh the token first); raise if giving up."""
        now = time.monotonic()
        if error is not None and error.code == grpc.StatusCode.UNAUTHENTICATED and not self._auth_retried:
            self._auth_retried = True
            self.reconnects += 1
            return 0.0, True
        if error is not None and not _resumable(error):
            raise error
        if self._failing_since is None:
            self._failing_since = now
        elif self._give_up_after is not None and now - self._failing_since > self._give_up_after:
            if error is not None:
                raise error
            raise TrademeshError(grpc.StatusCode.UNAVAILABLE, "the stream keeps ending without progress")
        if self._delays is None:
            self._delays = _delays(self._options)
        self.reconnects += 1
        delay = next(self._delays)
        logger.info("stream ended (%s); reopening in %.2fs", error or "OK", delay)
        return delay, False


class ResumableStream(Generic[TrackerT, ItemT_co]):
    """An ``async for``-able stream that reopens itself; see the module docstring."""

    def __init__(
        self,
        open_call: Callable[[Message], AsyncIterable[Any]],
        tracker: TrackerT,
        *,
        refresh: Callable[[str | None], Any],
        current_token: Callable[[], str | None],
        options: ClientOptions,
        give_up_after: float | None = None,
    ) -> None:
        self._open_call = open_call
        self.tracker = tracker
        self._refresh = refresh
        self._current_token = current_token
        self._options = options
        self._policy = _Policy(options, give_up_after)

    @property
    def reconnects(self) -> int:
        """How many times the stream was reopened."""
        return self._policy.reconnects

    def __aiter__(self) -> AsyncIterator[ItemT_co]:
        return self._run()

    async def _run(self) -> AsyncIterator[ItemT_co]:
        idle = self._options.stream_idle_timeout_seconds
        while True:
            token = self._current_token()
            iterator = aiter(self._open_call(self.tracker.request()))
            error: TrademeshError | None = None
            try:
                while True:
                    try:
                        async with asyncio.timeout(idle):
                            response = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        logger.info("no message for %.0fs; reopening the stream", idle)
                        break
                    self._policy.progressed()
                    item = self.tracker.accept(response)
                    if item is not None:
                        yield item
            except TrademeshError as failure:
                error = failure
            finally:
                await _aclose(iterator)
            delay, refresh = self._policy.after_end(error)
            if refresh:
                await self._refresh(token)
            await asyncio.sleep(delay)


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


class SyncResumableStream(Generic[TrackerT, ItemT_co]):
    """The blocking counterpart of :class:`ResumableStream` (a plain ``for`` loop)."""

    def __init__(
        self,
        open_call: Callable[[Message], Iterable[Any]],
        tracker: TrackerT,
        *,
        refresh: Callable[[str | None], None],
        current_token: Callable[[], str | None],
        options: ClientOptions,
        give_up_after: float | None = None,
    ) -> None:
        self._open_call = open_call
        self.tracker = tracker
        self._refresh = refresh
        self._current_token = current_token
        self._options = options
        self._policy = _Policy(options, give_up_after)

    @property
    def reconnects(self) -> int:
        """How many times the stream was reopened."""
        return self._policy.reconnects

    def __iter__(self) -> Iterator[ItemT_co]:
        idle = self._options.stream_idle_timeout_seconds
        while True:
            token = self._current_token()
            call = self._open_call(self.tracker.request())
            cancel = getattr(call, "cancel", None)
            error: TrademeshError | None = None
            try:
                for response in _watched(call, idle, cancel):
                    self._policy.progressed()
                    item = self.tracker.accept(response)
                    if item is not None:
                        yield item
            except TrademeshError as failure:
                error = failure
            finally:
                if cancel is not None:
                    cancel()
            delay, refresh = self._policy.after_end(error)
            if refresh:
                self._refresh(token)
            time.sleep(delay)


def _watched(call: Iterable[Any], idle: float, cancel: Callable[[], Any] | None) -> Iterator[Any]:
    # A blocking read cannot time out by itself: a watchdog thread cancels a call that stays silent for
    # ``idle`` seconds, which then ends CANCELLED (a resumable end).
    last = time.monotonic()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(max(last + idle - time.monotonic(), 0.05)):
            if time.monotonic() - last >= idle and cancel is not None:
                cancel()
                return

    watchdog = threading.Thread(target=watch, name="trademesh-stream-watchdog", daemon=True)
    watchdog.start()
    try:
        for response in call:
            last = time.monotonic()
            yield response
    finally:
        done.set()


# ------------------------------------------------------------------ trackers


def instrument_key(instrument: instrument_pb2.Instrument) -> tuple[int, str]:
    """Return a hashable key of an instrument: (exchange, symbol)."""
    return instrument.exchange, instrument.symbol


class QuoteTracker:
    """SubscribeQuotes state: the newest quote delivered per instrument."""

    def __init__(self, request: marketdata_service_pb2.SubscribeQuotesRequest) -> None:
        self._request = request
        #: The newest quote delivered, per (exchange, symbol).
        self.quotes: dict[tuple[int, str], quote_pb2.Quote] = {}

    def request(self) -> marketdata_service_pb2.SubscribeQuotesRequest:
        """Every subscription starts with a snapshot, so the original request resumes too."""
        return self._request

    def accept(self, response: marketdata_service_pb2.SubscribeQuotesResponse) -> quote_stream_pb2.QuoteBatch | None:
        """Hand on batches (not heartbeats), without quotes older than those already delivered."""
        if response.WhichOneof("event") != "batch":
            return None
        batch = response.batch
        kept: list[quote_pb2.Quote] = []
        for quote in batch.quotes:
            key = instrument_key(quote.instrument)
            held = self.quotes.get(key)
            if held is not None and quote.sequence < held.sequence:
                if batch.snapshot:
                    kept.append(held)  # a snapshot still covers every instrument
                continue
            self.quotes[key] = quote
            kept.append(quote)
        if not kept and not batch.snapshot:
            return None
        result = quote_stream_pb2.QuoteBatch()
        result.CopyFrom(batch)
        del result.quotes[:]
        result.quotes.extend(kept)
        return result


class TradeTracker:
    """WatchTrades state: the resume token of the last message processed."""

    def __init__(self, request: trade_service_pb2.WatchTradesRequest) -> None:
        self._request = request
        #: Pass this to ``watch_trades(resume_token=...)`` to continue in a later process.
        self.resume_token = request.resume_token

    def request(self) -> trade_service_pb2.WatchTradesRequest:
        """The original request with the latest resume token."""
        request = trade_service_pb2.WatchTradesRequest()
        request.CopyFrom(self._request)
        request.resume_token = self.resume_token
        return request

    def accept(self, response: trade_service_pb2.WatchTradesResponse) -> trade_service_pb2.WatchTradesResponse | None:
        """Record the position; hand on everything but heartbeats."""
        kind = response.WhichOneof("item")
        if kind == "event" and response.event.resume_token:
            self.resume_token = response.event.resume_token
        elif kind == "snapshot_end":
            self.resume_token = response.snapshot_end.resume_token
        elif kind == "heartbeat":
            if response.heartbeat.resume_token:
                self.resume_token = response.heartbeat.resume_token
            return None
        return response


class PnlTracker:
    """WatchPnl state: nothing to resume from (each connection starts with a snapshot)."""

    def __init__(self, request: analytics_service_pb2.WatchPnlRequest) -> None:
        self._request = request
        #: The newest journal version seen.
        self.journal_version = 0

    def request(self) -> analytics_service_pb2.WatchPnlRequest:
        """The original request."""
        return self._request

    def accept(self, response: analytics_service_pb2.WatchPnlResponse) -> pnl_pb2.PnlUpdate | None:
        """Hand on updates (snapshots and deltas), not heartbeats."""
        if response.WhichOneof("event") != "update":
            return None
        self.journal_version = max(self.journal_version, response.update.journal_version)
        return response.update


class NotificationTracker:
    """WatchNotifications state: the resume token of the last message, the unread count, the last sequence."""

    def __init__(self, request: notifications_service_pb2.WatchNotificationsRequest) -> None:
        self._request = request
        #: Pass this to ``watch_notifications(resume_token=...)`` to continue in a later process.
        self.resume_token = request.resume_token
        #: The unread count of the newest message (None before the first).
        self.unread_count: int | None = None
        #: The highest notification ``sequence`` handed on (snapshot included); 0 before any.
        self.last_sequence = 0

    def request(self) -> notifications_service_pb2.WatchNotificationsRequest:
        """The original request with the latest resume token (no snapshot once one was received)."""
        request = notifications_service_pb2.WatchNotificationsRequest()
        request.CopyFrom(self._request)
        request.resume_token = self.resume_token
        return request

    def accept(
        self, response: notifications_service_pb2.WatchNotificationsResponse
    ) -> notifications_service_pb2.WatchNotificationsResponse | None:
        """Record the position; hand on snapshots, new notifications, and heartbeats that change the count."""
        if response.resume_token:
            self.resume_token = response.resume_token
        changed = response.unread_count != self.unread_count
        self.unread_count = response.unread_count
        kind = response.WhichOneof("event")
        if kind == "notification":
            if 0 < response.notification.sequence <= self.last_sequence:
                return None  # already delivered (never expected: the server resumes after the token)
            self.last_sequence = max(self.last_sequence, response.notification.sequence)
        elif kind == "snapshot":
            sequences = [item.sequence for item in response.snapshot.notifications]
            self.last_sequence = max([self.last_sequence, *sequences])
        elif not changed:
            return None  # a heartbeat that tells nothing new
        return response
