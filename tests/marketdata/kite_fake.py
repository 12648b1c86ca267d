"""A local fake of Kite's ticker WebSocket: binary frames in Kite's layout, JSON subscriptions recorded.

Frame layout (big-endian): uint16 packet count, then per packet uint16 length + packet bytes.
Packets: 8 bytes LTP, 44 bytes quote, 184 bytes full (quote + last trade time, OI, OI day high/low,
exchange time, then 10 depth entries of uint32 quantity, uint32 price, uint16 orders, 2 padding).
Prices are paise for NSE.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

DATA = Path(__file__).parent / "data"


def fixture_packet(name: str) -> bytes:
    """Return a real KiteTicker packet from the fixtures (no frame header)."""
    return base64.b64decode((DATA / f"ticker_{name}.packet").read_text().strip())


def frame(*packets: bytes) -> bytes:
    """Wrap packets in one binary frame."""
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


def ltp_packet(token: int, price_paise: int) -> bytes:
    """Build an 8-byte LTP packet."""
    return struct.pack(">II", token, price_paise)


def full_packet(
    token: int,
    price_paise: int,
    *,
    quantity: int = 10,
    volume: int = 1000,
    close_paise: int = 0,
    timestamp: int = 1_700_000_000,
    bids: Sequence[tuple[int, int, int]] = (),
    asks: Sequence[tuple[int, int, int]] = (),
) -> bytes:
    """Build a 184-byte full packet; depth levels are (quantity, price_paise, orders)."""
    head = struct.pack(
        ">IIIIIIIIIII",
        token,
        price_paise,
        quantity,
        price_paise,
        volume,
        500,
        600,
        price_paise,
        price_paise + 100,
        price_paise - 100,
        close_paise or price_paise,
    )
    extra = struct.pack(">IIIII", timestamp, 0, 0, 0, timestamp)
    depth = b""
    for side in (bids, asks):
        levels = list(side)[:5] + [(0, 0, 0)] * (5 - len(side))
        depth += b"".join(struct.pack(">IIHH", q, p, o, 0) for q, p, o in levels)
    packet = head + extra + depth
    assert len(packet) == 184
    return packet


class FakeKiteTicker:
    """Serve Kite's ticker protocol on 127.0.0.1; every connection gets `frames`, then stays open."""

    def __init__(self, frames: Sequence[bytes]) -> None:
        self.frames = list(frames)
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.connections: list[ServerConnection] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """Return the ws:// root to give KiteTicker."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/"

    async def __aenter__(self) -> FakeKiteTicker:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def drop_connections(self) -> None:
        """Close every open connection abruptly (the client must reconnect)."""
        for connection in list(self.connections):
            connection.transport.abort()

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        assert connection.request is not None
        self.paths.append(connection.request.path)
        try:
            subscribed = asyncio.Event()

            async def reader() -> None:
                async for message in connection:
                    self.messages.append(json.loads(message))
                    if self.messages[-1].get("a") == "mode":
                        subscribed.set()

            reading = asyncio.create_task(reader())
            await asyncio.wait_for(subscribed.wait(), 10)
            for item in self.frames:
                await connection.send(item)
            await reading
        except Exception:  # noqa: S110 - a dropped connection ends the handler
            pass
        finally:
            self.connections.remove(connection)
