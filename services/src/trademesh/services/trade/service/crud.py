"""Journal entries: read, list, create, update, soft-delete and restore one user's trades."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from trademesh.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    check_fields,
)
from trademesh.kernel.requests import check_page_size, check_request_id
from trademesh.services.core.page_tokens import page_token_invalid
from trademesh.services.trade.charging import compute_charges, settlement_charges
from trademesh.services.trade.model import (
    BROKER_FIELDS,
    MASK_ATTRIBUTES,
    PURGE_AFTER,
    ChargesSource,
    EventType,
    ListedTrade,
    Source,
    Status,
    Trade,
    TradeFields,
    TradeFilter,
    broker_key_of,
    bucket_of,
    content_hash,
    derive_id,
    infer_category,
    new_event,
    normalize_fields,
    user_tag,
)
from trademesh.services.trade.ports import BrokerKeyTaken, IdTaken, ListCursor
from trademesh.services.trade.service.base import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    day_of,
    duplicate_broker_trade,
    epoch_micros,
    etag_mismatch,
    not_found,
)
from trademesh.services.trade.service.inference import InferenceUseCases
from trademesh.services.trade.service.lot_sizes import lot_violations

#: What an expiry settlement fill's numbers are made of: fixed by the job, not editable.
SETTLEMENT_FIELDS = BROKER_FIELDS | {"fees_micros", "fee_breakdown", "charges_source"}


class CrudUseCases(InferenceUseCases):
    """Read and write single trades; every write keeps the inferred categories of its day groups right."""

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
    ) -> tuple[list[ListedTrade], str]:
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
            micros = epoch_micros(last.trade_time)
            next_token = self.codec.encode(
                {"k": "trades", "u": user_tag(user_id), "f": filter_tag, "t": micros, "i": last.id}
            )
        return [trade for trade in trades if not trade.purged(now)], next_token

    async def create(self, user_id: str, request_id: str, raw: TradeFields) -> Trade:
        """Create a manual trade, idempotently by request id."""
        request_id = check_request_id(request_id)
        now = self.clock()
        fields, violations = normalize_fields(raw, now)
        if raw.charges_source is ChargesSource.BROKER:
            violations.append(FieldViolation("trade.charges_source", "charges_source must be COMPUTED or MANUAL"))
        if not violations:
            violations.extend(lot_violations(self.instruments, fields, "trade."))
        check_fields(violations, "trade has invalid fields")
        request_hash = content_hash("create", raw)
        trade_id = derive_id("create", user_id, request_id)
        # A retried request is found by the insert (IdTaken below), not by a read before every create.
        category, inferred = fields.category, fields.category is None
        assert fields.exchange is not None
        assert fields.side is not None
        group = (user_id, fields.exchange.value, fields.symbol, day_of(fields))
        if category is None:
            others = await self.store.same_day(*group)
            category = infer_category(fields.side, [t.fields.side for t in others if t.fields.side])
            side_known = any(t.fields.side is fields.side for t in others)
        else:
            side_known = await self.store.side_in_group(*group, fields.side)
        trade = Trade(
            id=trade_id,
            user_id=user_id,
            fields=compute_charges([replace(fields, category=category)])[0],
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
        try:
            await self._reserve(user_id, 1)
        except ResourceExhausted:
            existing = await self.store.get(trade_id)  # a retry of a create that filled the journal
            if existing is None:
                raise
            return await self._replayed(existing, request_hash)
        event = new_event(EventType.CREATED, trade, now)
        try:
            await self.store.insert(trade, event)
        except IdTaken:
            await self.store.release_quota(user_id, 1)
            existing = await self.store.get(trade_id)
            if existing is None:  # purged in between: extremely unlikely; let the client retry
                raise
            return await self._replayed(existing, request_hash)
        except BrokerKeyTaken as taken:
            await self.store.release_quota(user_id, 1)
            raise duplicate_broker_trade(taken.trade_id) from None
        await self.events.created(trade, event)
        if side_known:
            # The group had this side before the trade was written: its sides, and so every inferred
            # category in it (kept consistent on every write), are unchanged. The first trade of a
            # side re-evaluates the group after its write, so concurrent creates cannot both skip it.
            return trade
        changed = await self._reinfer({bucket_of(trade)})
        return changed.get(trade.id, trade)

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
            raise etag_mismatch()
        if current.status is Status.DELETED:
            raise FailedPrecondition("a deleted trade cannot be updated", reason="TRADE_DELETED")
        if current.broker_sourced and any(path in BROKER_FIELDS for path in paths):
            raise FailedPrecondition(
                "broker-owned fields of a broker-sourced trade are read-only", reason="BROKER_FIELD_READ_ONLY"
            )
        if current.source is Source.SETTLEMENT and any(path in SETTLEMENT_FIELDS for path in paths):
            raise FailedPrecondition(
                "an expiry settlement's contract, quantity, price, time and charges are read-only",
                reason="SETTLEMENT_FIELD_READ_ONLY",
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
        if "charges_source" in paths:
            if patch.charges_source not in (ChargesSource.COMPUTED, ChargesSource.MANUAL):
                raise InvalidArgument(
                    "invalid update",
                    violations=[FieldViolation("trade.charges_source", "charges_source must be COMPUTED or MANUAL")],
                )
            if patch.charges_source is ChargesSource.COMPUTED and not {"fees_micros", "fee_breakdown"} & set(paths):
                changes.update(fees_micros=0, fee_breakdown=None)
        elif "fees_micros" in paths or "fee_breakdown" in paths:
            changes["charges_source"] = ChargesSource.MANUAL  # what the user types wins over recomputation
        elif current.fields.charges_source in (None, ChargesSource.COMPUTED):
            changes.update(fees_micros=0, fee_breakdown=None, charges_source=ChargesSource.COMPUTED)
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
        if not field_violations and {"instrument", "quantity_micros"} & set(paths):
            field_violations.extend(lot_violations(self.instruments, fields, "trade."))
        check_fields(field_violations, "trade has invalid fields")
        if inferred:
            fields = replace(fields, category=base.category)
        moved = any(path in ("instrument", "side", "trade_time") for path in paths)
        if inferred and (moved or "category" in paths):
            assert fields.exchange is not None
            assert fields.side is not None
            others = await self.store.same_day(user_id, fields.exchange.value, fields.symbol, day_of(fields))
            sides = [t.fields.side for t in others if t.id != current.id and t.fields.side]
            fields = replace(fields, category=infer_category(fields.side, sides))
        if current.source is Source.SETTLEMENT and fields.charges_source is ChargesSource.COMPUTED:
            fields = settlement_charges(fields)  # decision 0310: settlement rules, never a trade's
        elif fields.charges_source is ChargesSource.COMPUTED:
            fields = compute_charges([fields])[0]
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
            raise duplicate_broker_trade(taken.trade_id) from None
        if stored is None:
            raise etag_mismatch()
        await self.events.committed([stored])
        changed = await self._reinfer({bucket_of(current), bucket_of(updated)} if moved else set())
        return changed.get(updated.id, updated)

    async def delete(self, user_id: str, trade_id: str, etag: str) -> Trade:
        """Soft-delete a trade (restorable until its purge time)."""
        current = await self.get(user_id, trade_id)
        if etag and etag != current.etag:
            raise etag_mismatch()
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
            raise etag_mismatch()
        await self.events.committed([stored])
        await self._reinfer({bucket_of(current)})
        return updated

    async def undelete(self, user_id: str, trade_id: str, etag: str) -> Trade:
        """Restore a soft-deleted trade before its purge time."""
        current = await self.get(user_id, trade_id)
        if etag and etag != current.etag:
            raise etag_mismatch()
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
            raise etag_mismatch()
        await self.events.committed([stored])
        changed = await self._reinfer({bucket_of(current)})
        return changed.get(restored.id, restored)
