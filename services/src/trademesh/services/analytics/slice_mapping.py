"""Proto ↔ model for slices (decision 0250): AnalyticsSlice to a validated `Slice`."""

from __future__ import annotations

from typing import Any

from trademesh.analytics.v1 import slice_pb2, trade_category_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.services.analytics.model.slices import Slice, SliceRequest, build_slice


def _name(enum: Any, value: int, prefix: str) -> str | None:
    # The value name without its prefix; None for UNSPECIFIED or a number the enum does not know.
    try:
        name = str(enum.Name(value))
    except ValueError:
        return None
    stripped = name.removeprefix(prefix)
    return None if stripped == "UNSPECIFIED" else stripped


def slice_from_proto(message: slice_pb2.AnalyticsSlice, field: str = "slice") -> Slice:
    """Validate an AnalyticsSlice; raise InvalidArgument (reason INVALID_SLICE) with paths under `field`."""
    side = {
        slice_pb2.OPENING_SIDE_UNSPECIFIED: "",
        slice_pb2.OPENING_SIDE_BUY: "BUY",
        slice_pb2.OPENING_SIDE_SELL: "SELL",
    }.get(message.side)
    request = SliceRequest(
        accounts=[
            (_name(instrument_pb2.Broker, account.broker, "BROKER_"), account.broker_account_id)
            for account in message.accounts
        ],
        segments=[_name(slice_pb2.SliceSegment, value, "SLICE_SEGMENT_") for value in message.segments],
        exchanges=[_name(instrument_pb2.Exchange, value, "EXCHANGE_") for value in message.exchanges],
        categories=[_name(trade_category_pb2.TradeCategory, value, "TRADE_CATEGORY_") for value in message.categories],
        strategies=list(message.strategies),
        tags=list(message.tags),
        all_tags=message.tag_match == slice_pb2.TAG_MATCH_ALL,
        symbols=list(message.symbols),
        side=side,
        weekdays=list(message.weekdays),
        hours=(message.hours.start_hour, message.hours.end_hour) if message.HasField("hours") else None,
        tag_match_known=message.tag_match
        in (slice_pb2.TAG_MATCH_UNSPECIFIED, slice_pb2.TAG_MATCH_ANY, slice_pb2.TAG_MATCH_ALL),
    )
    return build_slice(request, field)
