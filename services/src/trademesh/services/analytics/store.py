"""MongoDB adapters: the trade journal read-only (owned by the trade service) and analytics settings.

Analytics reads the `trades` collection the trade service writes, through the `TradeSource` port and
only through this adapter, reading only what `trademesh.kernel.trade_documents` (the contract both
services test) names (docs/decisions/0060). It never writes there. Its own collection is
`analytics_settings` (one document per user, every field written).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from trademesh.kernel import trade_documents
from trademesh.kernel.errors import Aborted, Unavailable
from trademesh.services.analytics.model import (
    Category,
    ChargeProfile,
    FillColumns,
    FillColumnsBuilder,
    Instrument,
    UserSettings,
    to_micros,
)
from trademesh.services.analytics.model.fills import profile_of

Document = dict[str, Any]

_DEFAULT_ETAG = "default"
_CATEGORIES: dict[str | None, Category] = {category.value: category for category in Category}
_SETTING_FIELDS = ("capital_base_micros", "risk_free_rate_bps", "break_even_tolerance_micros")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MongoTradeSource:
    """Read a user's ACTIVE trades from the trade service's collection (soft-deleted trades excluded)."""

    def __init__(self, database: AsyncDatabase[Document], *, timeout_seconds: float) -> None:
        self._trades = database[trade_documents.COLLECTION]
        self._timeout_seconds = timeout_seconds

    async def load_fills(self, user_id: str) -> FillColumns:
        """Return the user's ACTIVE trades as fill columns (no per-fill objects: journals can be large)."""
        columns = FillColumnsBuilder()
        # The whole read gets the query time limit (the driver sends it as maxTimeMS): the client's own
        # timeoutMS (twice the dependency timeout, for single calls) would end a large journal's read on
        # a busy database as UNAVAILABLE. The caller going away (its RPC cancelled) still ends it at once.
        with pymongo.timeout(self._timeout_seconds):
            async for document in self._trades.find(
                trade_documents.active_trades_filter(user_id), trade_documents.FILL_PROJECTION, batch_size=10_000
            ):
                fill = trade_documents.decode_fill(document)
                labels = trade_documents.decode_labels(document)
                columns.add(
                    fill.trade_id,
                    (fill.symbol, fill.exchange),
                    fill.buy,
                    fill.quantity_micros,
                    fill.price_micros,
                    fill.fees_micros,
                    fill.time_us,
                    fill.create_time_us,
                    _CATEGORIES.get(fill.category, Category.UNCATEGORIZED),
                    fill.version,
                    fill.exec_seq,
                    fill.planned_risk_micros,
                    profile_of(
                        labels.broker, labels.broker_account_id, labels.segment, labels.strategy_key, labels.tag_keys
                    ),
                )
        return columns.build()

    async def charge_profiles(self, user_id: str, instruments: Sequence[Instrument]) -> dict[Instrument, ChargeProfile]:
        """Return how each instrument's latest ACTIVE trade is charged (one query, newest trades first)."""
        wanted = set(instruments)
        found: dict[Instrument, ChargeProfile] = {}
        if not wanted:
            return found
        query: dict[str, object] = {
            **trade_documents.active_trades_filter(user_id),
            "$or": [
                {trade_documents.SYMBOL: symbol, trade_documents.EXCHANGE: exchange}
                for symbol, exchange in sorted(wanted)
            ],
        }
        try:
            await self._latest_profiles(query, wanted, found)
        except PyMongoError as error:
            raise Unavailable("the trade journal could not be read", reason="SERVICE_UNAVAILABLE") from error
        return found

    async def _latest_profiles(
        self, query: dict[str, object], wanted: set[Instrument], found: dict[Instrument, ChargeProfile]
    ) -> None:
        with pymongo.timeout(self._timeout_seconds):
            cursor = self._trades.find(
                query, trade_documents.CHARGE_PROFILE_PROJECTION, sort=trade_documents.JOURNAL_ORDER, batch_size=1_000
            )
            try:
                async for document in cursor:
                    trade = trade_documents.decode_charge_profile(document)
                    key = (trade.symbol, trade.exchange.value)
                    if key in wanted and key not in found:
                        found[key] = ChargeProfile(
                            segment=trade.segment,
                            contract_type=trade.contract_type,
                            broker=trade.broker,
                            account=trade.broker_account_id,
                            intraday=trade.category == Category.INTRADAY.value,
                        )
                        if len(found) == len(wanted):
                            break
            finally:
                await cursor.close()

    async def user_ids(self) -> list[str]:
        """Return every user with at least one ACTIVE trade, sorted."""
        # An aggregation rather than `distinct`: FerretDB rejects the maxTimeMS the driver adds to distinct.
        with pymongo.timeout(self._timeout_seconds):  # a scan of every user's trades: see load_fills
            cursor = await self._trades.aggregate(
                [
                    {"$match": trade_documents.active_trades_filter()},
                    {"$group": {"_id": "$" + trade_documents.USER_ID}},
                ]
            )
            return sorted([str(document["_id"]) async for document in cursor])


def _settings_from_document(document: Document | None) -> UserSettings:
    if document is None:
        return UserSettings(etag=_DEFAULT_ETAG)
    return UserSettings(
        capital_base_micros=document["capital_base_micros"],
        risk_free_rate_bps=int(document["risk_free_rate_bps"]),
        break_even_tolerance_micros=int(document["break_even_tolerance_micros"]),
        etag=str(document["etag"]),
        update_time_us=to_micros(_aware(document["update_time"])),
    )


class MongoSettingsStore:
    """Per-user settings in `analytics_settings`, with an etag for optimistic concurrency."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._settings = database.analytics_settings

    async def get(self, user_id: str) -> UserSettings:
        """Return the user's settings (defaults with etag "default" when never saved)."""
        return _settings_from_document(await self._settings.find_one({"_id": user_id}))

    async def update(self, user_id: str, settings: UserSettings, fields: frozenset[str], etag: str) -> UserSettings:
        """Change `fields` (compare-and-set on the etag when one is given)."""
        current = await self.get(user_id)
        if etag and etag != current.etag:
            raise Aborted("the settings changed since they were read; re-read and retry", reason="ETAG_MISMATCH")
        values = {name: getattr(settings, name) for name in _SETTING_FIELDS if name in fields}
        update = {**values, "etag": uuid.uuid4().hex, "update_time": datetime.now(UTC)}
        if current.update_time_us is None:
            try:
                await self._settings.insert_one(
                    {"_id": user_id, **{name: getattr(UserSettings(), name) for name in _SETTING_FIELDS}, **update}
                )
            except DuplicateKeyError:
                raise Aborted(
                    "the settings changed since they were read; re-read and retry", reason="ETAG_MISMATCH"
                ) from None
            return await self.get(user_id)
        # The etag in the filter makes the write a compare-and-set against concurrent updates.
        document = await self._settings.find_one_and_update(
            {"_id": user_id, "etag": current.etag}, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        if document is None:
            raise Aborted("the settings changed since they were read; re-read and retry", reason="ETAG_MISMATCH")
        return _settings_from_document(document)
