"""The trade journal's use cases, free of gRPC, database and Redis, composed into one `TradeService`.

Each group lives in its own module: `crud` (one trade at a time), `imports` (files), `reconcile`
(broker trades from the sync service), `recharge` (COMPUTED charges after a schedule fix),
`expiry` (settlement of expired F&O contracts), `positions` (FIFO), and `inference` (categories, shared by
every write). Every write stores its change event inside the written trade document in the same
single-document write (docs/decisions/0010), then hands the trade to the `EventSink`, which publishes
and clears it; a crash in between leaves the event in the document for the relay to publish later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from trademesh.services.trade.model import now_millis
from trademesh.services.trade.ports import EventSink, InstrumentLookup, RateLimiter, TokenCodec, TradeStore
from trademesh.services.trade.service.base import DEFAULT_TRADE_QUOTA
from trademesh.services.trade.service.crud import CrudUseCases
from trademesh.services.trade.service.expiry import ExpiryResult, ExpiryUseCases
from trademesh.services.trade.service.imports import ImportUseCases
from trademesh.services.trade.service.positions import PositionUseCases, compute_position
from trademesh.services.trade.service.recharge import RechargeResult, RechargeUseCases
from trademesh.services.trade.service.reconcile import ReconcileUseCases

__all__ = ["ExpiryResult", "RechargeResult", "TradeService", "compute_position"]


@dataclass
class TradeService(CrudUseCases, ImportUseCases, ReconcileUseCases, RechargeUseCases, ExpiryUseCases, PositionUseCases):
    """The trade journal's use cases, wired to their ports."""

    store: TradeStore
    events: EventSink
    limiter: RateLimiter
    codec: TokenCodec
    import_limit_per_minute: int = 10
    trade_quota: int = DEFAULT_TRADE_QUOTA
    clock: Callable[[], datetime] = field(default=now_millis)
    #: The instrument master (lot sizes); None when TRADEMESH_INSTRUMENTS_URL is unset.
    instruments: InstrumentLookup | None = None
