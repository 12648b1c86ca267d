"""Metrics: the Prometheus endpoint of a replica shows its streams and RPC durations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.marketdata.helpers import nse, subscribe_request
from trademesh.devstack.processes import find_free_port
from trademesh.marketdata.v1 import marketdata_service_pb2


async def _scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rpc_server_duration_seconds_count":
                key = f"{sample.name}{{{sample.labels['rpc_method']},{sample.labels['rpc_grpc_status_code']}}}"
                samples[key] = samples.get(key, 0) + sample.value
            else:
                samples[sample.name] = samples.get(sample.name, 0) + sample.value
    return samples


async def test_a_replica_exports_open_streams_updates_and_rpc_durations(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    host, stub = await start_marketdata(metrics_port=find_free_port(), metrics_host="127.0.0.1")
    port = host.extra_ports["metrics"]
    user = await new_user()
    before = await _scrape(port)
    call = stub.SubscribeQuotes(subscribe_request("INFY", "TCS", rate=10), metadata=user.metadata)
    for _ in range(4):
        await call.read()
    during = await _scrape(port)
    call.cancel()
    await stub.GetQuote(marketdata_service_pb2.GetQuoteRequest(instrument=nse("INFY")[0]), metadata=user.metadata)
    after = await _scrape(port)

    assert during["trademesh_marketdata_active_streams"] == before["trademesh_marketdata_active_streams"] + 1
    assert during["trademesh_marketdata_messages_sent_total"] >= before["trademesh_marketdata_messages_sent_total"] + 4
    assert during["trademesh_marketdata_updates_sent_total"] > before["trademesh_marketdata_updates_sent_total"]
    ok_quotes = "rpc_server_duration_seconds_count{/trademesh.marketdata.v1.MarketDataService/GetQuote,OK}"
    assert after[ok_quotes] == before.get(ok_quotes, 0) + 1

    async def stream_closed() -> bool:
        scraped = await _scrape(port)
        return scraped["trademesh_marketdata_active_streams"] == before["trademesh_marketdata_active_streams"]

    await eventually(stream_closed, within=5)
