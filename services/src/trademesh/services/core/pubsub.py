"""Reading a Redis pub/sub connection that stays alive while its channels are quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio.client import PubSub

#: Seconds one read waits for a message; after five empty reads in a row the connection is pinged.
_READ_TIMEOUT_SECONDS = 1.0
_PING_EVERY_IDLE_READS = 5
_MESSAGE = b"message"
_PATTERN_MESSAGE = b"pmessage"


def _buffered_replies(pubsub: PubSub) -> Callable[[], Any] | None:
    """Return the connection's hiredis reader's `gets` (the next reply already received; redis-py's
    not-enough-data marker when none), or None without hiredis (each message is then read through
    `get_message`)."""
    parser = getattr(pubsub.connection, "_parser", None)
    reader = getattr(parser, "_reader", None)
    gets = getattr(reader, "gets", None)
    return gets if callable(gets) else None


async def pubsub_messages(
    pubsub: PubSub, lock: asyncio.Lock, closed: Callable[[], bool]
) -> AsyncIterator[tuple[str, str, Any]]:
    """Yield every message's type, channel name and data until `closed()` says so.

    A connection that hears nothing for about five seconds is pinged (holding `lock`, which guards the
    connection's other commands), so a dead connection raises instead of waiting forever; the pongs
    (messages without a channel) are not yielded.

    The hot path (decision 0330): `get_message` waits for the next message; the messages that arrived with
    it and already sit parsed in the connection's hiredis reader are then taken straight from it — a plain
    `message` (a channel's publish) is yielded as it is, without redis-py's per-message timeout, retry and
    bookkeeping layers (it keeps none for plain messages: no handlers are registered here), and so is a pattern
    message (`pmessage`: the notifications' inbox signals, one per notification) whose pattern has no handler;
    any other reply (subscription confirmations, pongs, a handled pattern) goes through `handle_message`.
    """
    idle = 0
    while not closed():
        message: dict[str, Any] | None = await pubsub.get_message(timeout=_READ_TIMEOUT_SECONDS)
        if message is None:
            idle += 1
            if idle % _PING_EVERY_IDLE_READS == 0:
                async with lock:
                    await pubsub.ping()
            continue
        channel = message["channel"]
        if channel is not None:  # else a pong
            yield message["type"], channel.decode() if isinstance(channel, bytes) else channel, message["data"]
        gets = _buffered_replies(pubsub)  # looked up again each time: a reconnection replaces the reader
        while gets is not None and not closed():
            reply = gets()
            if isinstance(reply, list):
                if len(reply) == 3 and reply[0] == _MESSAGE:
                    yield "message", reply[1].decode(), reply[2]
                    continue
                if len(reply) == 4 and reply[0] == _PATTERN_MESSAGE and pubsub.patterns.get(reply[1]) is None:
                    yield "pmessage", reply[2].decode(), reply[3]
                    continue
            elif isinstance(reply, Exception):
                raise reply
            elif not isinstance(reply, bytes):
                break  # nothing more received yet (the reader's not-enough-data marker)
            handled: dict[str, Any] | None = await pubsub.handle_message(reply)  # type: ignore[no-untyped-call]
            if handled is not None and handled["channel"] is not None:
                name = handled["channel"]
                yield handled["type"], name.decode() if isinstance(name, bytes) else name, handled["data"]
