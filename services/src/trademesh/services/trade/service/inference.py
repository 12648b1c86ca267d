"""Category inference: INTRADAY when a day group holds both sides, else SWING, kept right on every write.

A group is a user's ACTIVE trades of one (exchange, symbol, IST trading day). Inferred categories are
re-evaluated in the groups a write touches; explicit categories are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from trademesh.kernel.instruments import Side
from trademesh.services.trade.model import EventType, Trade, bucket_of, infer_category, new_event
from trademesh.services.trade.ports import DayGroup, DayIndex
from trademesh.services.trade.service.base import (
    INFERENCE_FIRST_READ,
    INFERENCE_READ_GROWTH,
    REINFER_ATTEMPTS,
    UseCases,
    day_group,
    in_day_group,
)


class InferenceUseCases(UseCases):
    """Re-evaluate inferred categories (shared by the writes of every other use-case group)."""

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
            key = day_group(trade)
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

        # Newest first.
        candidates = {
            (group, side): indexes[group][side][::-1] for group in new_sides for side in (Side.BUY, Side.SELL)
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
