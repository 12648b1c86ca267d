"""The fake Kite process: serves the sample books and counts the requests it answered."""

from __future__ import annotations

import json
import urllib.request

from bench.sync_bench.common import SECRET, SOLO_KEY, _sweep_key
from trademesh.services.core.server import termination_requested


async def _serve_fake(port: int, solo_trades: int, accounts: int, per_account: int) -> None:
    from aiohttp import web

    from trademesh.services.brokers.fakes import sample_book
    from trademesh.services.brokers.zerodha.fake import FakeKite

    kite = FakeKite()
    kite.add_app(SOLO_KEY, SECRET, "SOLO01", "Solo Trader").trades = sample_book(solo_trades)
    for index in range(accounts):
        kite.add_app(_sweep_key(index), SECRET, f"SW{index:05d}", "Sweep Trader").trades = sample_book(per_account)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": kite.total_requests,
                "rate_limited": kite.total_rate_limited,
                "peak_per_second": max((app.peak_per_second for app in kite.apps.values()), default=0),
            }
        )

    original = kite.routes
    kite.routes = lambda: [*original(), web.get("/__bench/stats", stats)]  # type: ignore[method-assign]
    await kite.start(port=port)
    print("ready", flush=True)
    await termination_requested().wait()
    await kite.stop()


def _fake_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url + "/__bench/stats", timeout=10) as response:  # noqa: S310 - loopback
        data: dict[str, int] = json.load(response)
        return data
