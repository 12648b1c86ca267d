"""A trade and its events: the fields a trader or a broker sets, fee breakdowns, journal order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import (
    Derivative,
    Exchange,
    Segment,
    Side,
)
from trademesh.services.trade.model.vocabulary import Broker, Category, ChargesSource, EventType, Source, Status


@dataclass(frozen=True, slots=True)
class FeeBreakdown:
    """Itemised charges, INR micros."""

    brokerage: int = 0
    stt: int = 0
    exchange_charges: int = 0
    sebi_charges: int = 0
    stamp_duty: int = 0
    gst: int = 0
    other: int = 0

    def items(self) -> dict[str, int]:
        """Return the components by proto field name."""
        return {
            "brokerage_micros": self.brokerage,
            "stt_micros": self.stt,
            "exchange_charges_micros": self.exchange_charges,
            "sebi_charges_micros": self.sebi_charges,
            "stamp_duty_micros": self.stamp_duty,
            "gst_micros": self.gst,
            "other_micros": self.other,
        }

    def total(self) -> int:
        """Return the sum of the components."""
        return sum(self.items().values())


@dataclass(frozen=True, slots=True)
class TradeFields:
    """The caller-settable facts of a trade. On input, None means "unspecified" for enums/times."""

    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    derivative: Derivative | None = None
    isin: str = ""
    side: Side | None = None
    quantity_micros: int = 0
    price_micros: int = 0
    fees_micros: int = 0
    fee_breakdown: FeeBreakdown | None = None
    trade_time: datetime | None = None
    category: Category | None = None
    strategy: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""
    broker: Broker | None = None
    broker_trade_id: str = ""
    broker_order_id: str = ""
    broker_account_id: str = ""
    #: None on input means "decide" (MANUAL when fees or a breakdown are given, else COMPUTED); None on a
    #: stored trade means no schedule covers it (currency derivatives, fractional quantities, before 2020-07-01).
    charges_source: ChargesSource | None = None
    #: The schedule version COMPUTED charges came from ("<file version>/<date>"); empty otherwise.
    charges_schedule_version: str = ""
    #: The trader's plan (decision 0230), INR micros; 0 when not given.
    stop_loss_price_micros: int = 0
    target_price_micros: int = 0
    planned_risk_micros: int = 0


JOURNAL_FIELDS = frozenset(
    {
        "category",
        "strategy",
        "tags",
        "notes",
        "fees_micros",
        "fee_breakdown",
        "charges_source",
        "stop_loss_price_micros",
        "target_price_micros",
        "planned_risk_micros",
    }
)
BROKER_FIELDS = frozenset(
    {
        "instrument",
        "segment",
        "derivative",
        "isin",
        "side",
        "quantity_micros",
        "price_micros",
        "trade_time",
        "broker",
        "broker_trade_id",
        "broker_order_id",
        "broker_account_id",
    }
)
# Update-mask path → TradeFields attributes it replaces.
MASK_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "instrument": ("symbol", "exchange"),
    **{name: (name,) for name in (JOURNAL_FIELDS | BROKER_FIELDS) - {"instrument"}},
}


@dataclass(frozen=True, slots=True)
class Trade:
    """A stored trade: its validated fields plus server-owned state."""

    id: str
    user_id: str
    fields: TradeFields
    category_inferred: bool
    source: Source
    status: Status
    version: int
    create_time: datetime
    update_time: datetime
    delete_time: datetime | None = None
    purge_time: datetime | None = None
    request_id: str = ""
    request_hash: str = ""
    import_id: str = ""
    broker_key: str | None = None
    #: Execution order within the batch (import or reconcile) that created the trade; 0 for manual trades.
    #: See `journal_order` and the `exec_seq` field of trademesh.trade.v1.Trade.
    exec_seq: int = 0

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token of this version."""
        return f"v{self.version}"

    @property
    def trading_day(self) -> date:
        """Return the IST calendar date of the trade."""
        assert self.fields.trade_time is not None
        return self.fields.trade_time.astimezone(IST).date()

    @property
    def broker_sourced(self) -> bool:
        """Tell whether broker-owned fields are read-only (imported or synced from a real broker)."""
        return self.source in (Source.IMPORT, Source.SYNC) and self.fields.broker is not Broker.MANUAL

    def purged(self, now: datetime) -> bool:
        """Tell whether a deleted trade is past its purge time (gone for callers)."""
        return self.status is Status.DELETED and self.purge_time is not None and self.purge_time <= now


class ListedTrade(NamedTuple):
    """One trade of a listed page (ListTrades' read model, decision 0350).

    What the use case cuts and filters a page on, beside the trade as its store holds it (`row`, opaque
    here), which the servicer maps straight to the response without rebuilding the domain `Trade`.
    A tuple: a page builds fifty of them, and a frozen dataclass costs several times more to build.
    """

    id: str
    trade_time: datetime
    status: Status
    purge_time: datetime | None
    row: Mapping[str, Any]

    def purged(self, now: datetime) -> bool:
        """Tell whether a deleted trade is past its purge time (gone for callers), as `Trade.purged`."""
        return self.status is Status.DELETED and self.purge_time is not None and self.purge_time <= now


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One change to a trade; `trade` is the trade as of `trade.version`."""

    event_id: str
    type: EventType
    trade: Trade
    event_time: datetime


def journal_order(trade: Trade) -> tuple[datetime, datetime, int, str]:
    """Return the order fills are matched in: execution time, then create time, then exec_seq, then id.

    Trades with the same execution time keep execution order: trades of one batch share a create time
    and are ordered by `exec_seq` (broker trade ids where they are numbers, else file/item order); trades
    of different batches by when they were recorded (docs/decisions/0110).
    """
    assert trade.fields.trade_time is not None
    return trade.fields.trade_time, trade.create_time, trade.exec_seq, trade.id


#: The largest broker trade id read as a number (beyond it, trade ids are not treated as ordered).
_MAX_NUMERIC_TRADE_ID = 10**18


def execution_sequences(broker_trade_ids: list[str]) -> list[int]:
    """Return each batch item's `exec_seq` (1-based) from the broker trade ids of the batch, in batch order.

    When every item carries a broker trade id that is a decimal number (exchange trade numbers, which
    increase with execution), items are ranked by that number (ties by batch order); otherwise the batch
    order (file row order of an import, item order of a reconcile) is the execution order.
    """
    numbers = [
        int(text) if text.isascii() and text.isdigit() and int(text) < _MAX_NUMERIC_TRADE_ID else None
        for text in (raw.strip() for raw in broker_trade_ids)
    ]
    if not numbers or any(number is None for number in numbers):
        return list(range(1, len(broker_trade_ids) + 1))
    ranked = sorted(range(len(numbers)), key=lambda index: (numbers[index], index))
    sequences = [0] * len(numbers)
    for rank, index in enumerate(ranked, start=1):
        sequences[index] = rank
    return sequences


def new_event(event_type: EventType, trade: Trade, now: datetime) -> TradeEvent:
    """Return the change event a write of `trade` produces (its id is stable per version)."""
    return TradeEvent(f"{trade.id}:{trade.version}", event_type, trade, now)
