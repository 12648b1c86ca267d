"""The MarketDataService servicer: proto ⇄ domain mapping, limits, and the stream life cycle."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import grpc
from grpc import aio

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted, Unavailable
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.core.identity import ROLE_PREMIUM, current_principal
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.timestamps import nanos_of
from trademesh.services.marketdata.backplane import QuoteCache, StreamCounter, TickHub
from trademesh.services.marketdata.mapping import (
    EXCHANGE_FROM_PROTO,
    EncodedQuote,
    instrument_to_proto,
    quote_to_proto,
    serialize_response,
    timestamp_from_ns,
)
from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    InstrumentKey,
    Mode,
    RequestedInstrument,
    effective_rate,
    empty_quote,
    is_stale,
    minute_floor,
    unknown_instruments_error,
    validate_instrument,
    validate_instruments,
)
from trademesh.services.marketdata.store import MongoBarStore
from trademesh.services.marketdata.streams import QuoteStream, StreamPolicy

logger = logging.getLogger(__name__)

SERVICE_NAME = "trademesh.marketdata.v1.MarketDataService"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
PAGE_TOKEN_TTL_SECONDS = 86400

Context = aio.ServicerContext[Any, Any]


def _requested(item: instrument_pb2.Instrument) -> RequestedInstrument:
    return RequestedInstrument(EXCHANGE_FROM_PROTO.get(item.exchange, ""), item.symbol)


def _mode(value: int) -> Mode:
    if value == 0:
        return Mode.QUOTE
    try:
        return Mode(value)
    except ValueError:
        raise InvalidArgument(
            "unknown quote mode", [FieldViolation("mode", f"unknown value {value}")], reason="INVALID_MODE"
        ) from None


class MarketDataServicer(marketdata_service_pb2_grpc.MarketDataServiceServicer):
    """Serve trademesh.marketdata.v1.MarketDataService over gRPC."""

    def __init__(
        self,
        policy: StreamPolicy,
        cache: QuoteCache,
        hub: TickHub,
        counter: StreamCounter,
        bars: MongoBarStore,
        codec: Codec,
        *,
        max_instruments_per_stream: int,
        max_instruments_per_request: int,
        max_streams_per_user: int,
        max_streams_per_premium_user: int,
        default_rate: int,
        max_rate: int,
        retention_days: int,
    ) -> None:
        self._policy = policy
        self._cache = cache
        self._hub = hub
        self._counter = counter
        self._bars = bars
        self._codec = codec
        self._max_per_stream = max_instruments_per_stream
        self._max_per_request = max_instruments_per_request
        self._max_streams = max_streams_per_user
        self._max_streams_premium = max_streams_per_premium_user
        self._default_rate = default_rate
        self._max_rate = max_rate
        self._retention_ns = retention_days * 86400 * NANOS_PER_SECOND
        #: Open streams and the tasks serving them.
        self.streams: dict[QuoteStream, asyncio.Task[Any]] = {}
        self._slow: dict[QuoteStream, asyncio.Task[Any]] = {}

    def _message(self, key: InstrumentKey, quote: EncodedQuote | None, mode: Mode, now_ns: int) -> Any:
        policy = self._policy
        if quote is None:
            listed = policy.universe.get(key)
            assert listed is not None
            message = quote_to_proto(empty_quote(listed, policy.source), mode)
        else:
            message = quote.message(mode)
        sequence = message.sequence
        received = message.receive_time.ToNanoseconds() if message.HasField("receive_time") else 0
        message.stale = is_stale(sequence, received, now_ns, policy.session_policy, policy.stale_after)
        return message

    async def GetQuote(
        self, request: marketdata_service_pb2.GetQuoteRequest, context: Context
    ) -> marketdata_service_pb2.GetQuoteResponse:
        key = validate_instrument(
            _requested(request.instrument) if request.HasField("instrument") else None, "instrument"
        )
        mode = _mode(request.mode)
        if self._policy.universe.get(key) is None:
            raise NotFound(
                f"unknown instrument {key}",
                reason="INSTRUMENT_NOT_FOUND",
                metadata={"symbol": key.symbol, "exchange": key.exchange.value},
            )
        quotes = await self._cache.get_many([str(key)])
        return marketdata_service_pb2.GetQuoteResponse(
            quote=self._message(key, quotes.get(str(key)), mode, time.time_ns())
        )

    async def GetQuotes(
        self, request: marketdata_service_pb2.GetQuotesRequest, context: Context
    ) -> marketdata_service_pb2.GetQuotesResponse:
        keys = validate_instruments(
            [_requested(item) for item in request.instruments], field_name="instruments", limit=self._max_per_request
        )
        mode = _mode(request.mode)
        known = [key for key in keys if self._policy.universe.get(key) is not None]
        unknown = [key for key in keys if self._policy.universe.get(key) is None]
        quotes = await self._cache.get_many([str(key) for key in known])
        now_ns = time.time_ns()
        return marketdata_service_pb2.GetQuotesResponse(
            quotes=[self._message(key, quotes.get(str(key)), mode, now_ns) for key in known],
            not_found_instruments=[instrument_to_proto(key) for key in unknown],
        )

    async def SubscribeQuotes(  # type: ignore[override]
        self, request: marketdata_service_pb2.SubscribeQuotesRequest, context: Context
    ) -> None:
        keys = validate_instruments(
            [_requested(item) for item in request.instruments], field_name="instruments", limit=self._max_per_stream
        )
        mode = _mode(request.mode)
        unknown = self._unknown(request.instruments, keys)
        if unknown:
            raise unknown_instruments_error(unknown, "instruments")
        principal = current_principal()
        limit = self._max_streams_premium if ROLE_PREMIUM in principal.roles else self._max_streams
        stream_id, active = await self._counter.acquire(principal.subject, limit)
        if stream_id is None:
            raise ResourceExhausted(
                f"at most {limit} concurrent quote streams per user",
                reason="TOO_MANY_STREAMS",
                retry_after_seconds=1.0,
                metadata={"limit": str(limit), "active": str(active)},
            )
        names = [str(key) for key in keys]
        rate = effective_rate(request.max_updates_per_second, self._default_rate, self._max_rate)
        stream = QuoteStream(names, mode, rate, self._policy, expires_at=principal.expires_at.timestamp())
        task = asyncio.current_task()
        assert task is not None
        self.streams[stream] = task
        loop = asyncio.get_running_loop()
        try:
            await self._hub.subscribe(names, stream)
            # context.write, not `yield`: a write that HTTP/2 flow control holds back (the client stopped
            # reading) can be interrupted (`watch_slow_consumers` cancels it), and the stream then ends
            # with a status the client does get.
            try:
                async for message in stream.messages(self._cache.get_many):
                    stream.write_started = loop.time()
                    await context.write(message)
                    stream.write_started = None
            except asyncio.CancelledError:
                if stream.write_started is None or self._slow.pop(stream, None) is None:
                    raise
                task.uncancel()
                raise Unavailable(
                    f"the client accepted no message for {self._policy.slow_consumer_after:g} s; reconnect",
                    reason="SLOW_CONSUMER",
                ) from None
        finally:
            stream.close()
            self.streams.pop(stream, None)
            self._slow.pop(stream, None)
            await self._hub.unsubscribe(names, stream)
            await self._counter.release(stream_id)

    async def watch_slow_consumers(self) -> None:
        """End streams whose client accepted no message for `slow_consumer_after` (until cancelled).

        One periodic sweep instead of a timeout around every write: `asyncio.wait_for` wraps each
        write in a task, which at thousands of writes a second was a tenth of the replica's time.
        """
        limit = self._policy.slow_consumer_after
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

    def _unknown(
        self, requested: Sequence[instrument_pb2.Instrument], keys: Sequence[InstrumentKey]
    ) -> list[tuple[int, InstrumentKey]]:
        missing = {key for key in keys if self._policy.universe.get(key) is None}
        result = []
        for index, item in enumerate(requested):
            key = validate_instrument(_requested(item), f"instruments[{index}]")
            if key in missing:
                missing.discard(key)
                result.append((index, key))
        return result

    async def GetBars(
        self, request: marketdata_service_pb2.GetBarsRequest, context: Context
    ) -> marketdata_service_pb2.GetBarsResponse:
        key = validate_instrument(
            _requested(request.instrument) if request.HasField("instrument") else None, "instrument"
        )
        if request.interval != bar_pb2.BAR_INTERVAL_ONE_MINUTE:
            raise InvalidArgument(
                "interval must be BAR_INTERVAL_ONE_MINUTE",
                [FieldViolation("interval", "only BAR_INTERVAL_ONE_MINUTE is served")],
                reason="INVALID_INTERVAL",
            )
        now_ns = time.time_ns()
        if not request.HasField("start_time"):
            raise InvalidArgument(
                "start_time is required", [FieldViolation("start_time", "is required")], reason="INVALID_TIME_RANGE"
            )
        start_ns = nanos_of(request.start_time, "start_time")
        end_ns = nanos_of(request.end_time, "end_time") if request.HasField("end_time") else now_ns
        if end_ns <= start_ns:
            raise InvalidArgument(
                "end_time must be after start_time",
                [FieldViolation("end_time", "must be after start_time")],
                reason="INVALID_TIME_RANGE",
            )
        if request.page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative",
                [FieldViolation("page_size", "must not be negative")],
                reason="INVALID_PAGE_SIZE",
            )
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if self._policy.universe.get(key) is None:
            raise NotFound(
                f"unknown instrument {key}",
                reason="INSTRUMENT_NOT_FOUND",
                metadata={"symbol": key.symbol, "exchange": key.exchange.value},
            )
        fingerprint = _fingerprint(request)
        cursor = _decode_page_token(self._codec, request.page_token, fingerprint) if request.page_token else start_ns
        horizon = minute_floor(now_ns - self._retention_ns) + MINUTE_NANOS
        end_ns = min(end_ns, now_ns)
        bars, more = await self._bars.range(key, max(cursor, start_ns, horizon), end_ns, page_size)
        response = marketdata_service_pb2.GetBarsResponse(
            bars=[
                bar_pb2.Bar(
                    start_time=timestamp_from_ns(bar.start_ns),
                    open_micros=bar.open_micros,
                    high_micros=bar.high_micros,
                    low_micros=bar.low_micros,
                    close_micros=bar.close_micros,
                    volume=bar.volume,
                    open_interest=bar.open_interest,
                    complete=bar.complete or bar.start_ns + MINUTE_NANOS <= now_ns - 5 * NANOS_PER_SECOND,
                )
                for bar in bars
            ]
        )
        if more and bars:
            response.next_page_token = _encode_page_token(self._codec, bars[-1].start_ns + MINUTE_NANOS, fingerprint)
        earliest = await self._bars.earliest(key, horizon, now_ns)
        if earliest is not None:
            response.earliest_available_time.CopyFrom(timestamp_from_ns(earliest))
        return response


def _fingerprint(request: marketdata_service_pb2.GetBarsRequest) -> str:
    copy = marketdata_service_pb2.GetBarsRequest()
    copy.CopyFrom(request)
    copy.page_token = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _encode_page_token(codec: Codec, cursor_ns: int, fingerprint: str) -> str:
    return codec.encode({"k": "bars", "c": cursor_ns, "f": fingerprint, "t": int(time.time())})


def _decode_page_token(codec: Codec, token: str, fingerprint: str) -> int:
    problem = FieldViolation("page_token", "malformed, expired or issued for a different request")
    payload = codec.decode(token)
    cursor, issued = (payload.get("c"), payload.get("t")) if payload is not None else (None, None)
    # Signed, so only this service made it; the types are still checked (bool is an int in Python).
    valid = (
        payload is not None
        and payload.get("k") == "bars"
        and payload.get("f") == fingerprint
        and type(cursor) is int
        and type(issued) is int
        and 0 <= time.time() - issued <= PAGE_TOKEN_TTL_SECONDS
    )
    if not valid:
        raise InvalidArgument("invalid page_token", [problem], reason="INVALID_PAGE_TOKEN")
    assert isinstance(cursor, int)
    return cursor


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
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
