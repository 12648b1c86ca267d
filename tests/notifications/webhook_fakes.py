"""In-memory fakes of the webhook ports, with the real adapters' semantics (lease tokens, dedupe by id)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.notifications.leased_fakes import InMemoryLeasedDeliveries
from trademesh.services.notifications.model import Webhook, WebhookDelivery, WebhookDeliveryState
from trademesh.services.notifications.model.webhooks import Address
from trademesh.services.notifications.ports import PostResult


class InMemoryWebhookStore:
    """Webhooks by id."""

    def __init__(self) -> None:
        self.webhooks: dict[str, Webhook] = {}

    async def add(self, webhook: Webhook) -> Webhook:
        for existing in self.webhooks.values():
            if existing.user_id == webhook.user_id and existing.request_id == webhook.request_id:
                return existing
        self.webhooks[webhook.id] = webhook
        return webhook

    async def get(self, user_id: str, webhook_id: str) -> Webhook | None:
        webhook = self.webhooks.get(webhook_id)
        return webhook if webhook is not None and webhook.user_id == user_id else None

    async def get_any(self, webhook_id: str) -> Webhook | None:
        return self.webhooks.get(webhook_id)

    async def for_user(self, user_id: str) -> list[Webhook]:
        return sorted((w for w in self.webhooks.values() if w.user_id == user_id), key=lambda w: w.id, reverse=True)

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[Webhook]]:
        found = {user_id: await self.for_user(user_id) for user_id in user_ids}
        return {user_id: hooks for user_id, hooks in found.items() if hooks}

    async def delete(self, user_id: str, webhook_id: str) -> bool:
        if await self.get(user_id, webhook_id) is None:
            return False
        del self.webhooks[webhook_id]
        return True

    async def sealed_with_other_key(self, key_id: str, limit: int) -> list[Webhook]:
        return [w for w in self.webhooks.values() if w.secret.key_id != key_id][:limit]

    async def replace_secret(self, webhook: Webhook, previous_key_id: str) -> bool:
        current = self.webhooks.get(webhook.id)
        if current is None or current.secret.key_id != previous_key_id:
            return False
        self.webhooks[webhook.id] = webhook
        return True


class InMemoryWebhookDeliveryStore(InMemoryLeasedDeliveries[WebhookDelivery]):
    """Webhook deliveries (the leased store), listed by cursor."""

    def __init__(self) -> None:
        super().__init__(WebhookDeliveryState.DROPPED)

    async def page(
        self,
        user_id: str,
        webhook_id: str | None,
        state: WebhookDeliveryState | None,
        before_cursor: str | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        mine = sorted(
            (
                d
                for d in self.deliveries.values()
                if d.user_id == user_id
                and (webhook_id is None or d.webhook_id == webhook_id)
                and (state is None or d.state is state)
                and (before_cursor is None or d.cursor < before_cursor)
            ),
            key=lambda d: d.cursor,
            reverse=True,
        )
        return mine[:limit]

    async def drop_pending(self, webhook_id: str, now: datetime) -> int:
        return self.drop_pending_where(lambda d: d.webhook_id == webhook_id, "the webhook was deleted", now)

    def states(self) -> list[WebhookDeliveryState]:
        """Return every delivery's state, by id."""
        return [self.deliveries[key].state for key in sorted(self.deliveries)]


@dataclass
class Post:
    """One post the fake sender received."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class ScriptedSender:
    """Answer posts from a script of statuses (then 200), recording each."""

    statuses: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        self.posts.append(Post(url, body, dict(headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return PostResult(status, "" if 200 <= status < 300 else f"HTTP {status}")


class FakeResolver:
    """Resolve names from a table (unknown names do not resolve)."""

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        self.table = dict(table)

    async def resolve(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if host not in self.table:
            raise OSError(f"{host} does not resolve")
        return [ipaddress.ip_address(address) for address in self.table[host]]


class FakeBudget:
    """`per_window` sends per user and channel in each `window` of the fake clock."""

    def __init__(self, clock: object, per_window: int = 1000, window: timedelta = timedelta(minutes=1)) -> None:
        self._clock = clock
        self.per_window = per_window
        self.window = window
        self._spent: dict[tuple[str, str], list[datetime]] = {}

    async def take(self, user_id: str, channel: str) -> datetime | None:
        now: datetime = self._clock()  # type: ignore[operator]
        spent = [moment for moment in self._spent.get((user_id, channel), []) if moment > now - self.window]
        if len(spent) >= self.per_window:
            self._spent[(user_id, channel)] = spent
            return spent[0] + self.window
        self._spent[(user_id, channel)] = [*spent, now]
        return None
