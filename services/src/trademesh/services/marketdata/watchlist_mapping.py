"""Watchlist messages ⇄ watchlist model."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.marketdata.v1 import watchlist_pb2
from trademesh.services.marketdata.mapping import instrument_to_proto, requested_instrument
from trademesh.services.marketdata.model.watchlists import Watchlist
from trademesh.services.marketdata.watchlists import WatchlistDraft


def watchlist_to_proto(watchlist: Watchlist) -> watchlist_pb2.Watchlist:
    """Map a stored watchlist to its message."""
    return watchlist_pb2.Watchlist(
        id=watchlist.id,
        name=watchlist.name,
        instruments=[instrument_to_proto(key) for key in watchlist.instruments],
        etag=watchlist.etag,
        create_time=_timestamp(watchlist.create_ns),
        update_time=_timestamp(watchlist.update_ns),
    )


def _timestamp(nanos: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(nanos)
    return stamp


def watchlist_draft(message: watchlist_pb2.Watchlist) -> WatchlistDraft:
    """Decode a watchlist as a request sent it (output-only fields other than id and etag are ignored)."""
    return WatchlistDraft(
        id=message.id,
        name=message.name,
        instruments=tuple(requested_instrument(item) for item in message.instruments),
        etag=message.etag,
    )
