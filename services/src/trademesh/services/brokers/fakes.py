"""Run the fake brokers: `python -m trademesh.services.brokers.fakes [--kite-port N] [--upstox-port N] [--demo]`.

With `--demo` each fake gets one demo app whose user has a dozen trades today, and accepts any
request token / authorization code (once), so a local user can link and sync without a broker
account: see DEMO_* below and the sync README.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from trademesh.kernel.calendar import IST
from trademesh.services.brokers.upstox.fake import FakeUpstox, upstox_trade
from trademesh.services.brokers.zerodha.fake import FakeKite, kite_trade
from trademesh.services.core.server import termination_requested

DEMO_KITE_API_KEY = "trademesh-demo-kite"
DEMO_KITE_API_SECRET = "trademesh-demo-secret"
DEMO_UPSTOX_CLIENT_ID = "trademesh-demo-upstox"
DEMO_UPSTOX_CLIENT_SECRET = "trademesh-demo-secret"
DEMO_TRADES = 12

logger = logging.getLogger(__name__)


def sample_book(count: int, row: Any = kite_trade, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return `count` plausible equity fills of today, all in the past, alternating buys and sells."""
    moment = (now or datetime.now(IST)).astimezone(IST)
    symbols = ("INFY", "TCS", "RELIANCE", "HDFCBANK", "SBIN", "ITC", "LT", "AXISBANK")
    rows = []
    for index in range(count):
        when = moment - timedelta(minutes=1, seconds=index % 3600)
        rows.append(
            row(
                symbol=symbols[index % len(symbols)],
                side="BUY" if index % 2 == 0 else "SELL",
                quantity=1 + index % 7,
                price=round(100 + (index % 900) + 0.05 * (index % 20), 2),
                when=when,
            )
        )
    return rows


async def serve(kite_port: int, upstox_port: int | None, demo: bool, rate_limit: float) -> None:
    """Serve until SIGTERM/SIGINT."""
    kite = FakeKite(rate_limit)
    upstox = FakeUpstox(rate_limit)
    if demo:
        kite.add_app(DEMO_KITE_API_KEY, DEMO_KITE_API_SECRET, "ZD1234", "Demo Trader").trades = sample_book(DEMO_TRADES)
        app = upstox.add_app(DEMO_UPSTOX_CLIENT_ID, DEMO_UPSTOX_CLIENT_SECRET, "UP1234", "Demo Trader")
        app.trades = sample_book(DEMO_TRADES, upstox_trade)
    logger.info("fake Kite Connect at %s", await kite.start(port=kite_port))
    if upstox_port is not None:
        logger.info("fake Upstox at %s", await upstox.start(port=upstox_port))
    if demo:
        logger.info(
            "demo Kite login: api_key=%s api_secret=%s request_token=<anything>",
            DEMO_KITE_API_KEY,
            DEMO_KITE_API_SECRET,
        )
    await termination_requested().wait()
    await kite.stop()
    await upstox.stop()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.brokers.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--kite-port", type=int, default=5090, help="fake Kite port (default: %(default)s)")
    parser.add_argument("--upstox-port", type=int, default=None, help="also serve a fake Upstox on this port")
    parser.add_argument("--demo", action="store_true", help="add the demo apps and trades")
    parser.add_argument("--rate-limit", type=float, default=10.0, help="requests/s per app before 429")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(args.kite_port, args.upstox_port, args.demo, args.rate_limit))


if __name__ == "__main__":
    main()
