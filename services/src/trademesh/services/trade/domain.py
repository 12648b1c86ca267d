"""Trade use cases and their ports: the journal's rules, free of gRPC, database and Redis.

Every write stores its change event inside the written trade document in the same single-document
write (see docs/decisions/0010), then hands the trade to the `EventSink`, which publishes and clears
it; a crash in between leaves the event in the document for the relay to publish later.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    check_fields,
)
from trademesh.kernel.lots import Fill, PositionBook, Side, round_micros
from trademesh.services.core.identity import ROLE_SERVICE, Principal
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.trade.model import (
    BROKER_FIELDS,
    EXCHANGE_ORDER,
    MASK_ATTRIBUTES,
    PURGE_AFTER,
    UUID_PATTERN,
    Broker,
    Category,
    EventType,
    ImportResult,
    ImportRowError,
    Position,
    PositionFilter,
    Source,
    Status,
    Trade,
    TradeEvent,
    TradeFields,
    TradeFilter,
    broker_key_of,
    bucket_of,
    content_hash,
    derive_id,
    infer_category,
    ist_day,
    new_event,
    normalize_fields,
    now_millis,
)

logger = logging.getLogger(__name__)

#: An (exchange, symbol, IST trading day) group of a user's trades, and its trade ids by side.
DayGroup = tuple[str, str, date]
DayIndex = dict[Side | None, list[str]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_POSITION_PAGE_SIZE = 100
MAX_POSITION_PAGE_SIZE = 1000
MAX_RECONCILE_ITEMS = 1000
MAX_ROW_ERRORS = 1000
DEFAULT_TRADE_QUOTA = 1_000_000
REINFER_ATTEMPTS = 5
#: Inference reads take the newest 2 listed trades of a side, then 8, 32, ... until an ACTIVE one turns up.
INFERENCE_FIRST_READ = 2
INFERENCE_READ_GROWTH = 4


class IdTaken(Exception):
    """Raise (store) when a trade with the same id already exists."""


class BrokerKeyTaken(Exception):
    """Raise (store) when another trade holds the same broker key."""

    def __init__(self, trade_id: str) -> None:
        super().__init__(trade_id)
        self.trade_id = trade_id


@dataclass(frozen=True, slots=True)
class ListCursor:
    """Keyset position after the last trade of a page: (trade_time, id), newest first."""

    trade_time: datetime
    trade_id: str


@dataclass(frozen=True, slots=True)
class BulkInsertOutcome:
    """Which trades of a bulk insert were inserted and which collided (id or broker key)."""

    inserted: list[Trade]
    collided: list[Trade]


class TradeStore(Protocol):
    """Persist trades; each write carries its change event in the same document write."""

    async def insert(self, trade: Trade, event: TradeEvent) -> None:
        """Insert a trade; raise IdTaken or BrokerKeyTaken on a collision."""

    async def insert_many(
        self, items: Sequence[tuple[Trade, TradeEvent]], *, with_outbox: bool = True
    ) -> BulkInsertOutcome:
        """Insert many trades (unordered); report collisions instead of raising.

        Without `with_outbox` the events are not stored in the documents: the caller's import
        record is their outbox (see start_import).
        """

    async def get(self, trade_id: str) -> Trade | None: ...

    async def get_many(self, trade_ids: Sequence[str]) -> list[Trade]:
        """Return the trades with these ids that exist."""
        ...

    async def replace(self, trade: Trade, expected_version: int, event: TradeEvent) -> Trade | None:
        """Store `trade` if the stored version is `expected_version`; return None when it is not."""

    async def list_trades(
        self, user_id: str, filters: TradeFilter, after: ListCursor | None, limit: int
    ) -> list[Trade]:
        """Return trades matching `filters`, newest first (trade_time desc, id desc), after the cursor."""

    async def same_day(self, user_id: str, exchange: str, symbol: str, day: date) -> list[Trade]:
        """Return the user's ACTIVE trades on one instrument and IST trading day."""

    async def side_in_group(self, user_id: str, exchange: str, symbol: str, day: date, side: Side) -> bool:
        """Tell whether the user has an ACTIVE trade of this side on one instrument and IST trading day."""
        ...

    async def day_indexes(self, user_id: str, groups: Sequence[DayGroup]) -> dict[DayGroup, DayIndex]:
        """Return, per (exchange, symbol, day) group, the ids of its trades (any status) by side, oldest
        first (None: no side); an empty group lists nothing."""
        ...

    async def active_trades(self, user_id: str, broker_account_id: str = "") -> list[Trade]:
        """Return every ACTIVE trade of the user (optionally of one broker account)."""

    async def by_broker_keys(self, user_id: str, keys: Sequence[str]) -> dict[str, Trade]:
        """Return the user's trades (any status) holding any of `keys`, by key."""

    async def all_trades(self, user_id: str, include_deleted: bool) -> list[Trade]: ...

    async def get_import(self, record_id: str) -> tuple[str, ImportResult | None] | None:
        """Return (content hash, finished result or None while unfinished) of an import request."""

    async def start_import(
        self, record_id: str, request_hash: str, now: datetime, import_id: str, user_id: str
    ) -> None:
        """Record an import request as started, with its events pending (before any trade is written)."""

    async def finish_import(self, record_id: str, result: ImportResult, now: datetime) -> None: ...

    async def start_batch(self, batch_id: str, user_id: str, trade_ids: Sequence[str], now: datetime) -> None:
        """Record a bulk insert's trade ids before it runs (their CREATED events are then pending)."""
        ...

    async def reserve_quota(self, user_id: str, count: int, limit: int) -> bool:
        """Count `count` new trades against the user's quota of `limit`; False if that would exceed it."""
        ...

    async def release_quota(self, user_id: str, count: int) -> None:
        """Uncount trades that were reserved but not inserted (or were purged)."""
        ...


