"""Wire encodings: requests ⇄ use-case inputs, model quotes and bars ⇄ protobuf, the Redis tick payload,
and pre-encoded stream batches.

Fan-out cost is what limits a market-data replica, so a tick is serialised once per mode at ingest
and carried through Redis as bytes; each stream's QuoteBatch is then assembled by concatenating
those bytes (protobuf allows a message's fields in any order and a repeated field's elements to
be appended), never by building a message per stream per quote. The bytes on the wire are exactly
the `SubscribeQuotesResponse` a generated serializer would produce.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import InvalidArgument
from trademesh.kernel.instruments import Exchange
from trademesh.kernel.ticks import encode_tick_payload, tick_body, tick_header
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2, quote_pb2, quote_stream_pb2
from trademesh.services.core.timestamps import nanos_of
from trademesh.services.marketdata.model import Bar, DepthLevel, InstrumentKey, Mode, Quote, RequestedInstrument
from trademesh.services.marketdata.service import BarPage, BarQuery, QuoteView

_EXCHANGE_TO_PROTO = {exchange: instrument_pb2.Exchange.Value(f"EXCHANGE_{exchange.value}") for exchange in Exchange}
EXCHANGE_FROM_PROTO = {value: exchange.value for exchange, value in _EXCHANGE_TO_PROTO.items()}
MODES = (Mode.LTP, Mode.QUOTE, Mode.FULL)
_QUOTES_TAG = b"\x12"  # QuoteBatch.quotes = 2, length-delimited
_BATCH_TAG = b"\x0a"  # SubscribeQuotesResponse.batch = 1, length-delimited


def timestamp_from_ns(ns: int) -> Timestamp:
    """Convert epoch nanoseconds to a Timestamp."""
    stamp = Timestamp()
    stamp.FromNanoseconds(ns)
    return stamp


def instrument_to_proto(key: InstrumentKey) -> instrument_pb2.Instrument:
    """Map an instrument key to its message."""
    return instrument_pb2.Instrument(symbol=key.symbol, exchange=_EXCHANGE_TO_PROTO[key.exchange])


def requested_instrument(item: instrument_pb2.Instrument) -> RequestedInstrument:
    """Return an instrument as the request spelled it (exchange "" when unspecified or unknown)."""
    return RequestedInstrument(EXCHANGE_FROM_PROTO.get(item.exchange, ""), item.symbol)


def bar_query(request: marketdata_service_pb2.GetBarsRequest) -> BarQuery:
    """Decode a GetBars request (a time out of range is carried, for the service to raise in field order)."""
    start_ns = end_ns = None
    error: InvalidArgument | None = None
    if request.HasField("start_time"):
        try:
            start_ns = nanos_of(request.start_time, "start_time")
            end_ns = nanos_of(request.end_time, "end_time") if request.HasField("end_time") else None
        except InvalidArgument as problem:
            start_ns, end_ns, error = None, None, problem
    return BarQuery(
        instrument=requested_instrument(request.instrument) if request.HasField("instrument") else None,
        interval=request.interval,
        start_ns=start_ns,
        end_ns=end_ns,
        page_size=request.page_size,
        page_token=request.page_token,
        time_error=error,
    )


def bar_to_proto(bar: Bar) -> bar_pb2.Bar:
    """Map a bar to its message."""
    return bar_pb2.Bar(
        start_time=timestamp_from_ns(bar.start_ns),
        open_micros=bar.open_micros,
        high_micros=bar.high_micros,
        low_micros=bar.low_micros,
        close_micros=bar.close_micros,
        volume=bar.volume,
        open_interest=bar.open_interest,
        complete=bar.complete,
    )


def bar_page_to_proto(page: BarPage) -> marketdata_service_pb2.GetBarsResponse:
    """Map a page of bars to the GetBars response."""
    response = marketdata_service_pb2.GetBarsResponse(
        bars=[bar_to_proto(bar) for bar in page.bars], next_page_token=page.next_page_token
    )
    if page.earliest_available_ns is not None:
        response.earliest_available_time.CopyFrom(timestamp_from_ns(page.earliest_available_ns))
    return response


def quote_view_to_proto(view: QuoteView) -> quote_pb2.Quote:
    """Map a quote lookup to its message in the view's mode, `stale` as the service judged it."""
    if view.cached is not None:
        message = quote_pb2.Quote.FromString(view.cached.body(view.mode))
    else:
        assert view.empty is not None
        message = quote_to_proto(view.empty, view.mode)
    message.stale = view.stale
    return message


def _levels(levels: Iterable[DepthLevel]) -> list[quote_pb2.DepthLevel]:
    return [quote_pb2.DepthLevel(price_micros=x.price_micros, quantity=x.quantity, orders=x.orders) for x in levels]


