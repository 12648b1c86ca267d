"""The trade-event envelope: how a trade change travels on Redis streams between services.

The trade service writes every change to the shared stream `trade-events` (consumer groups: analytics,
later notifications) and to the user's own stream (WatchTrades replay). An entry's fields are flat
strings; `payload` is a serialised `trademesh.trade.v1.TradeEvent`. This module owns the names and the
encoding of everything but the payload, for the writer and every reader. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["STREAM", "EventEnvelope", "entry_sequence", "user_stream"]

#: The shared stream every consumer group reads.
STREAM = "trade-events"

# Field names of an entry (the writer's Lua script and every reader use these).
EVENT_ID = "event_id"
USER_ID = "user_id"
TRADE_ID = "trade_id"
TYPE = "type"
VERSION = "version"
#: On the shared stream: the id of the same event's entry in the user's stream (its WatchTrades sequence).
USER_ENTRY = "user_entry"
PAYLOAD = "payload"


def user_stream(user_id: str, stream: str = STREAM) -> str:
    """Return the Redis key of one user's event stream."""
    return f"{stream}:user:{user_id}"


def entry_sequence(entry_id: str) -> int:
    """Turn a stream entry id ("<ms>-<n>") into an int64 that grows with the stream.

    Applied to an event's user-stream entry this is TradeEvent.sequence, the number WatchTrades clients
    resume from and analytics reports as its journal version.
    """
    millis, _, counter = entry_id.partition("-")
    return int(millis) * 1_000_000 + int(counter or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """One entry of the shared stream, decoded (the payload left serialised)."""

    event_id: str
    user_id: str
    trade_id: str
    type: str
    version: int
    #: The user-stream entry's sequence (entry_sequence of `user_entry`); 0 when absent.
    user_sequence: int
    payload: bytes

    @classmethod
    def decode(cls, fields: Mapping[bytes, bytes]) -> EventEnvelope | None:
        """Decode a shared-stream entry; None when it is malformed (a reader skips it)."""
        try:
            payload = fields[PAYLOAD.encode()]
            return cls(
                event_id=_text(fields.get(EVENT_ID.encode(), b"")),
                user_id=_text(fields[USER_ID.encode()]),
                trade_id=_text(fields.get(TRADE_ID.encode(), b"")),
                type=_text(fields.get(TYPE.encode(), b"")),
                version=int(_text(fields.get(VERSION.encode(), b"0"))),
                user_sequence=entry_sequence(_text(fields.get(USER_ENTRY.encode(), b"0-0"))),
                payload=payload,
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            return None
