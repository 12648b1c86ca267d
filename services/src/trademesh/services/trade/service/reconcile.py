"""Reconcile: upsert a broker's trades (from the sync service) by broker key, one outcome per item."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from trademesh.kernel.errors import FieldViolation, check_fields
from trademesh.kernel.instruments import Side
from trademesh.services.core.identity import ROLE_SERVICE, Principal
from trademesh.services.trade.charging import computable, compute_charges
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    EventType,
    ReconcileItem,
    Source,
    Status,
    Trade,
    TradeEvent,
    TradeFields,
    broker_key_of,
    derive_id,
    execution_sequences,
    infer_category,
    new_event,
    normalize_fields,
)
from trademesh.services.trade.service.base import MAX_RECONCILE_ITEMS, day_group, group_of
from trademesh.services.trade.service.inference import InferenceUseCases


class ReconcileUseCases(InferenceUseCases):
    """Create, update or skip broker trades so the journal matches what the broker reports."""

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
            raw = replace(
                raw,
                broker=broker,
                broker_account_id=broker_account_id,
                category=None,
                # Fees a broker reports are its own (BROKER); otherwise the server computes them.
                charges_source=ChargesSource.BROKER if fees_given else ChargesSource.COMPUTED,
                fees_micros=raw.fees_micros if fees_given else 0,
                fee_breakdown=raw.fee_breakdown if fees_given else None,
            )
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
            sides_by_bucket[day_group(trade)].append(trade.fields.side)
        new_items: list[tuple[int, TradeFields, bool, Category | None, str]] = []
        created_trades: list[Trade] = []
        for index, fields, fees_given, hint, key in prepared:
            found = existing.get(key)
            if found is None:
                assert fields.exchange is not None
                assert fields.side is not None
                sides_by_bucket[group_of(fields)].append(fields.side)
                new_items.append((index, fields, fees_given, hint, key))
                continue
            results[index] = await self._reconcile_existing(index, found, fields, fees_given, hint, now)
        creates: list[tuple[int, Trade, TradeEvent]] = []
        # Execution order within the batch: numeric broker trade ids, else item order (decision 0110).
        sequence_of = dict(
            zip(
                (index for index, *_ in prepared),
                execution_sequences([fields.broker_trade_id for _, fields, *_ in prepared]),
                strict=True,
            )
        )
        categorized: list[TradeFields] = []
        for _index, fields, _fees_given, hint, _key in new_items:
            assert fields.exchange is not None
            assert fields.side is not None
            sides = list(sides_by_bucket[group_of(fields)])
            sides.remove(fields.side)
            categorized.append(replace(fields, category=hint or infer_category(fields.side, sides)))
        # The batch's new fills are charged together (fills of one order share its brokerage).
        charged = compute_charges(categorized)
        for (index, _fields, _fees_given, _hint, key), charged_fields in zip(new_items, charged, strict=True):
            trade = Trade(
                id=derive_id("sync", key),
                user_id=user_id,
                fields=charged_fields,
                category_inferred=True,
                source=Source.SYNC,
                status=Status.ACTIVE,
                version=1,
                create_time=now,
                update_time=now,
                broker_key=key,
                exec_seq=sequence_of[index],
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
        await self._reinfer_known(active, sides_by_bucket, {day_group(t) for t in created_trades})
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
        buckets = sorted({group_of(fields) for _, fields, *_ in prepared if fields.exchange})
        indexes = await self.store.day_indexes(user_id, buckets)
        listed = {trade_id for index in indexes.values() for ids in index.values() for trade_id in ids}
        found = await self.store.get_many([i for key in keys if (i := derive_id("sync", key)) in listed])
        existing = {trade.broker_key: trade for trade in found if trade.user_id == user_id and trade.broker_key in keys}
        # Only the groups that gain a trade: they are what category inference reads and re-evaluates.
        new_sides: dict[tuple[str, str, date], set[Side]] = defaultdict(set)
        for _, fields, *_, key in prepared:
            if fields.exchange and fields.side and key not in existing:
                new_sides[group_of(fields)].add(fields.side)
        return existing, await self._inference_reads(user_id, new_sides, indexes)

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
            stop_loss_price_micros=current.stop_loss_price_micros,
            target_price_micros=current.target_price_micros,
            planned_risk_micros=current.planned_risk_micros,
            broker_account_id=current.broker_account_id or fields.broker_account_id,
        )
        if current.charges_source is ChargesSource.MANUAL or (not fees_given and not computable(current)):
            # What the user typed wins; broker figures stay until the broker reports new ones.
            merged = replace(
                merged,
                fees_micros=current.fees_micros,
                fee_breakdown=current.fee_breakdown,
                charges_source=current.charges_source,
                charges_schedule_version=current.charges_schedule_version,
            )
        elif not fees_given:
            merged = compute_charges([merged])[0]
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