def quote_to_proto(quote: Quote, mode: Mode) -> quote_pb2.Quote:
    """Fill a Quote message with the fields of `mode` (the others stay zero)."""
    message = quote_pb2.Quote(
        instrument=instrument_to_proto(quote.key),
        instrument_token=quote.token,
        mode=int(mode),  # type: ignore[arg-type]
        last_price_micros=quote.last_price_micros,
        change_micros=quote.change_micros,
        change_percent=quote.change_percent,
        source=int(quote.source),  # type: ignore[arg-type]
        stale=quote.stale,
        sequence=quote.sequence,
    )
    if quote.exchange_time_ns:
        message.exchange_time.FromNanoseconds(quote.exchange_time_ns)
    if quote.receive_time_ns:
        message.receive_time.FromNanoseconds(quote.receive_time_ns)
    if mode is Mode.LTP:
        return message
    message.last_quantity = quote.last_quantity
    if quote.last_trade_time_ns:
        message.last_trade_time.FromNanoseconds(quote.last_trade_time_ns)
    message.average_price_micros = quote.average_price_micros
    message.volume = quote.volume
    message.bid_price_micros = quote.bid_price_micros
    message.bid_quantity = quote.bid_quantity
    message.ask_price_micros = quote.ask_price_micros
    message.ask_quantity = quote.ask_quantity
    message.total_buy_quantity = quote.total_buy_quantity
    message.total_sell_quantity = quote.total_sell_quantity
    message.open_micros = quote.open_micros
    message.high_micros = quote.high_micros
    message.low_micros = quote.low_micros
    message.close_micros = quote.close_micros
    message.open_interest = quote.open_interest
    message.oi_day_high = quote.oi_day_high
    message.oi_day_low = quote.oi_day_low
    if mode is Mode.FULL:
        message.depth.bids.extend(_levels(quote.bids))
        message.depth.asks.extend(_levels(quote.asks))
    return message


def quote_from_proto(message: quote_pb2.Quote) -> Quote:
    """Map a FULL-mode Quote message back to the domain (used to seed sequences and bars)."""
    return Quote(
        key=InstrumentKey(Exchange(EXCHANGE_FROM_PROTO[message.instrument.exchange]), message.instrument.symbol),
        token=message.instrument_token,
        source=message.source,  # type: ignore[arg-type]
        sequence=message.sequence,
        last_price_micros=message.last_price_micros,
        receive_time_ns=message.receive_time.ToNanoseconds() if message.HasField("receive_time") else 0,
        exchange_time_ns=message.exchange_time.ToNanoseconds() if message.HasField("exchange_time") else 0,
        volume=message.volume,
        close_micros=message.close_micros,
        stale=message.stale,
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def quote_entry(body: bytes) -> bytes:
    """Return a serialised Quote as one `QuoteBatch.quotes` element (tag, length, body)."""
    return _QUOTES_TAG + _varint(len(body)) + body


class EncodedQuote:
    """One tick as it travels: the quote serialised per mode, plus what fan-out needs to know."""

    __slots__ = ("_entries", "_payload", "changed", "key", "receive_time_ns", "sequence")

    def __init__(self, key: str, payload: bytes) -> None:
        self.key = key
        self._payload = payload
        flags, self.sequence, self.receive_time_ns = tick_header(payload)
        self.changed = frozenset(mode for mode in MODES if flags & (1 << (int(mode) - 1)))
        self._entries: dict[Mode, bytes] = {}

    @classmethod
    def encode(cls, quote: Quote, changed: Iterable[Mode]) -> EncodedQuote:
        """Serialise `quote` for every mode; `changed` lists the modes whose view the tick changed."""
        bodies = [quote_to_proto(quote, mode).SerializeToString() for mode in MODES]
        flags = 0
        for mode in changed:
            flags |= 1 << (int(mode) - 1)
        ltp, full_quote, full = bodies
        return cls(
            str(quote.key), encode_tick_payload(flags, quote.sequence, quote.receive_time_ns, (ltp, full_quote, full))
        )

    @property
    def payload(self) -> bytes:
        """Return the bytes stored in and published through Redis."""
        return self._payload

    def body(self, mode: Mode) -> bytes:
        """Return the serialised Quote message for `mode`."""
        return tick_body(self._payload, int(mode) - 1)

    def entry(self, mode: Mode) -> bytes:
        """Return the quote as one pre-encoded `QuoteBatch.quotes` element (tag, length, body)."""
        cached = self._entries.get(mode)
        if cached is None:
            body = self.body(mode)
            cached = self._entries[mode] = quote_entry(body)
        return cached

    def message(self, mode: Mode) -> quote_pb2.Quote:
        """Return the quote for `mode` as a message."""
        return quote_pb2.Quote.FromString(self.body(mode))

    def with_stale(self, mode: Mode) -> bytes:
        """Return the `quotes` element for `mode` with `stale` set."""
        message = self.message(mode)
        message.stale = True
        return quote_entry(message.SerializeToString())


def batch_response(
    entries: Iterable[bytes],
    *,
    snapshot: bool,
    server_time_ns: int,
    conflated: int,
    rate: int,
) -> bytes:
    """Return a serialised SubscribeQuotesResponse holding a QuoteBatch of pre-encoded quotes."""
    header = quote_stream_pb2.QuoteBatch(
        snapshot=snapshot,
        server_time=timestamp_from_ns(server_time_ns),
        conflated_update_count=conflated,
        effective_max_updates_per_second=rate,
    ).SerializeToString()
    batch = header + b"".join(entries)
    return _BATCH_TAG + _varint(len(batch)) + batch


def heartbeat_response(server_time_ns: int, conflated: int) -> bytes:
    """Return a serialised SubscribeQuotesResponse holding a Heartbeat."""
    return marketdata_service_pb2.SubscribeQuotesResponse(
        heartbeat=quote_stream_pb2.Heartbeat(
            server_time=timestamp_from_ns(server_time_ns), conflated_update_count=conflated
        )
    ).SerializeToString()


def serialize_response(message: object) -> bytes:
    """Serialise a stream response that is either pre-encoded bytes or a message."""
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()  # type: ignore[attr-defined,no-any-return]
