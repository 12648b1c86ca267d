"""Run KiteTickerFeed against a fake Kite ticker in this process and print what it saw as JSON.

Run as a subprocess by the tests: Twisted's reactor can start only once per process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib import resources
from pathlib import Path

from tests.marketdata.kite_fake import FakeKiteTicker, fixture_packet, frame, full_packet, ltp_packet
from trademesh.services.marketdata.feeds import KiteTickerFeed
from trademesh.services.marketdata.model import Normaliser, Source, SymbolUniverse

UNIVERSE = Path(str(resources.files("trademesh.services.marketdata") / "universe.csv"))
INFY, RELIANCE, UNKNOWN = 408065, 738561, 99


async def main() -> None:
    universe = SymbolUniverse.from_csv(UNIVERSE)
    frames = [
        frame(fixture_packet("full")),
        frame(fixture_packet("quote")),
        b"\x00",  # heartbeat
        frame(
            full_packet(RELIANCE, 128_540, close_paise=128_000, bids=[(10, 128_535, 2)], asks=[(7, 128_545, 1)]),
            ltp_packet(RELIANCE, 128_550),
        ),
        frame(ltp_packet(UNKNOWN, 100)),  # unknown token: dropped by the normaliser
        frame(struct_bad := b"\x00\x01\x00\x08\x00\x00"),  # truncated packet: malformed frame
        frame(b"\x00" * 12),  # a packet of an impossible size
    ]
    del struct_bad
    async with FakeKiteTicker(frames) as fake:
        feed = KiteTickerFeed(universe, "key", "token", fake.url)
        normaliser = Normaliser(universe, Source.KITE_TICKER)
        quotes = []
        phase = "first"
        reconnected = False

        async def consume() -> None:
            nonlocal phase, reconnected
            async for batch in feed.batches():
                for tick in batch:
                    quote = normaliser.normalise(tick, 1)
                    if quote is not None:
                        quotes.append((phase, quote))
                if phase == "first" and len(quotes) >= 4:
                    phase = "second"
                    await fake.drop_connections()
                elif phase == "second" and sum(1 for p, _ in quotes if p == "second") >= 4:
                    reconnected = True
                    feed.close()

        await asyncio.wait_for(consume(), 30)
    first = [q for p, q in quotes if p == "first"]
    infy = next(q for q in first if q.key.symbol == "INFY")
    reliance = [q for q in first if q.key.symbol == "RELIANCE"]
    print(
        json.dumps(
            {
                "reconnected": reconnected,
                "connects": feed.connects,
                "paths": fake.paths,
                "subscribes": [m for m in fake.messages if m.get("a") == "subscribe"],
                "modes": [m for m in fake.messages if m.get("a") == "mode"],
                "infy": {
                    "last": infy.last_price_micros,
                    "volume": infy.volume,
                    "bid": infy.bid_price_micros,
                    "ask": infy.ask_price_micros,
                    "bids": len(infy.bids),
                    "close": infy.close_micros,
                    "exchange_time_ns": infy.exchange_time_ns,
                },
                "reliance": [(q.last_price_micros, q.bid_price_micros, q.ask_price_micros) for q in reliance],
                "sequences": [q.sequence for q in first if q.key.symbol == "INFY"],
                "bad_frames": feed.bad_frames,
                "bad_ticks": normaliser.bad_ticks,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
