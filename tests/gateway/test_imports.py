"""Long unary calls through the real Envoy: a large Zerodha tradebook import into the real trade service.

The gateway here gets a default unary timeout far shorter than any import, so an import that succeeds
proves its route has a timeout of its own (the catalog's IMPORT_TIMEOUT_SECONDS, checked in
test_config.py); a client deadline shorter than the route's still ends the call, at the client's time.
The 50,000-row figures are bench/import_bench.py's, not the suite's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc import aio

from tests.eventually import eventually
from tests.gateway.conftest import Gateway, ServiceCalls, grpc_endpoint
from tests.gateway.trade_gateway import (
    SHORT_UNARY_TIMEOUT_SECONDS,
    NewUser,
    import_gateway,
    import_request,
    trade_host,
    web_import,
)
from tests.rpc import bearer, expect_failure
from trademesh.services.core.server import ServiceHost
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

__all__ = ["import_gateway", "trade_host"]

#: The layout of a Zerodha Console equity tradebook, as in the trade service's own test file.
ZERODHA_SAMPLE = Path(__file__).parents[1] / "trade" / "data" / "zerodha_tradebook_eq.csv"
#: Enough rows to take seconds, not milliseconds, while keeping the suite quick.
ROWS = 3_000
#: What the SDK, the CLI and the browser client give an import (trade_service.proto asks for 120 s).
CLIENT_DEADLINE_SECONDS = 120.0
SYMBOLS = ("INFY", "TCS", "RELIANCE", "SBIN", "ITC")


def zerodha_tradebook(rows: int) -> bytes:
    """A Zerodha equity tradebook with the sample's header and ``rows`` distinct fills (300 a day)."""
    header = ZERODHA_SAMPLE.read_text().splitlines()[0]
    lines = [header]
    first_day = datetime(2023, 1, 2, 9, 15)
    for index in range(rows):
        moment = first_day + timedelta(days=index // 300, minutes=index % 300)
        lines.append(
            f"{SYMBOLS[index % len(SYMBOLS)]},,{moment:%Y-%m-%d},NSE,EQ,EQ,{'buy' if index % 2 == 0 else 'sell'},"
            f"false,{1 + index % 7}.000000,{100 + index % 900}.050000,{80_000_000 + index},"
            f"{1_200_000_000_000_000 + index // 2},{moment:%Y-%m-%dT%H:%M:%S}"
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.timeout(240)
async def test_a_large_zerodha_tradebook_imports_through_the_gateway_over_grpc_and_grpc_web(
    import_gateway: Gateway, trade_host: ServiceHost, new_user: NewUser, service_calls: ServiceCalls
) -> None:
    content = zerodha_tradebook(ROWS)
    native_user, browser_user = await new_user(), await new_user()

    # Native gRPC, as the SDK and the CLI send it: a 120 s deadline (grpc-timeout) and gzip.
    async with import_gateway.channel() as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        started = time.monotonic()
        call = stub.ImportTrades(
            import_request(content),
            metadata=bearer(native_user.access_token),
            timeout=CLIENT_DEADLINE_SECONDS,
            compression=grpc.Compression.Gzip,
        )
        native = await call
        elapsed = time.monotonic() - started
        request_id = str(dict(await call.initial_metadata())["x-request-id"])

    # grpc-web, as the browser client sends it: timeoutMs 120000 becomes grpc-timeout.
    web = await web_import(import_gateway, browser_user.access_token, content)
    assert web.grpc_status == 0, web.trailers
    browser = trade_service_pb2.ImportTradesResponse.FromString(web.messages[0])

    for result in (native, browser):
        assert (result.rows_total, result.rows_created, result.rows_failed) == (ROWS, ROWS, 0)
    assert elapsed > SHORT_UNARY_TIMEOUT_SECONDS  # longer than the default route would have allowed
    [entry] = await import_gateway.access_log(request_id, 1)
    assert (entry["grpc_status"], entry["attempts"]) == ("OK", 1)
    assert [record.code for record in service_calls.with_request_id(request_id)] == ["OK"]
    # What the gateway reported is what the service stored (asked directly: ListTrades has the short route).
    async with aio.insecure_channel(str(grpc_endpoint(trade_host))) as channel:
        page = await trade_service_pb2_grpc.TradeServiceStub(channel).ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=1, import_id=native.import_id),
            metadata=bearer(native_user.access_token),
        )
    assert len(page.trades) == 1
    print(f"{ROWS:,}-row import through the gateway: {elapsed:.1f}s")


@pytest.mark.timeout(120)
async def test_a_client_deadline_shorter_than_the_route_timeout_ends_the_import_once(
    import_gateway: Gateway, new_user: NewUser, service_calls: ServiceCalls
) -> None:
    user = await new_user()
    request_id = uuid.uuid4().hex
    deadline = 0.5

    async with import_gateway.channel() as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        started = time.monotonic()
        failure = await expect_failure(
            stub.ImportTrades(
                import_request(zerodha_tradebook(ROWS)),
                metadata=(*bearer(user.access_token), ("x-request-id", request_id)),
                timeout=deadline,
            )
        )
        elapsed = time.monotonic() - started

    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < deadline + 5
    [entry] = await import_gateway.access_log(request_id, 1)
    assert entry["attempts"] == 1  # not sent again
    # The service logs the call as ended by its caller, not OK.
    [record] = await eventually(
        lambda: asyncio.to_thread(service_calls.with_request_id, request_id),
        within=15,
        what="the service's access log of the call",
    )
    assert record.code in {"DEADLINE_EXCEEDED", "CANCELLED"}
