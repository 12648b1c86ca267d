"""Reading a Redis pub/sub connection that stays alive while its channels are quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio.client import PubSub

#: Seconds one read waits for a message; after five empty reads in a row the connection is pinged.
_READ_TIMEOUT_SECONDS = 1.0
_PING_EVERY_IDLE_READS = 5


async def pubsub_messages(
    pubsub: PubSub, lock: asyncio.Lock, closed: Callable[[], bool]
) -> AsyncIterator[tuple[str, str, Any]]:
    """Yield every message's type, channel name and data until `closed()` says so.

    A connection that hears nothing for about five seconds is pinged (holding `lock`, which guards the
    connection's other commands), so a dead connection raises instead of waiting forever; the pongs
    (messages without a channel) are not yielded.
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
        if channel is None:
            continue  # pong
        yield message["type"], channel.decode() if isinstance(channel, bytes) else channel, message["data"]
