"""Market-data adapter of BarSource: stored 1-minute bars (GetBars) over gRPC, with the end user's credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.protobuf import timestamp_pb2
from grpc import aio

from trademesh.kernel.errors import Unavailable
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.analytics.mapping import instrument_to_proto
from trademesh.services.analytics.model import Instrument
from trademesh.services.analytics.model.excursions import Bar, BarWindow
from trademesh.services.core.channels import LazyChannel

if TYPE_CHECKING:
    from trademesh.marketdata.v1.marketdata_service_pb2_grpc import MarketDataServiceAsyncStub

PAGE_SIZE = 5_000
#: At most this many pages per holding period (100,000 minutes: beyond the bars' 30-day retention).
MAX_PAGES = 20


def _timestamp(time_us: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(time_us)
    return stamp


class GrpcBarSource:
    """The BarSource port on the market-data service."""

    def __init__(self, target: str, *, timeout_seconds: float) -> None:
        self._channel = LazyChannel(target)
        self._timeout = timeout_seconds

    def _stub(self) -> MarketDataServiceAsyncStub:
        return marketdata_service_pb2_grpc.MarketDataServiceStub(self._channel.get())

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def bars(self, instrument: Instrument, start_us: int, end_us: int, authorization: str) -> BarWindow:
        """Return the 1-minute bars starting in [start, end); an instrument market data does not know has none."""
        stub = self._stub()
        request = marketdata_service_pb2.GetBarsRequest(
            instrument=instrument_to_proto(instrument),
            interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE,
            start_time=_timestamp(start_us),
            end_time=_timestamp(end_us),
            page_size=PAGE_SIZE,
        )
        bars: list[Bar] = []
        earliest: int | None = None
        for _ in range(MAX_PAGES):
            try:
                response = await stub.GetBars(
                    request, metadata=(("authorization", authorization),), timeout=self._timeout
                )
            except aio.AioRpcError as error:
                if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    return BarWindow((), None)
                raise Unavailable(f"market data failed: {error.code().name}", reason="SERVICE_UNAVAILABLE") from None
            if response.HasField("earliest_available_time"):
                earliest = response.earliest_available_time.ToMicroseconds()
            bars.extend(
                Bar(bar.start_time.ToMicroseconds(), bar.low_micros, bar.high_micros)
                for bar in response.bars
                if bar.high_micros > 0 and bar.low_micros > 0
            )
            if not response.next_page_token:
                break
            request.page_token = response.next_page_token
        return BarWindow(tuple(bars), earliest)
