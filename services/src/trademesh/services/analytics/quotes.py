"""Market-data adapter: latest quotes (GetQuotes) and live ticks (SubscribeQuotes) over gRPC.

Calls carry the end user's own `authorization` header, so market data applies that user's limits and
analytics needs no service identity of its own (docs/decisions/0060).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import grpc
from grpc import aio

from trademesh.kernel.errors import Unauthenticated, Unavailable
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.analytics.mapping import instrument_from_proto, instrument_to_proto, mark_from_quote
from trademesh.services.analytics.model import Instrument, Mark
from trademesh.services.core.channels import LazyChannel

if TYPE_CHECKING:
    from trademesh.marketdata.v1.marketdata_service_pb2_grpc import MarketDataServiceAsyncStub

logger = logging.getLogger(__name__)

GET_QUOTES_LIMIT = 500
STREAM_LIMIT = 200


def _error(error: aio.AioRpcError) -> Exception:
    if error.code() == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated("the access token was rejected by market data", reason="TOKEN_EXPIRED")
    return Unavailable(f"market data failed: {error.code().name}", reason="SERVICE_UNAVAILABLE")


class GrpcQuoteSource:
    """The QuoteSource and QuoteStream ports on the market-data service."""

    def __init__(self, target: str, *, timeout_seconds: float) -> None:
        self._channel = LazyChannel(target)
        self._timeout = timeout_seconds

    def _stub(self) -> MarketDataServiceAsyncStub:
        return marketdata_service_pb2_grpc.MarketDataServiceStub(self._channel.get())

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def marks(self, instruments: Sequence[Instrument], authorization: str) -> dict[Instrument, Mark]:
        """Return marks of the priced instruments; unknown or unpriced ones are left out."""
        return (await self.quotes(instruments, authorization))[0]

    async def quotes(
        self, instruments: Sequence[Instrument], authorization: str
    ) -> tuple[dict[Instrument, Mark], set[Instrument]]:
        """Return marks of the priced instruments and the set market data knows (priced or not yet)."""
        stub = self._stub()
        marks: dict[Instrument, Mark] = {}
        known: set[Instrument] = set()
        for start in range(0, len(instruments), GET_QUOTES_LIMIT):
            request = marketdata_service_pb2.GetQuotesRequest(
                instruments=[instrument_to_proto(i) for i in instruments[start : start + GET_QUOTES_LIMIT]]
            )
            try:
                response = await stub.GetQuotes(
                    request, metadata=(("authorization", authorization),), timeout=self._timeout
                )
            except aio.AioRpcError as error:
                raise _error(error) from None
            for quote in response.quotes:
                instrument = instrument_from_proto(quote.instrument)
                known.add(instrument)
                mark = mark_from_quote(quote)
                if mark is not None:
                    marks[instrument] = mark
        return marks, known

    async def subscribe(
        self, instruments: Sequence[Instrument], authorization: str, rate: int
    ) -> AsyncIterator[dict[Instrument, Mark]]:
        """Yield batches of new marks of `instruments` (known to market data) as ticks arrive."""
        queue: asyncio.Queue[dict[Instrument, Mark] | BaseException] = asyncio.Queue()
        stub = self._stub()

        async def pump(chunk: Sequence[Instrument]) -> None:
            request = marketdata_service_pb2.SubscribeQuotesRequest(
                instruments=[instrument_to_proto(i) for i in chunk], max_updates_per_second=rate
            )
            try:
                async for response in stub.SubscribeQuotes(request, metadata=(("authorization", authorization),)):
                    if response.WhichOneof("event") != "batch":
                        continue
                    batch = {
                        instrument_from_proto(quote.instrument): mark
                        for quote in response.batch.quotes
                        if (mark := mark_from_quote(quote)) is not None
                    }
                    if batch:
                        queue.put_nowait(batch)
                queue.put_nowait(Unavailable("the quote stream ended", reason="SERVICE_UNAVAILABLE"))
            except aio.AioRpcError as error:
                queue.put_nowait(_error(error))

        # One market-data stream per 200 instruments (its per-stream limit), merged here.
        tasks = [
            asyncio.create_task(pump(instruments[start : start + STREAM_LIMIT]))
            for start in range(0, len(instruments), STREAM_LIMIT)
        ]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