class EventSink(Protocol):
    """Publish the pending change events of just-written trades (at least once, never raising)."""

    async def committed(self, trades: Sequence[Trade]) -> None: ...

    async def committed_batch(self, batch_id: str, trades: Sequence[Trade]) -> None:
        """Publish the CREATED events of a recorded bulk insert, then forget the batch record."""


class RateLimiter(Protocol):
    """Count calls per key within a window."""

    async def hit(self, key: str, limit: int, window: timedelta) -> float | None:
        """Count one call; return seconds to wait when over the limit, else None."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One data row of an import: its number, fields (None when invalid) and problems."""

    row_number: int
    fields: TradeFields | None
    errors: list[ImportRowError]
    broker_key: str | None = None
    columns: dict[str, str] = field(default_factory=dict)


def user_tag(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


def check_page_size(page_size: int, default: int, maximum: int) -> int:
    """Return the effective page size; negative → INVALID_ARGUMENT."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", [FieldViolation("page_size", "must be >= 0")])
    return min(page_size or default, maximum)


def check_request_id(request_id: str) -> str:
    """Return the canonical (lower-case) request id or raise REQUEST_ID_INVALID."""
    value = request_id.strip().lower()
    if not UUID_PATTERN.fullmatch(value):
        raise InvalidArgument(
            "request_id must be a UUID (8-4-4-4-12 hex)",
            [FieldViolation("request_id", "must be a UUID in canonical 8-4-4-4-12 hex form")],
            reason="REQUEST_ID_INVALID",
        )
    return value


def not_found() -> NotFound:
    """Return the one error every missing, purged or foreign trade gives."""
    return NotFound("trade not found", reason="TRADE_NOT_FOUND")


@dataclass
class TradeService:
    """The trade journal's use cases, wired to their ports."""

    store: TradeStore
    events: EventSink
    limiter: RateLimiter
    codec: Codec
    import_limit_per_minute: int = 10
    trade_quota: int = DEFAULT_TRADE_QUOTA
    clock: Callable[[], datetime] = field(default=now_millis)

    # ------------------------------------------------------------------ reads

    async def get(self, user_id: str, trade_id: str) -> Trade:
        """Return one of the user's trades (ACTIVE or DELETED, until purged)."""
        if not trade_id:
            raise InvalidArgument("id is required", [FieldViolation("id", "id is required")])
        trade = await self.store.get(trade_id) if len(trade_id) <= 64 else None
        if trade is None or trade.user_id != user_id or trade.purged(self.clock()):
            raise not_found()
        return trade

    async def list_trades(
        self, user_id: str, filters: TradeFilter, page_size: int, page_token: str
    ) -> tuple[list[Trade], str]:
        """Return one page of the user's trades, newest first, and the next page token."""
        size = check_page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if filters.start_time and filters.end_time and filters.start_time >= filters.end_time:
            raise InvalidArgument(
                "start_time must be before end_time", [FieldViolation("start_time", "must be before end_time")]
            )
        filter_tag = content_hash(filters)[:16]
        cursor = None
        if page_token:
            payload = self.codec.decode(page_token)
            if (
                payload is None
                or payload.get("k") != "trades"
                or payload.get("u") != user_tag(user_id)
                or payload.get("f") != filter_tag
            ):
                raise page_token_invalid()
            try:
                moment = datetime.fromtimestamp(int(str(payload["t"])) / 1_000_000, UTC)
                cursor = ListCursor(moment, str(payload["i"]))
            except (KeyError, ValueError, OverflowError, OSError):
                raise page_token_invalid() from None
        trades = await self.store.list_trades(user_id, filters, cursor, size + 1)
        now = self.clock()
        next_token = ""
        if len(trades) > size:
            trades = trades[:size]
            last = trades[-1]
            assert last.fields.trade_time is not None
            micros = _micros(last.fields.trade_time)
            next_token = self.codec.encode(
                {"k": "trades", "u": user_tag(user_id), "f": filter_tag, "t": micros, "i": last.id}
            )
        return [trade for trade in trades if not trade.purged(now)], next_token

    async def positions(
        self, user_id: str, filters: PositionFilter, page_size: int, page_token: str
    ) -> tuple[list[Position], str]:
        """Compute the user's FIFO positions; one page, ordered by last trade time desc, exchange, symbol."""
        size = check_page_size(page_size, DEFAULT_POSITION_PAGE_SIZE, MAX_POSITION_PAGE_SIZE)
        filter_tag = content_hash(filters)[:16]
        after: tuple[int, int, str] | None = None
        if page_token:
            payload = self.codec.decode(page_token)
            if (
                payload is None
                or payload.get("k") != "positions"
                or payload.get("u") != user_tag(user_id)
                or payload.get("f") != filter_tag
            ):
                raise page_token_invalid()
            try:
                after = (int(str(payload["t"])), int(str(payload["e"])), str(payload["s"]))
            except (KeyError, ValueError):
                raise page_token_invalid() from None
        trades = await self.store.active_trades(user_id, filters.broker_account_id)
        groups: dict[tuple[str, str], list[Trade]] = defaultdict(list)
        for trade in trades:
            assert trade.fields.exchange is not None
            if filters.symbol and trade.fields.symbol != filters.symbol:
                continue
            if filters.exchange and trade.fields.exchange is not filters.exchange:
                continue
            groups[(trade.fields.exchange.value, trade.fields.symbol)].append(trade)
        positions = [compute_position(group) for group in groups.values()]
        positions = [
            p
            for p in positions
            if (filters.segment is None or p.segment is filters.segment)
            and (filters.open_only is None or p.is_open == filters.open_only)
        ]

        def order(position: Position) -> tuple[int, int, str]:
            return (-_micros(position.last_trade_time), EXCHANGE_ORDER[position.exchange], position.symbol)

        positions.sort(key=order)
        if after is not None:
            positions = [p for p in positions if order(p) > after]
        next_token = ""
        if len(positions) > size:
            positions = positions[:size]
            key = order(positions[-1])
            next_token = self.codec.encode(
                {"k": "positions", "u": user_tag(user_id), "f": filter_tag, "t": key[0], "e": key[1], "s": key[2]}
            )
        return positions, next_token

    # ------------------------------------------------------------------ writes

    async def create(self, user_id: str, request_id: str, raw: TradeFields) -> Trade:
        """Create a manual trade, idempotently by request id."""
        request_id = check_request_id(request_id)
        now = self.clock()
        fields, violations = normalize_fields(raw, now)
        check_fields(violations, "trade has invalid fields")
        request_hash = content_hash("create", raw)
        trade_id = derive_id("create", user_id, request_id)
        existing = await self.store.get(trade_id)
        if existing is not None:
            return await self._replayed(existing, request_hash)
        category, inferred = fields.category, fields.category is None
        assert fields.exchange is not None
        assert fields.side is not None
        group = (user_id, fields.exchange.value, fields.symbol, _day(fields))
        if category is None:
            others = await self.store.same_day(*group)
            category = infer_category(fields.side, [t.fields.side for t in others if t.fields.side])
            side_known = any(t.fields.side is fields.side for t in others)
        else:
            side_known = await self.store.side_in_group(*group, fields.side)
        trade = Trade(
            id=trade_id,
            user_id=user_id,
            fields=replace(fields, category=category),
            category_inferred=inferred,
            source=Source.MANUAL,
            status=Status.ACTIVE,
            version=1,
            create_time=now,
            update_time=now,
            request_id=request_id,
            request_hash=request_hash,
            broker_key=broker_key_of(user_id, fields),
        )
        await self._reserve(user_id, 1)
        try:
            await self.store.insert(trade, new_event(EventType.CREATED, trade, now))
        except IdTaken:
            await self.store.release_quota(user_id, 1)
            existing = await self.store.get(trade_id)
            if existing is None:  # purged in between: extremely unlikely; let the client retry
                raise
            return await self._replayed(existing, request_hash)
        except BrokerKeyTaken as taken:
            await self.store.release_quota(user_id, 1)
            raise _duplicate_broker_trade(taken.trade_id) from None
        await self.events.committed([trade])
        if side_known:
            # The group had this side before the trade was written: its sides, and so every inferred
            # category in it (kept consistent on every write), are unchanged. The first trade of a
            # side re-evaluates the group after its write, so concurrent creates cannot both skip it.
            return trade
        changed = await self._reinfer({bucket_of(trade)})
        return changed.get(trade.id, trade)

    async def _reserve(self, user_id: str, count: int) -> None:
        if not await self.store.reserve_quota(user_id, count, self.trade_quota):
            raise _quota_exceeded(self.trade_quota)

    async def _replayed(self, existing: Trade, request_hash: str) -> Trade:
        if existing.request_hash != request_hash:
            raise AlreadyExists("request_id was already used for a different request", reason="REQUEST_ID_REUSED")
        if existing.purged(self.clock()):
            raise not_found()
        # The first attempt may have died before publishing; publishing again is deduplicated.
        await self.events.committed([existing])
        return existing

    async def update(self, user_id: str, trade_id: str, etag: str, paths: Sequence[str], patch: TradeFields) -> Trade:
        """Apply the masked fields to an ACTIVE trade, guarded by its etag."""
        violations: list[FieldViolation] = []
        if not trade_id:
            violations.append(FieldViolation("trade.id", "id is required"))
        if not etag:
            violations.append(FieldViolation("etag", "etag is required"))
        if not paths:
            violations.append(FieldViolation("update_mask", "update_mask must name at least one field"))
        for index, path in enumerate(paths):
            if path not in MASK_ATTRIBUTES:
                violations.append(FieldViolation(f"update_mask.paths[{index}]", f"path {path!r} cannot be updated"))
        check_fields(violations, "invalid update")
        current = await self.get(user_id, trade_id)
        if current.etag != etag:
            raise _etag_mismatch()
        if current.status is Status.DELETED:
            raise FailedPrecondition("a deleted trade cannot be updated", reason="TRADE_DELETED")
        if current.broker_sourced and any(path in BROKER_FIELDS for path in paths):
            raise FailedPrecondition(
                "broker-owned fields of a broker-sourced trade are read-only", reason="BROKER_FIELD_READ_ONLY"
            )
        changes: dict[str, object] = {}
        for path in paths:
            for attribute in MASK_ATTRIBUTES[path]:
                changes[attribute] = getattr(patch, attribute)
        if "fee_breakdown" in paths and "fees_micros" not in paths:
            changes["fees_micros"] = 0  # recomputed from the breakdown
        old_breakdown = current.fields.fee_breakdown
        if (
            "fees_micros" in paths
            and "fee_breakdown" not in paths
            and old_breakdown is not None
            and patch.fees_micros != old_breakdown.total()
        ):
            changes["fee_breakdown"] = None
        base = current.fields
        inferred = current.category_inferred
        if "category" in paths:
            inferred = patch.category is None
        elif inferred:
            changes["category"] = None
        if "segment" not in paths and ("instrument" in paths or "derivative" in paths):
            changes["segment"] = None  # re-infer from the new exchange/contract
        raw = replace(base, **changes)  # type: ignore[arg-type]
        now = self.clock()
        fields, field_violations = normalize_fields(raw, now)
        if "trade_time" not in paths and base.trade_time is not None:
            # Only a changed time is checked against "now"; an old trade stays editable.
            field_violations = [v for v in field_violations if v.field != "trade.trade_time"]
        check_fields(field_violations, "trade has invalid fields")
        if inferred:
            fields = replace(fields, category=base.category)
        moved = any(path in ("instrument", "side", "trade_time") for path in paths)
        if inferred and (moved or "category" in paths):
            assert fields.exchange is not None
            assert fields.side is not None
            others = await self.store.same_day(user_id, fields.exchange.value, fields.symbol, _day(fields))
            sides = [t.fields.side for t in others if t.id != current.id and t.fields.side]
            fields = replace(fields, category=infer_category(fields.side, sides))
        if fields == base and inferred == current.category_inferred:
            return current
        updated = replace(
            current,
            fields=fields,
            category_inferred=inferred,
            version=current.version + 1,
            update_time=now,
            broker_key=broker_key_of(user_id, fields),
        )
        try:
            stored = await self.store.replace(updated, current.version, new_event(EventType.UPDATED, updated, now))
        except BrokerKeyTaken as taken:
            raise _duplicate_broker_trade(taken.trade_id) from None
        if stored is None:
            raise _etag_mismatch()
        await self.events.committed([stored])
        changed = await self._reinfer({bucket_of(current), bucket_of(updated)} if moved else set())
        return changed.get(updated.id, updated)

    async def delete(self, user_id: str, trade_id: str, etag: str) -> Trade:
        """Soft-delete a trade (restorable until its purge time)."""
        current = await self.get(user_id, trade_id)
        if etag and etag != current.etag:
            raise _etag_mismatch()
        if current.status is Status.DELETED:
            return current
        now = self.clock()
        updated = replace(
            current,
            status=Status.DELETED,
            version=current.version + 1,
            update_time=now,
            delete_time=now,
            purge_time=now + PURGE_AFTER,
        )
        stored = await self.store.replace(updated, current.version, new_event(EventType.DELETED, updated, now))
        if stored is None:
            raise _etag_mismatch()
        await self.events.committed([stored])
        await self._reinfer({bucket_of(current)})
        return updated

    async def undelete(self, user_id: str, trade_id: str, etag: str) -> Trade:
        """Restore a soft-deleted trade before its purge time."""
        current = await self.get(user_id, trade_id)
        if etag and etag != current.etag:
            raise _etag_mismatch()
        if current.status is Status.ACTIVE:
            return current
        now = self.clock()
        restored = replace(
            current,
            status=Status.ACTIVE,
            version=current.version + 1,
            update_time=now,
            delete_time=None,
            purge_time=None,
        )
        stored = await self.store.replace(restored, current.version, new_event(EventType.RESTORED, restored, now))
        if stored is None:
            raise _etag_mismatch()
        await self.events.committed([stored])
        changed = await self._reinfer({bucket_of(current)})
        return changed.get(restored.id, restored)

    async def _reinfer(self, buckets: set[tuple[str, str, str, date]]) -> dict[str, Trade]:
        """Re-evaluate inferred categories in the given (user, exchange, symbol, day) groups."""
        changed: dict[str, Trade] = {}
        for user_id, exchange, symbol, day in buckets:
            for _ in range(REINFER_ATTEMPTS):
                trades = await self.store.same_day(user_id, exchange, symbol, day)
                conflict = False
                for trade in trades:
                    if not trade.category_inferred or trade.fields.side is None:
                        continue
                    sides = [t.fields.side for t in trades if t.id != trade.id and t.fields.side]
                    category = infer_category(trade.fields.side, sides)
                    if category is trade.fields.category:
                        continue
                    now = self.clock()
                    updated = replace(
                        trade,
                        fields=replace(trade.fields, category=category),
                        version=trade.version + 1,
                        update_time=now,
                    )
                    stored = await self.store.replace(
                        updated, trade.version, new_event(EventType.UPDATED, updated, now)
                    )
                    if stored is None:
                        conflict = True
                        break
                    changed[trade.id] = stored
                    await self.events.committed([stored])
                if not conflict:
                    break
        return changed

    async def _reinfer_known(
        self,
        active: Sequence[Trade],
        sides_by_bucket: dict[tuple[str, str, date], list[Side]],
        touched: set[tuple[str, str, date]],
    ) -> None:
        """Re-evaluate inferred categories of already loaded trades in groups a batch added trades to."""
        for trade in active:
            key = _bucket_key(trade)
            if key not in touched or not trade.category_inferred or trade.fields.side is None:
                continue
            sides = list(sides_by_bucket[key])
            sides.remove(trade.fields.side)
            category = infer_category(trade.fields.side, sides)
            if category is trade.fields.category:
                continue
            now = self.clock()
            updated = replace(
                trade, fields=replace(trade.fields, category=category), version=trade.version + 1, update_time=now
            )
            stored = await self.store.replace(updated, trade.version, new_event(EventType.UPDATED, updated, now))
            if stored is None:
                await self._reinfer({bucket_of(trade)})  # changed meanwhile: re-read its group
            else:
                await self.events.committed([stored])

    # ------------------------------------------------------------------ import

    async def import_rows(
        self,
        user_id: str,
        request_id: str,
        content: bytes,
        format_name: str,
        rows: Callable[[], tuple[int, list[ParsedRow]]],
        *,
        dry_run: bool,
        broker_account_id: str,
        source_hint: str,
    ) -> ImportResult:
        """Import parsed rows: validate, deduplicate by broker key, insert the new ones in bulk."""
        request_id = check_request_id(request_id)
        if len(broker_account_id) > 64:
            raise InvalidArgument(
                "broker_account_id is too long", [FieldViolation("broker_account_id", "at most 64 characters")]
            )
        request_hash = content_hash("import", format_name, hashlib.sha256(content).hexdigest(), broker_account_id)
        record_id = f"{user_id}:import:{request_id}"
        import_id = "" if dry_run else derive_id("import", user_id, request_id)
        if not dry_run:
            record = await self.store.get_import(record_id)
            if record is not None:
                if record[0] != request_hash:
                    raise AlreadyExists(
                        "request_id was already used for a different request", reason="REQUEST_ID_REUSED"
                    )
                if record[1] is not None:
                    return record[1]
            wait = await self.limiter.hit(f"import:{user_id}", self.import_limit_per_minute, timedelta(minutes=1))
            if wait is not None:
                raise ResourceExhausted(
                    "too many imports; try again later", retry_after_seconds=wait, reason="IMPORT_RATE_LIMITED"
                )
        total, parsed = rows()
        result = ImportResult(import_id=import_id, dry_run=dry_run, rows_total=total)
        now = self.clock()
        errors: list[ImportRowError] = []
        candidates: list[tuple[ParsedRow, TradeFields]] = []
        for row in parsed:
            if row.fields is None:
                errors.extend(row.errors)
                result.rows_failed += 1
                continue
            fields = replace(row.fields, broker_account_id=broker_account_id or row.fields.broker_account_id)
            normalized, violations = normalize_fields(fields, now, prefix="")
            if violations:
                result.rows_failed += 1
                errors.extend(
                    ImportRowError(
                        row.row_number,
                        row.columns.get(v.field, v.field.split(".")[0]),
                        "",
                        _row_reason(v.field, v.description),
                        v.description,
                    )
                    for v in violations
                )
                continue
            candidates.append((row, normalized))
        keyed: list[tuple[ParsedRow, TradeFields, str]] = []
        seen: set[str] = set()
        for row, fields in candidates:
            key = row.broker_key or broker_key_of(user_id, fields)
            if key is not None and key.startswith("fp|") and not key.startswith(f"fp|{user_id}|"):
                key = None
            if key is None:
                key = f"row|{import_id or request_id}|{row.row_number}"
            if key in seen:
                result.rows_duplicate += 1
                errors.append(
                    ImportRowError(
                        row.row_number,
                        "trade_id",
                        fields.broker_trade_id[:100],
                        "DUPLICATE_IN_FILE",
                        "the same trade appears earlier in the file",
                    )
                )
                continue
            seen.add(key)
            keyed.append((row, fields, key))
        existing = await self.store.by_broker_keys(user_id, [key for _, _, key in keyed])
        active = await self.store.active_trades(user_id)
        sides_by_bucket: dict[tuple[str, str, date], list[Side]] = defaultdict(list)
        for trade in active:
            assert trade.fields.exchange is not None
            assert trade.fields.side is not None
            sides_by_bucket[(trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)].append(
                trade.fields.side
            )
        new_rows: list[tuple[ParsedRow, TradeFields, str]] = []
        for row, fields, key in keyed:
            found = existing.get(key)
            if found is not None:
                if import_id and found.import_id == import_id:
                    result.rows_created += 1  # created by an interrupted attempt of this same import
                else:
                    result.rows_duplicate += 1
                continue
            new_rows.append((row, fields, key))
            assert fields.exchange is not None
            assert fields.side is not None
            sides_by_bucket[(fields.exchange.value, fields.symbol, _day(fields))].append(fields.side)
        items: list[tuple[Trade, TradeEvent]] = []
        for row, fields, key in new_rows:
            assert fields.exchange is not None
            assert fields.side is not None
            inferred = fields.category is None
            category = fields.category
            if category is None:
                sides = list(sides_by_bucket[(fields.exchange.value, fields.symbol, _day(fields))])
                sides.remove(fields.side)
                category = infer_category(fields.side, sides)
            trade = Trade(
                id=derive_id("import", import_id or request_id, str(row.row_number)),
                user_id=user_id,
                fields=replace(fields, category=category),
                category_inferred=inferred,
                source=Source.IMPORT,
                status=Status.ACTIVE,
                version=1,
                create_time=now,
                update_time=now,
                import_id=import_id,
                broker_key=None if key.startswith("row|") else key,
            )
            items.append((trade, new_event(EventType.CREATED, trade, now)))
        if dry_run:
            result.rows_created += len(items)
        else:
            await self._reserve(user_id, len(items))
            await self.store.start_import(record_id, request_hash, now, import_id, user_id)
            # Rows an interrupted attempt already created are published again (a no-op if they were).
            earlier = [t for t in existing.values() if t.import_id == import_id]
            batch_id = f"{user_id}:import:{uuid.uuid4().hex}"
            ids = [*(t.id for t in earlier), *(trade.id for trade, _ in items)]
            await self.store.start_batch(batch_id, user_id, ids, now)
            outcome = await self.store.insert_many(items, with_outbox=False)
            await self.store.release_quota(user_id, len(outcome.collided))
            result.rows_created += len(outcome.inserted)
            if outcome.collided:
                # Raced with another writer: classify like the pre-check did.
                again = await self.store.by_broker_keys(
                    user_id, [t.broker_key for t in outcome.collided if t.broker_key]
                )
                for trade in outcome.collided:
                    found = again.get(trade.broker_key or "")
                    if (found is not None and found.import_id == import_id) or found is None:
                        result.rows_created += 1
                    else:
                        result.rows_duplicate += 1
            await self.events.committed_batch(batch_id, [*earlier, *outcome.inserted])
            await self._reinfer_known(active, sides_by_bucket, {_bucket_key(t) for t in outcome.inserted})
        errors.sort(key=lambda error: error.row_number)
        result.row_errors = errors[:MAX_ROW_ERRORS]
        result.row_errors_truncated = len(errors) > MAX_ROW_ERRORS
        if not dry_run:
            await self.store.finish_import(record_id, result, self.clock())
            logger.info(
                "import %s (%s, %s): %d rows, %d created, %d duplicate, %d failed",
                import_id,
                format_name,
                source_hint or "unnamed file",
                result.rows_total,
                result.rows_created,
                result.rows_duplicate,
                result.rows_failed,
            )
        return result

    # ------------------------------------------------------------------ reconcile

    async def reconcile(
        self,
        caller: Principal,
        user_id: str,
        broker: Broker | None,
        broker_account_id: str,
        items: Sequence[tuple[TradeFields, bool, Category | None]],
    ) -> list[ReconcileItem]:
        """Upsert broker trades by broker key; one outcome per item, in order.

        Each item is (fields, fees_given, category hint).
        """
        caller.require_role(ROLE_SERVICE)
        violations: list[FieldViolation] = []
        if not user_id.strip():
            violations.append(FieldViolation("user_id", "user_id is required"))
        if broker not in (Broker.ZERODHA, Broker.UPSTOX):
            violations.append(FieldViolation("broker", "broker must be ZERODHA or UPSTOX"))
        if not broker_account_id.strip() or len(broker_account_id) > 64:
            violations.append(FieldViolation("broker_account_id", "broker_account_id is required (at most 64)"))
        if not 1 <= len(items) <= MAX_RECONCILE_ITEMS:
            violations.append(FieldViolation("trades", f"send 1 to {MAX_RECONCILE_ITEMS} trades"))
        check_fields(violations, "invalid reconcile request")
        assert broker is not None
        now = self.clock()
        results: list[ReconcileItem] = []
        prepared: list[tuple[int, TradeFields, bool, Category | None, str]] = []
        seen: set[str] = set()
        for index, (raw, fees_given, hint) in enumerate(items):
            raw = replace(raw, broker=broker, broker_account_id=broker_account_id, category=None)
            fields, problems = normalize_fields(raw, now, prefix=f"trades[{index}].")
            if not fields.broker_trade_id:
                problems.append(FieldViolation(f"trades[{index}].broker_trade_id", "broker_trade_id is required"))
            if problems:
                message = "; ".join(f"{v.field}: {v.description}" for v in problems)
                results.append(
                    ReconcileItem(
                        index, raw.broker_trade_id, "FAILED", error_reason="INVALID_FIELD", error_message=message
                    )
                )
                continue
            key = broker_key_of(user_id, fields)
            assert key is not None
            if key in seen:
                results.append(
                    ReconcileItem(
                        index,
                        fields.broker_trade_id,
                        "FAILED",
                        error_reason="DUPLICATE_IN_BATCH",
                        error_message=f"trades[{index}] repeats an earlier item's broker key",
                    )
                )
                continue
            seen.add(key)
            prepared.append((index, fields, fees_given, hint, key))
            results.append(ReconcileItem(index, fields.broker_trade_id, "PENDING"))
        existing, active = await self._reconcile_reads(user_id, prepared)
        sides_by_bucket: dict[tuple[str, str, date], list[Side]] = defaultdict(list)
        for trade in active:
            assert trade.fields.exchange is not None
            assert trade.fields.side is not None
            sides_by_bucket[(trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)].append(
                trade.fields.side
            )
        new_items: list[tuple[int, TradeFields, bool, Category | None, str]] = []
        created_trades: list[Trade] = []
        for index, fields, fees_given, hint, key in prepared:
            found = existing.get(key)
            if found is None:
                assert fields.exchange is not None
                assert fields.side is not None
                sides_by_bucket[(fields.exchange.value, fields.symbol, _day(fields))].append(fields.side)
                new_items.append((index, fields, fees_given, hint, key))
                continue
            results[index] = await self._reconcile_existing(index, found, fields, fees_given, hint, now)
        creates: list[tuple[int, Trade, TradeEvent]] = []
        for index, fields, fees_given, hint, key in new_items:
            assert fields.exchange is not None
            assert fields.side is not None
            sides = list(sides_by_bucket[(fields.exchange.value, fields.symbol, _day(fields))])
            sides.remove(fields.side)
            trade = Trade(
                id=derive_id("sync", key),
                user_id=user_id,
                fields=replace(
                    fields,
                    category=hint or infer_category(fields.side, sides),
                    fees_micros=fields.fees_micros if fees_given else 0,
                ),
                category_inferred=True,
                source=Source.SYNC,
                status=Status.ACTIVE,
                version=1,
                create_time=now,
                update_time=now,
                broker_key=key,
            )
            creates.append((index, trade, new_event(EventType.CREATED, trade, now)))
        if creates and not await self.store.reserve_quota(user_id, len(creates), self.trade_quota):
            for index, trade, _ in creates:
                results[index] = ReconcileItem(
                    index,
                    trade.fields.broker_trade_id,
                    "FAILED",
                    error_reason="TRADE_QUOTA_EXCEEDED",
                    error_message=f"the user already has the maximum of {self.trade_quota:,} trades",
                )
            creates = []
        if creates:
            # One batch record instead of an outbox entry per trade (docs/decisions/0017).
            batch_id = f"{user_id}:reconcile:{uuid.uuid4().hex}"
            await self.store.start_batch(batch_id, user_id, [trade.id for _, trade, _ in creates], now)
            outcome = await self.store.insert_many([(trade, event) for _, trade, event in creates], with_outbox=False)
            await self.store.release_quota(user_id, len(outcome.collided))
            inserted = {trade.id for trade in outcome.inserted}
            await self.events.committed_batch(batch_id, outcome.inserted)
            created_trades.extend(outcome.inserted)
            # Not inserted: a concurrent call created it first (same id), or a CSV import holds the broker
            # key under its own id (one scan for all of those).
            collided = [trade for _, trade, _ in creates if trade.id not in inserted]
            holders = {trade.id: found for trade in collided if (found := await self.store.get(trade.id))}
            orphan_keys = [trade.broker_key for trade in collided if trade.id not in holders and trade.broker_key]
            by_key = await self.store.by_broker_keys(user_id, orphan_keys) if orphan_keys else {}
            for index, trade, _ in creates:
                if trade.id in inserted:
                    results[index] = ReconcileItem(index, trade.fields.broker_trade_id, "CREATED", trade.id, 1)
                else:
                    found = holders.get(trade.id) or by_key.get(trade.broker_key or "")
                    if found is None:
                        results[index] = ReconcileItem(
                            index,
                            trade.fields.broker_trade_id,
                            "FAILED",
                            error_reason="CONFLICT",
                            error_message="concurrent change; retry",
                        )
                    else:
                        results[index] = await self._reconcile_existing(index, found, trade.fields, True, None, now)
        await self._reinfer_known(active, sides_by_bucket, {_bucket_key(t) for t in created_trades})
        return results

    async def _reconcile_reads(
        self, user_id: str, prepared: Sequence[tuple[int, TradeFields, bool, Category | None, str]]
    ) -> tuple[dict[str, Trade], list[Trade]]:
        """Return the trades already holding the items' broker keys, and the ACTIVE trades of the buckets
        that gain a new trade.

        The ids of each item's group are read first (one indexed read per group, decision 0025), so a
        synced trade (its id derived from its broker key) that none of them lists is new and costs no
        further read — a first sync reads each group once, not one document per fill. The rare trade that
        exists but is listed elsewhere (the broker moved it to another day or instrument), and a key
        held under another id (a CSV import of the same fills), are caught by the insert colliding on
        `_id` or on the unique broker key, and reconciled against the holder (see `reconcile`).
        """
        if not prepared:
            return {}, []
        keys = [key for *_, key in prepared]
        buckets = sorted(
            {(fields.exchange.value, fields.symbol, _day(fields)) for _, fields, *_ in prepared if fields.exchange}
        )
        indexes = await self.store.day_indexes(user_id, buckets)
        listed = {trade_id for index in indexes.values() for ids in index.values() for trade_id in ids}
        found = await self.store.get_many([i for key in keys if (i := derive_id("sync", key)) in listed])
        existing = {trade.broker_key: trade for trade in found if trade.user_id == user_id and trade.broker_key in keys}
        # Only the groups that gain a trade: they are what category inference reads and re-evaluates.
        new_sides: dict[tuple[str, str, date], set[Side]] = defaultdict(set)
        for _, fields, *_, key in prepared:
            if fields.exchange and fields.side and key not in existing:
                new_sides[(fields.exchange.value, fields.symbol, _day(fields))].add(fields.side)
        return existing, await self._inference_reads(user_id, new_sides, indexes)

    async def _inference_reads(
        self,
        user_id: str,
        new_sides: dict[DayGroup, set[Side]],
        indexes: dict[DayGroup, DayIndex],
    ) -> list[Trade]:
        """Load just enough of the ACTIVE trades of the day groups gaining trades of `new_sides` (listed
        by their `indexes`) to infer categories.

        A new trade needs to know whether an opposite-side trade is there: the newest listed trades of
        each side are read until one is found. An inferred trade changes only when its group gains its
        first opposite side (categories are kept consistent with the group on every write), so the
        trades of a side are all read only when the other side is new to the group. A day of one-sided
        fills (accumulating a position) thus costs a few reads, not one per trade of the day. Each
        round reads what all the groups still need with one `get_many`: a call touching eight groups
        costs one or two reads, not one or two per group.
        """
        loaded: dict[DayGroup, dict[str, Trade]] = {group: {} for group in new_sides}

        async def load(wanted: dict[DayGroup, list[str]]) -> None:
            ids = [trade_id for group_ids in wanted.values() for trade_id in group_ids]
            found = {trade.id: trade for trade in await self.store.get_many(ids)} if ids else {}
            for group, group_ids in wanted.items():
                for trade_id in group_ids:
                    trade = found.get(trade_id)
                    if trade is not None and in_day_group(trade, user_id, group):
                        loaded[group][trade_id] = trade

        # Newest first: the ids listed under the side, then those indexed before sides were recorded.
        candidates = {
            (group, side): [*indexes[group][side], *indexes[group][None]][::-1]
            for group in new_sides
            for side in (Side.BUY, Side.SELL)
        }
        present: dict[DayGroup, set[Side]] = {group: set() for group in new_sides}
        offset, size = 0, INFERENCE_FIRST_READ
        while True:
            wanted: dict[DayGroup, list[str]] = {}
            for group in new_sides:
                for side in (Side.BUY, Side.SELL):
                    chunk = candidates[group, side][offset : offset + size]
                    if side not in present[group] and chunk:
                        wanted.setdefault(group, []).extend(i for i in chunk if i not in loaded[group])
            if not wanted:
                break
            await load(wanted)
            for group in wanted:
                present[group] |= {trade.fields.side for trade in loaded[group].values() if trade.fields.side}
            offset, size = offset + size, size * INFERENCE_READ_GROWTH
        full: dict[DayGroup, list[str]] = {}
        for group, sides in new_sides.items():
            for side in (Side.BUY, Side.SELL):
                opposite = Side.SELL if side is Side.BUY else Side.BUY
                if side in present[group] and opposite in sides and opposite not in present[group]:
                    full.setdefault(group, []).extend(i for i in candidates[group, side] if i not in loaded[group])
        if full:
            await load(full)
        return [trade for group_trades in loaded.values() for trade in group_trades.values()]

    async def _reconcile_existing(
        self, index: int, found: Trade, fields: TradeFields, fees_given: bool, hint: Category | None, now: datetime
    ) -> ReconcileItem:
        broker_trade_id = fields.broker_trade_id
        if found.status is Status.DELETED or found.purged(now):
            return ReconcileItem(index, broker_trade_id, "SKIPPED_DELETED", found.id, found.version)
        current = found.fields
        merged = replace(
            fields,
            category=hint if (found.category_inferred and hint) else current.category,
            strategy=current.strategy,
            tags=current.tags,
            notes=current.notes,
            fees_micros=fields.fees_micros if fees_given else current.fees_micros,
            fee_breakdown=fields.fee_breakdown if fees_given else current.fee_breakdown,
            broker_account_id=current.broker_account_id or fields.broker_account_id,
        )
        if merged == current:
            return ReconcileItem(index, broker_trade_id, "UNCHANGED", found.id, found.version)
        updated = replace(found, fields=merged, version=found.version + 1, update_time=now)
        stored = await self.store.replace(updated, found.version, new_event(EventType.UPDATED, updated, now))
        if stored is None:
            return ReconcileItem(
                index,
                broker_trade_id,
                "FAILED",
                error_reason="CONFLICT",
                error_message=f"trades[{index}]: the trade changed concurrently; retry",
            )
        await self.events.committed([stored])
        return ReconcileItem(index, broker_trade_id, "UPDATED", found.id, updated.version)


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    """The outcome of one reconcile item."""

    index: int
    broker_trade_id: str
    outcome: str
    trade_id: str = ""
    trade_version: int = 0
    error_reason: str = ""
    error_message: str = ""


def compute_position(trades: Sequence[Trade]) -> Position:
    """Replay one instrument's ACTIVE trades with FIFO and summarize them."""
    ordered = sorted(trades, key=lambda t: (t.fields.trade_time, t.create_time, t.id))
    book = PositionBook()
    for trade in ordered:
        fields = trade.fields
        assert fields.side is not None
        book.apply(
            Fill(
                trade.id,
                fields.side,
                fields.quantity_micros,
                fields.price_micros,
                fields.fees_micros,
                fields.trade_time,
            )
        )
    latest = max(ordered, key=lambda t: (t.fields.trade_time, t.create_time, t.id)).fields
    assert latest.exchange is not None
    assert latest.segment is not None
    assert book.first_time is not None
    assert book.last_time is not None
    flat = book.net_quantity == 0
    return Position(
        symbol=latest.symbol,
        exchange=latest.exchange,
        segment=latest.segment,
        derivative=latest.derivative,
        net_quantity_micros=book.net_quantity,
        average_open_price_micros=0 if flat else round_micros(book.average_open_price),
        open_value_micros=0 if flat else round_micros(book.open_value),
        open_fees_micros=0 if flat else round_micros(book.open_fees),
        realized_pnl_micros=round_micros(book.realized),
        buy_quantity_micros=book.buy_quantity,
        buy_value_micros=round_micros(book.buy_value),
        sell_quantity_micros=book.sell_quantity,
        sell_value_micros=round_micros(book.sell_value),
        total_fees_micros=book.total_fees,
        trade_count=book.fill_count,
        first_trade_time=book.first_time,
        last_trade_time=book.last_time,
    )


def in_day_group(trade: Trade, user_id: str, group: DayGroup) -> bool:
    """Tell whether `trade` is an ACTIVE trade of the user in the (exchange, symbol, day) group."""
    exchange, symbol, day = group
    return (
        trade.user_id == user_id
        and trade.status is Status.ACTIVE
        and trade.fields.exchange is not None
        and trade.fields.exchange.value == exchange
        and trade.fields.symbol == symbol
        and trade.trading_day == day
    )


def _day(fields: TradeFields) -> date:
    assert fields.trade_time is not None
    return ist_day(fields.trade_time)


def _bucket_key(trade: Trade) -> tuple[str, str, date]:
    assert trade.fields.exchange is not None
    return (trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _quota_exceeded(limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the journal already holds the maximum of {limit:,} trades; delete trades to add more",
        reason="TRADE_QUOTA_EXCEEDED",
        metadata={"limit": str(limit)},
    )


def _etag_mismatch() -> Aborted:
    return Aborted("the trade changed since it was read; re-read and retry", reason="ETAG_MISMATCH")


def _duplicate_broker_trade(trade_id: str) -> AlreadyExists:
    return AlreadyExists(
        "another trade already has this broker trade id",
        reason="DUPLICATE_BROKER_TRADE",
        metadata={"trade_id": trade_id},
    )


_ROW_REASONS = {
    "instrument.symbol": "INVALID_SYMBOL",
    "instrument.exchange": "UNKNOWN_EXCHANGE",
    "segment": "SEGMENT_MISMATCH",
    "side": "INVALID_SIDE",
    "trade_time": "INVALID_TIME",
    "category": "INVALID_CATEGORY",
    "tags": "INVALID_TAGS",
    "notes": "TOO_LONG",
    "strategy": "TOO_LONG",
    "derivative": "SYMBOL_UNPARSEABLE",
}


def _row_reason(field_name: str, description: str) -> str:
    if field_name == "trade_time" and "future" in description:
        return "FUTURE_TIME"
    if field_name.startswith("tags"):
        return "INVALID_TAGS"
    if field_name.startswith("derivative"):
        return (
            "SYMBOL_UNPARSEABLE"
            if field_name == "derivative"
            else "INVALID_DATE"
            if "expiry" in field_name
            else "OUT_OF_RANGE"
        )
    return _ROW_REASONS.get(field_name, "OUT_OF_RANGE")
