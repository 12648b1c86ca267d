"""Reading a WatchTrades stream in the trade server tests."""

from __future__ import annotations

from typing import Any


async def collect(stream: Any, count: int) -> list[Any]:
    """The stream's first `count` items that are not heartbeats (then stops reading)."""
    items: list[Any] = []
    async for item in stream:
        if item.WhichOneof("item") == "heartbeat":
            continue
        items.append(item)
        if len(items) == count:
            break
    return items
