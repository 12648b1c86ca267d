"""The MarketDataService servicer: decode with mapping, call the use cases, encode; the stream write loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc import aio

from trademesh.kernel.errors import FieldViolation, InvalidArgument, Unavailable
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.core.identity import current_principal
from trademesh.services.marketdata.mapping import (
    bar_page_to_proto,
    bar_query,
    instrument_to_proto,
    quote_view_to_proto,
    requested_instrument,
    serialize_response,
)
from trademesh.services.marketdata.ports import QuoteStream
from trademesh.services.marketdata.service import MarketDataService
from trademesh.services.marketdata.watchlist_mapping import watchlist_draft, watchlist_to_proto
from trademesh.services.marketdata.watchlists import WatchlistService

logger = logging.getLogger(__name__)

SERVICE_NAME = marketdata_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name

Context = aio.ServicerContext[Any, Any]
WATCHLIST_METHODS = (
    "CreateWatchlist",
    "ListWatchlists",
    "GetWatchlist",
    "UpdateWatchlist",
    "DeleteWatchlist",
    "ReorderWatchlists",
)


class MarketDataServicer(marketdata_service_pb2_grpc.MarketDataServiceServicer):
    """Serve trademesh.marketdata.v1.MarketDataService over gRPC."""

    def __init__(self, service: MarketDataService, watchlists: WatchlistService) -> None:
        self._service = service
        self._watchlists = watchlists
        self._slow_consumer_after = service.policy.slow_consumer_after
        #: Open streams and the tasks serving them.
        self.streams: dict[QuoteStream, asyncio.Task[Any]] = {}
        self._slow: dict[QuoteStream, asyncio.Task[Any]] = {}

    async def GetQuote(
        self, request: marketdata_service_pb2.GetQuoteRequest, context: Context
    ) -> marketdata_service_pb2.GetQuoteResponse:
        requested = requested_instrument(request.instrument) if request.HasField("instrument") else None
        view = await self._service.get_quote(requested, request.mode)
        return marketdata_service_pb2.GetQuoteResponse(quote=quote_view_to_proto(view))

    async def GetQuotes(
        self, request: marketdata_service_pb2.GetQuotesRequest, context: Context
    ) -> marketdata_service_pb2.GetQuotesResponse:
        views, unknown = await self._service.get_quotes(
            [requested_instrument(item) for item in request.instruments], request.mode
        )
        return marketdata_service_pb2.GetQuotesResponse(
            quotes=[quote_view_to_proto(view) for view in views],
            not_found_instruments=[instrument_to_proto(key) for key in unknown],
        )

    async def SubscribeQuotes(  # type: ignore[override]
        self, request: marketdata_service_pb2.SubscribeQuotesRequest, context: Context
    ) -> None:
        principal = current_principal()
        requested = [requested_instrument(item) for item in request.instruments]
        if request.watchlist_id:
            if requested:
                raise InvalidArgument(
                    "set either instruments or watchlist_id",
                    [FieldViolation("watchlist_id", "must be empty when instruments are given")],
                    reason="CONFLICTING_INSTRUMENTS",
                )
            requested = list(await self._watchlists.instruments_of(principal.subject, request.watchlist_id))
        subscription = self._service.subscribe(principal, requested, request.mode, request.max_updates_per_second)
        async with subscription as opened:
            stream = opened.stream
            task = asyncio.current_task()
            assert task is not None
            self.streams[stream] = task
            loop = asyncio.get_running_loop()
            try:
                # context.write, not `yield`: a write that HTTP/2 flow control holds back (the client stopped
                # reading) can be interrupted (`watch_slow_consumers` cancels it), and the stream then ends
                # with a status the client does get.
                async for message in opened.messages():
                    stream.write_started = loop.time()
                    await context.write(message)
                    stream.write_started = None
            except asyncio.CancelledError:
                if stream.write_started is None or self._slow.pop(stream, None) is None:
                    raise
                task.uncancel()
                raise Unavailable(
                    f"the client accepted no message for {self._slow_consumer_after:g} s; reconnect",
                    reason="SLOW_CONSUMER",
                ) from None
            finally:
                self.streams.pop(stream, None)
                self._slow.pop(stream, None)

    async def watch_slow_consumers(self) -> None:
        """End streams whose client accepted no message for `slow_consumer_after` (until cancelled).

        One periodic sweep instead of a timeout around every write: `asyncio.wait_for` wraps each
        write in a task, which at thousands of writes a second was a tenth of the replica's time.
        """
        limit = self._slow_consumer_after
        period = min(max(limit / 4, 0.05), 1.0)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for stream, task in list(self.streams.items()):
                started = stream.write_started
                if started is not None and now - started >= limit and stream not in self._slow:
                    self._slow[stream] = task
                    task.cancel()

    async def GetBars(
        self, request: marketdata_service_pb2.GetBarsRequest, context: Context
    ) -> marketdata_service_pb2.GetBarsResponse:
        return bar_page_to_proto(await self._service.get_bars(bar_query(request)))

    # ---- watchlists

    async def CreateWatchlist(
        self, request: marketdata_service_pb2.CreateWatchlistRequest, context: Context
    ) -> marketdata_service_pb2.CreateWatchlistResponse:
        created = await self._watchlists.create(current_principal().subject, watchlist_draft(request.watchlist))
        return marketdata_service_pb2.CreateWatchlistResponse(watchlist=watchlist_to_proto(created))

    async def ListWatchlists(
        self, request: marketdata_service_pb2.ListWatchlistsRequest, context: Context
    ) -> marketdata_service_pb2.ListWatchlistsResponse:
        lists = await self._watchlists.list(current_principal().subject)
        return marketdata_service_pb2.ListWatchlistsResponse(watchlists=[watchlist_to_proto(item) for item in lists])

    async def GetWatchlist(
        self, request: marketdata_service_pb2.GetWatchlistRequest, context: Context
    ) -> marketdata_service_pb2.GetWatchlistResponse:
        found = await self._watchlists.get(current_principal().subject, request.id)
        return marketdata_service_pb2.GetWatchlistResponse(watchlist=watchlist_to_proto(found))

    async def UpdateWatchlist(
        self, request: marketdata_service_pb2.UpdateWatchlistRequest, context: Context
    ) -> marketdata_service_pb2.UpdateWatchlistResponse:
        changed = await self._watchlists.update(
            current_principal().subject, watchlist_draft(request.watchlist), list(request.update_mask.paths)
        )
        return marketdata_service_pb2.UpdateWatchlistResponse(watchlist=watchlist_to_proto(changed))

    async def DeleteWatchlist(
        self, request: marketdata_service_pb2.DeleteWatchlistRequest, context: Context
    ) -> marketdata_service_pb2.DeleteWatchlistResponse:
        await self._watchlists.delete(current_principal().subject, request.id, request.etag)
        return marketdata_service_pb2.DeleteWatchlistResponse()

    async def ReorderWatchlists(
        self, request: marketdata_service_pb2.ReorderWatchlistsRequest, context: Context
    ) -> marketdata_service_pb2.ReorderWatchlistsResponse:
        lists = await self._watchlists.reorder(current_principal().subject, list(request.ids))
        return marketdata_service_pb2.ReorderWatchlistsResponse(watchlists=[watchlist_to_proto(item) for item in lists])


def _unary(method: Any, request: Any, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        method, request_deserializer=request.FromString, response_serializer=response.SerializeToString
    )


def add_to_server(servicer: MarketDataServicer, server: aio.Server) -> None:
    """Register the servicer; SubscribeQuotes responses are pre-encoded bytes (see codec)."""
    messages = marketdata_service_pb2
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "GetQuote": grpc.unary_unary_rpc_method_handler(
            servicer.GetQuote,
            request_deserializer=messages.GetQuoteRequest.FromString,
            response_serializer=messages.GetQuoteResponse.SerializeToString,
        ),
        "GetQuotes": grpc.unary_unary_rpc_method_handler(
            servicer.GetQuotes,
            request_deserializer=messages.GetQuotesRequest.FromString,
            response_serializer=messages.GetQuotesResponse.SerializeToString,
        ),
        "SubscribeQuotes": grpc.unary_stream_rpc_method_handler(
            servicer.SubscribeQuotes,
            request_deserializer=messages.SubscribeQuotesRequest.FromString,
            response_serializer=serialize_response,
        ),
        "GetBars": grpc.unary_unary_rpc_method_handler(
            servicer.GetBars,
            request_deserializer=messages.GetBarsRequest.FromString,
            response_serializer=messages.GetBarsResponse.SerializeToString,
        ),
        **{
            name: _unary(
                getattr(servicer, name), getattr(messages, f"{name}Request"), getattr(messages, f"{name}Response")
            )
            for name in WATCHLIST_METHODS
        },
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
