"""`core.pubsub.pubsub_messages` takes pattern messages (the notifications' inbox signals, one per notification)
straight from the hiredis reader too: a burst of them arrives whole and in order, interleaved with plain messages,
while a pattern subscribed with a handler still reaches its handler through redis-py."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from trademesh.services.core.pubsub import pubsub_messages


async def test_pattern_messages_arrive_in_order_and_a_handled_pattern_still_reaches_its_handler(redis: Redis) -> None:
    handled: list[bytes] = []

    def handler(message: dict[str, Any]) -> None:
        handled.append(message["data"])

    pubsub = redis.pubsub()
    await pubsub.subscribe("fast:t")
    await pubsub.psubscribe("fast:p:*")
    await pubsub.psubscribe(**{"fast:h:*": handler})
    sent = [("pmessage", f"fast:p:{n % 7}", f"p{n}") if n % 3 else ("message", "fast:t", f"m{n}") for n in range(3_000)]
    async with redis.pipeline(transaction=False) as pipe:
        for _, channel, data in sent:
            pipe.publish(channel, data)
        pipe.publish("fast:h:x", "handled")
        pipe.publish("fast:t", "last")
        await pipe.execute()
    done = False
    received: list[tuple[str, str, str]] = []

    async def read() -> None:
        async for kind, channel, data in pubsub_messages(pubsub, asyncio.Lock(), lambda: done):
            if kind in ("message", "pmessage"):
                received.append((kind, channel, data.decode()))
                if data == b"last":
                    return

    await asyncio.wait_for(read(), 30)
    done = True
    assert received == [*sent, ("message", "fast:t", "last")]  # the handled one is not yielded
    assert handled == [b"handled"]
    await pubsub.aclose()  # type: ignore[no-untyped-call]
