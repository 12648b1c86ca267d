"""`core.pubsub.pubsub_messages` on a real Redis: every message once and in order, the fast path's buffered
replies (decision 0330) actually in use with the pinned redis-py and hiredis (a redis-py upgrade that moves its
parser's reader would fall back to `get_message` silently; this test says so), pattern messages and
subscription confirmations still through redis-py."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from trademesh.services.core.pubsub import _buffered_replies, pubsub_messages


async def test_a_burst_arrives_whole_in_order_through_the_buffered_replies(redis: Redis) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe("t:a", "t:b")
    await pubsub.psubscribe("p:*")
    assert _buffered_replies(pubsub) is not None, "the hiredis reader is not where core/pubsub.py looks for it"
    sent = [(f"t:{'ab'[n % 2]}", f"m{n}") for n in range(2_000)]
    async with redis.pipeline(transaction=False) as pipe:
        for channel, data in sent:
            pipe.publish(channel, data)
        pipe.publish("p:x", "pattern")
        await pipe.execute()
    done = False
    received: list[tuple[str, str, str]] = []

    async def read() -> None:
        async for kind, channel, data in pubsub_messages(pubsub, asyncio.Lock(), lambda: done):
            if kind in ("message", "pmessage"):
                received.append((kind, channel, data.decode() if isinstance(data, bytes) else str(data)))
                if len(received) == len(sent) + 1:
                    return

    await asyncio.wait_for(read(), 30)
    done = True
    assert [(channel, data) for kind, channel, data in received if kind == "message"] == sent
    assert [item for item in received if item[0] == "pmessage"] == [("pmessage", "p:x", "pattern")]
    await pubsub.aclose()  # type: ignore[no-untyped-call]
