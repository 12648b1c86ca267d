"""Fuzzed requests never produce INTERNAL (or UNKNOWN): every failure is a documented status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MeshUser
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
symbols = st.one_of(
    st.sampled_from(["INFY", "TCS", "M&M", "BAJAJ-AUTO", "NOPE", "infy", "", "A" * 65, "RELIANCE"]),
    st.text(max_size=70),
)
instruments = st.builds(
    lambda symbol, exchange: instrument_pb2.Instrument(symbol=symbol, exchange=exchange),
    symbols,
    st.integers(min_value=0, max_value=12),
)
requests = st.builds(
    lambda items, mode, rate: marketdata_service_pb2.SubscribeQuotesRequest(
        instruments=items, mode=mode, max_updates_per_second=rate
    ),
    st.lists(instruments, max_size=8),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=0, max_value=2**32 - 1),
)


@pytest.fixture
async def fuzz_target(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> tuple[Any, MeshUser]:
    _, stub = await start_marketdata(max_streams_per_user=10_000, max_instruments_per_stream=5)
    return stub, await new_user()


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await asyncio.wait_for(call, 5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
async def test_fuzzed_subscriptions_never_fail_internally(
    fuzz_target: tuple[Any, MeshUser], request: marketdata_service_pb2.SubscribeQuotesRequest
) -> None:
    stub, user = fuzz_target
    call = stub.SubscribeQuotes(request, metadata=user.metadata)
    code = await _code(call.read())
    call.cancel()
    assert code in ALLOWED


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(instruments, max_size=8), mode=st.integers(min_value=0, max_value=9))
async def test_fuzzed_quote_lookups_never_fail_internally(
    fuzz_target: tuple[Any, MeshUser], items: list[instrument_pb2.Instrument], mode: int
) -> None:
    stub, user = fuzz_target
    many = marketdata_service_pb2.GetQuotesRequest(instruments=items, mode=mode)  # type: ignore[arg-type]
    assert await _code(stub.GetQuotes(many, metadata=user.metadata)) in ALLOWED
    if items:
        one = marketdata_service_pb2.GetQuoteRequest(instrument=items[0], mode=mode)  # type: ignore[arg-type]
        assert await _code(stub.GetQuote(one, metadata=user.metadata)) in ALLOWED


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    item=instruments,
    interval=st.integers(min_value=0, max_value=3),
    start=st.one_of(st.none(), st.sampled_from([-62135596801, 253402300800]), st.integers(-(2**40), 2**40)),
    end=st.one_of(st.none(), st.sampled_from([-62135596801, 253402300800]), st.integers(-(2**40), 2**40)),
    nanos=st.sampled_from([0, 999_999_999, -1, 1_000_000_000]),
    page_size=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    token=st.one_of(st.just(""), st.text(max_size=40)),
)
async def test_fuzzed_bar_requests_never_fail_internally(
    fuzz_target: tuple[Any, MeshUser],
    item: instrument_pb2.Instrument,
    interval: int,
    start: int | None,
    end: int | None,
    page_size: int,
    token: str,
    nanos: int,
) -> None:
    stub, user = fuzz_target
    request = marketdata_service_pb2.GetBarsRequest(
        instrument=item,
        interval=interval,  # type: ignore[arg-type]
        page_size=page_size,
        page_token=token,
    )
    if start is not None:
        request.start_time.seconds = start  # unchecked: the server must reject out-of-range times itself
        request.start_time.nanos = nanos
    if end is not None:
        request.end_time.seconds = end
    assert await _code(stub.GetBars(request, metadata=user.metadata)) in ALLOWED
