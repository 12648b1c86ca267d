"""Import: validate parsed file rows, skip what the journal already holds, insert the rest in bulk.

Parsing is apart (`trademesh.services.trade.import_formats` and the brokers' tradebook parsers); a
request id makes an import idempotent, and an interrupted import finishes when retried.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from trademesh.kernel.errors import AlreadyExists, FieldViolation, InvalidArgument, ResourceExhausted
from trademesh.kernel.instruments import Side
from trademesh.kernel.requests import check_request_id
from trademesh.services.trade.charging import compute_charges
from trademesh.services.trade.model import (
    EventType,
    ImportResult,
    ImportRowError,
    ParsedRow,
    Source,
    Status,
    Trade,
    TradeEvent,
    TradeFields,
    broker_key_of,
    content_hash,
    derive_id,
    execution_sequences,
    infer_category,
    new_event,
    normalize_fields,
)
from trademesh.services.trade.service.base import MAX_ROW_ERRORS, day_group, group_of
from trademesh.services.trade.service.inference import InferenceUseCases
from trademesh.services.trade.service.lot_sizes import lot_violations

logger = logging.getLogger(__name__)


class ImportUseCases(InferenceUseCases):
    """Import trades from a parsed file."""

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
            if not violations:
                violations = lot_violations(self.instruments, normalized, "")
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
            sides_by_bucket[day_group(trade)].append(trade.fields.side)
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
            sides_by_bucket[group_of(fields)].append(fields.side)
        items: list[tuple[Trade, TradeEvent]] = []
        # Execution order within the file: numeric broker trade ids, else row order (decision 0110). Ranked
        # over every valid row, so a retried (interrupted) import gives each row the same number.
        sequence_of = dict(
            zip(
                (row.row_number for row, _, _ in keyed),
                execution_sequences([fields.broker_trade_id for _, fields, _ in keyed]),
                strict=True,
            )
        )
        categorized: list[tuple[TradeFields, bool]] = []
        for _row, fields, _key in new_rows:
            assert fields.exchange is not None
            assert fields.side is not None
            inferred = fields.category is None
            category = fields.category
            if category is None:
                sides = list(sides_by_bucket[group_of(fields)])
                sides.remove(fields.side)
                category = infer_category(fields.side, sides)
            categorized.append((replace(fields, category=category), inferred))
        # The rows this import writes are charged together: fills of one order share its brokerage.
        charged = compute_charges([fields for fields, _ in categorized])
        for (row, _, key), (_, inferred), fields in zip(new_rows, categorized, charged, strict=True):
            trade = Trade(
                id=derive_id("import", import_id or request_id, str(row.row_number)),
                user_id=user_id,
                fields=fields,
                category_inferred=inferred,
                source=Source.IMPORT,
                status=Status.ACTIVE,
                version=1,
                create_time=now,
                update_time=now,
                import_id=import_id,
                broker_key=None if key.startswith("row|") else key,
                exec_seq=sequence_of[row.row_number],
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
            await self._reinfer_known(active, sides_by_bucket, {day_group(t) for t in outcome.inserted})
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
