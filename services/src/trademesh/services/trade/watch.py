"""WatchTrades: snapshot or replay from the user's event stream, then live events and heartbeats.

The user's Redis stream (`trade-events:user:<id>`, 7-day retention) is the replay log: an event's
sequence is derived from its stream entry id and its resume token is the signed entry id, so
resuming is "read the stream after this entry" — nothing missed, nothing twice.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from trademesh.kernel.errors import FieldViolation, InvalidArgument, ResourceExhausted
from trademesh.kernel.events import entry_sequence
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.timestamps import timestamp
from trademesh.services.trade.events import RETENTION, RedisTradeFeed
from trademesh.services.trade.mapping import trade_to_proto
from trademesh.services.trade.model import user_tag
from trademesh.services.trade.store import MongoTradeStore
from trademesh.trade.v1 import trade_event_pb2, trade_service_pb2

DEFAULT_HEARTBEAT = 15.0
_ENTRY_ID = re.compile(r"([0-9]{1,13})-([0-9]{1,7})")
MIN_HEARTBEAT = 5.0
MAX_HEARTBEAT = 120.0


def resume_token_invalid() -> InvalidArgument:
    """Return the error for a malformed, tampered or foreign resume token."""
    return InvalidArgument(
        "resume_token is invalid",
        [FieldViolation("resume_token", "malformed, tampered or another user's token")],
        reason="RESUME_TOKEN_INVALID",
    )


class TradeWatcher:
    """Serve WatchTrades streams for one process."""

    def __init__(
        self,
        store: MongoTradeStore,
        feed: RedisTradeFeed,
        codec: Codec,
        *,
        max_per_user: int,
        max_lifetime: float,
        retention: timedelta = RETENTION,
    ) -> None:
        self._store = store
        self._feed = feed
        self._codec = codec
        self._max_per_user = max_per_user
        self._max_lifetime = max_lifetime
        self._retention = retention
        self._open: Counter[str] = Counter()
        self.stopping = asyncio.Event()

    def token(self, user_id: str, entry_id: str) -> str:
        """Return the resume token continuing after `entry_id`."""
        return self._codec.encode({"k": "watch", "u": user_tag(user_id), "e": entry_id})

    def _entry_of(self, user_id: str, token: str) -> str:
        payload = self._codec.decode(token)
        if payload is None or payload.get("k") != "watch" or payload.get("u") != user_tag(user_id):
            raise resume_token_invalid()
        entry = payload.get("e")
        # A Redis stream id: ASCII digits only (str.isdigit also takes "²") and small enough for the int64
        # sequence made of it (entry_sequence), so a token signed with a leaked secret cannot cause INTERNAL.
        match = _ENTRY_ID.fullmatch(entry) if isinstance(entry, str) else None
        if match is None or int(match[1]) >= 9_000_000_000_000 or int(match[2]) >= 1_000_000:
            raise resume_token_invalid()
        return match[0]

    async def watch(
        self, user_id: str, request: trade_service_pb2.WatchTradesRequest
    ) -> AsyncIterator[trade_service_pb2.WatchTradesResponse]:
        """Yield the stream's messages until the client leaves, the server stops or the lifetime ends."""
        heartbeat = DEFAULT_HEARTBEAT
        if request.HasField("heartbeat_interval"):
            seconds = request.heartbeat_interval.seconds + request.heartbeat_interval.nanos / 1e9
            if seconds < 0:
                raise InvalidArgument(
                    "heartbeat_interval must not be negative", [FieldViolation("heartbeat_interval", "must be >= 0")]
                )
            if seconds > 0:
                heartbeat = min(max(seconds, MIN_HEARTBEAT), MAX_HEARTBEAT)
        entry = self._entry_of(user_id, request.resume_token) if request.resume_token else None
        if self._open[user_id] >= self._max_per_user:
            raise ResourceExhausted(
                "too many open WatchTrades streams", retry_after_seconds=5.0, reason="TOO_MANY_WATCHES"
            )
        self._open[user_id] += 1
        try:
            async for message in self._stream(user_id, entry, request.include_deleted, heartbeat):
                yield message
        finally:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    async def _stream(
        self, user_id: str, entry: str | None, include_deleted: bool, heartbeat: float
    ) -> AsyncIterator[trade_service_pb2.WatchTradesResponse]:
        last_token = ""
        if entry is not None:
            cutoff_ms = int((time.time() - self._retention.total_seconds()) * 1000)
            if int(entry.partition("-")[0]) < cutoff_ms:
                entry = None
                reason = trade_event_pb2.SNAPSHOT_REASON_RESUME_TOKEN_EXPIRED
            else:
                last_token = self.token(user_id, entry)
        else:
            reason = trade_event_pb2.SNAPSHOT_REASON_NO_RESUME_TOKEN
        if entry is None:
            # Read the stream position first: changes after it are sent live (maybe twice, by version).
            entry = await self._feed.position(user_id)
            sequence = entry_sequence(entry)
            now = datetime.now(UTC)
            trades = [t for t in await self._store.all_trades(user_id, include_deleted) if not t.purged(now)]
            yield trade_service_pb2.WatchTradesResponse(
                snapshot_begin=trade_event_pb2.SnapshotBegin(reason=reason, trade_count=len(trades))
            )
            taken = timestamp(now)
            for trade in trades:
                yield trade_service_pb2.WatchTradesResponse(
                    event=trade_event_pb2.TradeEvent(
                        event_id=f"snapshot:{uuid.uuid4().hex}",
                        type=trade_event_pb2.TRADE_EVENT_TYPE_SNAPSHOT,
                        trade=trade_to_proto(trade),
                        sequence=sequence,
                        event_time=taken,
                    )
                )
            last_token = self.token(user_id, entry)
            yield trade_service_pb2.WatchTradesResponse(
                snapshot_end=trade_event_pb2.SnapshotEnd(sequence=sequence, resume_token=last_token)
            )
        started = time.monotonic()
        quiet_since = time.monotonic()
        while not self.stopping.is_set() and time.monotonic() - started < self._max_lifetime:
            items = await self._feed.read_after(user_id, entry)
            for entry_id, payload in items:
                event = trade_event_pb2.TradeEvent()
                event.ParseFromString(payload)
                entry = entry_id
                last_token = self.token(user_id, entry_id)
                event.sequence = entry_sequence(entry_id)
                event.resume_token = last_token
                yield trade_service_pb2.WatchTradesResponse(event=event)
                quiet_since = time.monotonic()
            if time.monotonic() - quiet_since >= heartbeat:
                yield trade_service_pb2.WatchTradesResponse(
                    heartbeat=trade_event_pb2.Heartbeat(
                        heartbeat_time=timestamp(datetime.now(UTC)), resume_token=last_token
                    )
                )
                quiet_since = time.monotonic()
