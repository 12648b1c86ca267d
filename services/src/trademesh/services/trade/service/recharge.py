"""Recharge: recompute COMPUTED charges after a schedule correction (admin or service identity)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from trademesh.kernel.errors import FieldViolation, check_fields
from trademesh.services.core.identity import ROLE_ADMIN, ROLE_SERVICE, Principal
from trademesh.services.trade.charging import computable, compute_charges, is_settlement_charge, settlement_charges
from trademesh.services.trade.model import EventType, new_event
from trademesh.services.trade.service.base import UseCases


@dataclass(frozen=True, slots=True)
class RechargeResult:
    """What a recharge did: trades examined (server-owned charges), updated, and lost to a concurrent write."""

    users_count: int = 0
    examined_count: int = 0
    updated_count: int = 0
    conflict_count: int = 0


class RechargeUseCases(UseCases):
    """Recompute the charges the server owns, leaving MANUAL and BROKER ones alone."""

    async def recharge(self, caller: Principal, user_id: str, start: date | None, end: date | None) -> RechargeResult:
        """Recompute COMPUTED (and unsourced, fee-less) charges of ACTIVE trades on IST days in [start, end].

        Per user, every such trade of the range is charged together (orders and DP scrip-days lie within
        one IST day, so a range never splits them). Expiry settlement fills with COMPUTED charges are
        recharged too, each alone by the settlement rules (decision 0310: STT on exercise), never as trades.
        Idempotent: a trade whose charges come out the same is not written; a changed one gets version + 1
        and one UPDATED event. A trade changed concurrently
        is counted in `conflict_count` and left for the next run.
        """
        caller.require_role(ROLE_ADMIN, ROLE_SERVICE)
        violations: list[FieldViolation] = []
        if start is not None and end is not None and start > end:
            violations.append(FieldViolation("end_date", "end_date must not be before start_date"))
        check_fields(violations, "invalid recharge request")
        users = [user_id] if user_id else await self.store.user_ids_between(start, end)
        examined = updated = conflicts = 0
        for user in users:
            in_range = await self.store.trades_between(user, start, end)
            trades = [t for t in in_range if computable(t.fields)]
            settlements = [t for t in in_range if is_settlement_charge(t.fields)]
            examined += len(trades) + len(settlements)
            charged = compute_charges([trade.fields for trade in trades])
            trades += settlements
            charged += [settlement_charges(trade.fields) for trade in settlements]
            for trade, fields in zip(trades, charged, strict=True):
                if fields == trade.fields:
                    continue
                now = self.clock()
                changed = replace(trade, fields=fields, version=trade.version + 1, update_time=now)
                stored = await self.store.replace(changed, trade.version, new_event(EventType.UPDATED, changed, now))
                if stored is None:
                    conflicts += 1
                    continue
                await self.events.committed([stored])
                updated += 1
        return RechargeResult(len(users), examined, updated, conflicts)
