"""ListTrades' read model (decision 0350): stored documents mapped straight to messages give the same bytes
as the domain path (document → `Trade` → message) for any stored trade, older document shapes included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import bson
from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Segment, Side
from trademesh.services.trade.listing import listed_trades_to_proto, stored_trade_init
from trademesh.services.trade.mapping import enum_from_proto, trades_to_proto
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    FeeBreakdown,
    ListedTrade,
    Source,
    Status,
    Trade,
    TradeFields,
    to_millis,
)
from trademesh.services.trade.store import trade_from_document, trade_to_document
from trademesh.trade.v1 import trade_service_pb2

T = TypeVar("T")
CODEC: bson.CodecOptions[dict[str, Any]] = bson.CodecOptions(
    tz_aware=True, tzinfo=UTC
)  # as the services' clients read (tz_aware=True)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
amounts = st.integers(-(10**12), 10**12)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)).map(
    to_millis
)


def maybe(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), values)


derivatives = st.builds(
    Derivative,
    underlying=texts,
    expiry_date=st.sampled_from(["2024-12-26", "2025-01-30", ""]),
    contract_type=maybe(st.sampled_from(ContractType)),
    strike_price_micros=amounts,
)
breakdowns = st.builds(
    FeeBreakdown,
    brokerage=amounts,
    stt=amounts,
    exchange_charges=amounts,
    sebi_charges=amounts,
    stamp_duty=amounts,
    gst=amounts,
    other=amounts,
)
fields = st.builds(
    TradeFields,
    symbol=texts,
    exchange=st.sampled_from(Exchange),
    segment=maybe(st.sampled_from(Segment)),
    derivative=maybe(derivatives),
    isin=texts,
    side=st.sampled_from(Side),
    quantity_micros=amounts,
    price_micros=amounts,
    fees_micros=amounts,
    fee_breakdown=maybe(breakdowns),
    trade_time=moments,
    category=maybe(st.sampled_from(Category)),
    strategy=texts,
    tags=st.lists(texts, max_size=6).map(tuple),
    notes=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300),
    broker=st.sampled_from(Broker),
    broker_trade_id=texts,
    broker_order_id=texts,
    broker_account_id=texts,
    charges_source=maybe(st.sampled_from(ChargesSource)),
    charges_schedule_version=texts,
    stop_loss_price_micros=amounts,
    target_price_micros=amounts,
    planned_risk_micros=amounts,
)
# Every source (settlement fills included) and status, deleted trades with their purge times.
stored_trades = st.builds(
    Trade,
    id=st.text(alphabet="0123456789abcdef", min_size=1, max_size=32),
    user_id=texts,
    fields=fields,
    category_inferred=st.booleans(),
    source=st.sampled_from(Source),
    status=st.sampled_from(Status),
    version=st.integers(1, 2**31),
    create_time=moments,
    update_time=moments,
    delete_time=maybe(moments),
    purge_time=maybe(moments),
    request_id=texts,
    request_hash=texts,
    import_id=texts,
    broker_key=maybe(texts),
    exec_seq=st.integers(0, 2**31),
)
# Keys documents written before a feature existed lack (charges sources, plans, execution order).
LATER_KEYS = (
    "charges_source",
    "charges_schedule_version",
    "stop_loss_price_micros",
    "target_price_micros",
    "planned_risk_micros",
    "exec_seq",
)


def as_read(trade: Trade, missing: frozenset[str]) -> dict[str, Any]:
    """The trade's document as the driver returns it: through BSON, times back as UTC datetimes."""
    document = trade_to_document(trade)
    for key in missing:
        document.pop(key, None)
    read: dict[str, Any] = bson.decode(bson.encode(document), codec_options=CODEC)
    return read


@settings(max_examples=400, deadline=None)
@given(st.lists(stored_trades, max_size=8), st.frozensets(st.sampled_from(LATER_KEYS)))
def test_a_page_of_documents_serialises_as_the_domain_path_does(trades: list[Trade], missing: frozenset[str]) -> None:
    documents = [as_read(trade, missing) for trade in trades]
    listed = [ListedTrade(d["_id"], d["trade_time"], Status(d["status"]), d.get("purge_time"), d) for d in documents]
    direct = trade_service_pb2.ListTradesResponse(trades=listed_trades_to_proto(listed), next_page_token="t")
    domain = trade_service_pb2.ListTradesResponse(
        trades=trades_to_proto([trade_from_document(d) for d in documents]), next_page_token="t"
    )
    assert direct.SerializeToString(deterministic=True) == domain.SerializeToString(deterministic=True)
    assert direct == domain


@settings(max_examples=200, deadline=None)
@given(stored_trades)
def test_every_field_of_a_stored_trade_reaches_the_message(trade: Trade) -> None:
    init: Any = stored_trade_init(as_read(trade, frozenset()))
    message = trade_service_pb2.ListTradesResponse(trades=[init]).trades[0]
    f = trade.fields
    assert (message.id, message.user_id, message.instrument.symbol, message.isin) == (
        trade.id,
        trade.user_id,
        f.symbol,
        f.isin,
    )
    assert (message.quantity_micros, message.price_micros, message.fees_micros) == (
        f.quantity_micros,
        f.price_micros,
        f.fees_micros,
    )
    assert (message.stop_loss_price_micros, message.target_price_micros, message.planned_risk_micros) == (
        f.stop_loss_price_micros,
        f.target_price_micros,
        f.planned_risk_micros,
    )
    assert list(message.tags) == list(f.tags)
    assert (message.notes, message.strategy, message.charges_schedule_version) == (
        f.notes,
        f.strategy,
        f.charges_schedule_version,
    )
    assert message.HasField("fee_breakdown") == (f.fee_breakdown is not None)
    if f.fee_breakdown is not None:
        assert message.fee_breakdown.gst_micros == f.fee_breakdown.gst
    assert message.HasField("derivative") == (f.derivative is not None)
    assert message.HasField("delete_time") == (trade.delete_time is not None)
    assert message.HasField("purge_time") == (trade.purge_time is not None)
    assert message.trade_time.ToDatetime(tzinfo=UTC) == f.trade_time
    assert (message.version, message.etag, message.exec_seq) == (trade.version, trade.etag, trade.exec_seq)


def test_a_listed_trade_is_purged_exactly_as_its_trade_is() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 2, 1, tzinfo=UTC)
    cases = [
        (Status.DELETED, moment, later, True),
        (Status.DELETED, later, moment, False),
        (Status.DELETED, None, later, False),
        (Status.ACTIVE, moment, later, False),
    ]
    for status, purge_time, now, purged in cases:
        listed = ListedTrade("a", moment, status, purge_time, {})
        fields = TradeFields(trade_time=moment)
        trade = Trade("a", "u", fields, False, Source.MANUAL, status, 1, moment, moment, purge_time=purge_time)
        assert listed.purged(now) is trade.purged(now) is purged


def test_an_unset_enum_maps_to_none_and_every_number_as_before() -> None:
    assert enum_from_proto(Exchange, instrument_pb2.Exchange, 0, "EXCHANGE_") is None
    for number in instrument_pb2.Exchange.values():
        name = instrument_pb2.Exchange.Name(number).removeprefix("EXCHANGE_")
        expected = Exchange(name) if name in {member.value for member in Exchange} else None
        assert enum_from_proto(Exchange, instrument_pb2.Exchange, number, "EXCHANGE_") == expected
    assert enum_from_proto(Exchange, instrument_pb2.Exchange, 999, "EXCHANGE_") is None
