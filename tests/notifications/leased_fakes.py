"""The in-memory twin of `notifications/leased_deliveries.py`: deliveries by id, each with the token of the claim
holding it (an outcome needs the token). The webhook and the push/SMS delivery fakes are this one store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

DeliveryT = TypeVar("DeliveryT", bound=Any)


class InMemoryLeasedDeliveries(Generic[DeliveryT]):
    """Insert, claim under a lease, and record token-checked outcomes, as the MongoDB store does."""

    def __init__(self, dropped: StrEnum) -> None:
        self.deliveries: dict[str, DeliveryT] = {}
        self.tokens: dict[str, str] = {}
        self._dropped = dropped

    @staticmethod
    def _pending(delivery: DeliveryT) -> bool:
        return bool(delivery.state.value == "pending")

    async def add_many(self, deliveries: Sequence[DeliveryT]) -> set[str]:
        new = set()
        for delivery in deliveries:
            if delivery.id not in self.deliveries:
                self.deliveries[delivery.id] = delivery
                new.add(delivery.id)
        return new

    async def claim_due(self, now: datetime, lease_until: datetime, token: str, limit: int) -> list[DeliveryT]:
        due = sorted(
            (d for d in self.deliveries.values() if self._pending(d) and d.next_attempt_at <= now),
            key=lambda d: d.next_attempt_at,
        )[:limit]
        for delivery in due:
            self.deliveries[delivery.id] = replace(delivery, next_attempt_at=lease_until)
            self.tokens[delivery.id] = token
        return due

    def _held(self, delivery_id: str, token: str) -> DeliveryT | None:
        delivery = self.deliveries.get(delivery_id)
        if delivery is None or not self._pending(delivery) or self.tokens.get(delivery_id) != token:
            return None
        self.tokens.pop(delivery_id)
        return delivery

    async def finish(
        self, delivery_id: str, token: str, state: StrEnum, status_code: int, error: str, now: datetime
    ) -> bool:
        delivery = self._held(delivery_id, token)
        if delivery is None:
            return False
        attempts = delivery.attempts + (state is not self._dropped)
        self.deliveries[delivery_id] = replace(
            delivery, state=state, attempts=attempts, last_status_code=status_code, last_error=error, finished_at=now
        )
        return True

    async def retry_later(
        self, delivery_id: str, token: str, next_attempt_at: datetime, status_code: int, error: str
    ) -> bool:
        delivery = self._held(delivery_id, token)
        if delivery is None:
            return False
        self.deliveries[delivery_id] = replace(
            delivery,
            next_attempt_at=next_attempt_at,
            attempts=delivery.attempts + 1,
            last_status_code=status_code,
            last_error=error,
        )
        return True

    async def postpone(self, delivery_id: str, token: str, next_attempt_at: datetime) -> bool:
        delivery = self._held(delivery_id, token)
        if delivery is None:
            return False
        self.deliveries[delivery_id] = replace(delivery, next_attempt_at=next_attempt_at)
        return True

    def drop_pending_where(self, matches: Callable[[DeliveryT], bool], reason: str, now: datetime) -> int:
        """Drop every PENDING delivery that `matches` (its target is gone); return how many."""
        dropped = [d for d in self.deliveries.values() if matches(d) and self._pending(d)]
        for delivery in dropped:
            self.deliveries[delivery.id] = replace(delivery, state=self._dropped, last_error=reason, finished_at=now)
            self.tokens.pop(delivery.id, None)
        return len(dropped)

    async def delete_created_before(self, moment: datetime) -> int:
        old = [key for key, delivery in self.deliveries.items() if delivery.created_at < moment]
        for key in old:
            del self.deliveries[key]
        return len(old)
