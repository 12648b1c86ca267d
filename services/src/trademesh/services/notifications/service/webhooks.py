"""Webhook use cases: create (secret sealed, address checked), list, delete, the delivery list; the dispatcher.

The dispatcher posts what is due. A delivery is written PENDING before any post (by the Notifier), then
claimed with a lease under a fresh token: while the lease holds no other replica takes it, and an outcome
is recorded only if the lease is still this claim's. A crash between claiming and recording leaves it
PENDING, taken again when the lease ends (at-least-once; the Idempotency-Key is the same). Deliveries
claimed together for one webhook go out as one digest post (a burst does not flood); each post spends one
unit of the user's webhook budget, and over budget they wait (and coalesce further) until it refills.
Failed posts retry with exponential backoff and jitter (scheduled in the store, so retries survive
restarts); the 8th failure dead-letters the delivery, which the user sees in ListWebhookDeliveries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from trademesh.kernel.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from trademesh.kernel.requests import check_page_size, check_request_id
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.notifications.model import (
    MAX_ATTEMPTS,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookDraft,
    new_id,
)
from trademesh.services.notifications.model.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Network,
    address_refusal,
    groups,
    payload,
    retry_delay,
    sign,
    webhook_context,
)
from trademesh.services.notifications.ports import (
    AddressResolver,
    Clock,
    PostResult,
    SecretSealer,
    SendBudget,
    WebhookDeliveryStore,
    WebhookSender,
    WebhookStore,
)

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: How long a claimed delivery is held from other replicas while it is being posted.
SEND_LEASE = timedelta(minutes=2)
SECRET_PREFIX = "whsec_"
#: How long resolving a webhook's host at create may take.
RESOLVE_TIMEOUT_SECONDS = 5.0
WEBHOOK_CHANNEL = "webhook"


def webhooks_not_configured() -> FailedPrecondition:
    """Return the error of every webhook RPC on a server without TRADEMESH_WEBHOOK_SECRETS_KEY."""
    return FailedPrecondition(
        "webhooks are not configured on this server (TRADEMESH_WEBHOOK_SECRETS_KEY)", reason="WEBHOOKS_NOT_CONFIGURED"
    )


def webhook_not_found() -> NotFound:
    """Return the error for an unknown webhook (or another user's: indistinguishable)."""
    return NotFound("webhook not found", reason="WEBHOOK_NOT_FOUND")


def _refused(problem: str) -> InvalidArgument:
    return InvalidArgument(
        "the webhook url is refused", [FieldViolation("webhook.url", problem)], reason="WEBHOOK_ADDRESS_REFUSED"
    )


class AddressPolicy:
    """Resolve a webhook's host and refuse non-public addresses (at create, and again at every connect)."""

    def __init__(self, resolver: AddressResolver, allowed: Sequence[Network] = ()) -> None:
        self._resolver = resolver
        self.allowed = list(allowed)

    async def check(self, host: str, port: int) -> None:
        """Raise INVALID_ARGUMENT (WEBHOOK_ADDRESS_REFUSED) unless every address of `host` is allowed."""
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await self._resolver.resolve(host, port)
        except (OSError, TimeoutError):
            raise _refused(f"the host {host!r} does not resolve") from None
        if not addresses:
            raise _refused(f"the host {host!r} does not resolve")
        for address in addresses:
            problem = address_refusal(address, self.allowed)
            if problem:
                raise _refused(f"must reach a public address: {problem}")


class WebhookService:
    """Create and manage a user's webhooks; list their deliveries."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        deliveries: WebhookDeliveryStore,
        sealer: SecretSealer | None,
        policy: AddressPolicy,
        tokens: Codec,
        clock: Clock,
        max_per_user: int = 5,
        allow_http: bool = False,
    ) -> None:
        self._store = store
        self._deliveries = deliveries
        self._sealer = sealer
        self._policy = policy
        self._tokens = tokens
        self._clock = clock
        self._max = max_per_user
        self._allow_http = allow_http

    def _require(self) -> SecretSealer:
        if self._sealer is None:
            raise webhooks_not_configured()
        return self._sealer

    async def create(self, user_id: str, request_id: str, draft: WebhookDraft) -> tuple[Webhook, str]:
        """Create a webhook; return it and its signing secret (a retry with the same request_id returns both)."""
        sealer = self._require()
        request_id = check_request_id(request_id)
        draft = draft.validated(allow_http=self._allow_http)
        mine = await self._store.for_user(user_id)
        existing = next((hook for hook in mine if hook.request_id == request_id), None)
        if existing is not None:
            return existing, sealer.open(existing.secret, webhook_context(user_id, existing.id)).decode()
        if len(mine) >= self._max:
            raise ResourceExhausted(
                f"at most {self._max} webhooks per user; delete one first", reason="WEBHOOK_LIMIT_REACHED"
            )
        await self._policy.check(draft.host, draft.port)
        now = self._clock()
        webhook_id = new_id("wh_", now)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        webhook = Webhook(
            id=webhook_id,
            user_id=user_id,
            url=draft.url,
            kinds=draft.kinds,
            secret=sealer.seal(secret.encode(), webhook_context(user_id, webhook_id)),
            secret_hint=secret[-4:],
            created_at=now,
            request_id=request_id,
        )
        stored = await self._store.add(webhook)
        if stored.id != webhook.id:  # a concurrent retry won: return its secret
            return stored, sealer.open(stored.secret, webhook_context(user_id, stored.id)).decode()
        return stored, secret

    async def list_webhooks(self, user_id: str) -> list[Webhook]:
        """Return the user's webhooks, newest first."""
        self._require()
        return await self._store.for_user(user_id)

    async def delete(self, user_id: str, webhook_id: str) -> None:
        """Delete the user's webhook; its pending deliveries are dropped."""
        self._require()
        if not webhook_id or not await self._store.delete(user_id, webhook_id):
            raise webhook_not_found()
        await self._deliveries.drop_pending(webhook_id, self._clock())

    async def reseal_secrets(self, batch: int = 100) -> int:
        """Re-seal every signing secret not sealed under the active key (after a key rotation); return how many.
        A secret no listed key opens is left as it is (logged): its webhook's posts fail until it is replaced."""
        sealer = self._require()
        resealed, skipped = 0, set[str]()
        while True:
            found = [
                hook
                for hook in await self._store.sealed_with_other_key(sealer.active_key_id, batch + len(skipped))
                if hook.id not in skipped
            ]
            if not found:
                return resealed
            for hook in found:
                previous = hook.secret.key_id
                try:
                    secret = sealer.reseal(hook.secret, webhook_context(hook.user_id, hook.id))
                except ValueError as error:
                    logger.warning("webhook %s: its secret cannot be re-sealed (%s)", hook.id, error)
                    skipped.add(hook.id)
                    continue
                if secret is not None and await self._store.replace_secret(replace(hook, secret=secret), previous):
                    resealed += 1

    async def list_deliveries(
        self,
        user_id: str,
        webhook_id: str,
        state: WebhookDeliveryState | None,
        page_size: int,
        page_token: str,
    ) -> tuple[list[WebhookDelivery], str]:
        """Return a page of the user's deliveries (newest first) and the next page's token."""
        self._require()
        limit = check_page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if webhook_id and await self._store.get(user_id, webhook_id) is None:
            raise webhook_not_found()
        filters = f"{webhook_id}|{state.value if state is not None else ''}"
        before: str | None = None
        if page_token:
            decoded = self._tokens.decode(page_token)
            if decoded is None or decoded.get("u") != user_id or decoded.get("f") != filters:
                raise page_token_invalid()
            before = str(decoded.get("b", ""))
        items = await self._deliveries.page(user_id, webhook_id or None, state, before, limit + 1)
        next_token = ""
        if len(items) > limit:
            items = items[:limit]
            next_token = self._tokens.encode({"u": user_id, "f": filters, "b": items[-1].cursor})
        return items, next_token


class WebhookDispatcher:
    """Post the webhook deliveries that are due."""

    def __init__(
        self,
        *,
        webhooks: WebhookStore,
        deliveries: WebhookDeliveryStore,
        sender: WebhookSender,
        sealer: SecretSealer,
        budget: SendBudget,
        clock: Clock,
        rng: random.Random | None = None,
        batch_size: int = 100,
        lease: timedelta = SEND_LEASE,
        post_timeout: timedelta = timedelta(seconds=10),
        concurrency: int = 8,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._sender = sender
        self._sealer = sealer
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._batch = batch_size
        self._lease = lease
        self._post_timeout = post_timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def dispatch_due(self) -> int:
        """Post every due delivery (a batch at a time, one post per webhook); return how many posts succeeded."""
        posted = 0
        while True:
            now = self._clock()
            token = secrets.token_hex(12)
            lease_until = now + self._lease
            batch = await self._deliveries.claim_due(now, lease_until, token, self._batch)
            # Webhooks are posted side by side (a slow receiver does not hold up the others), a few at a time.
            results = await asyncio.gather(*(self._post(group, token, lease_until) for group in groups(batch)))
            posted += sum(results)
            if len(batch) < self._batch:
                return posted

    async def _post(self, group: list[WebhookDelivery], token: str, lease_until: datetime) -> int:
        async with self._slots:
            if self._clock() + self._post_timeout >= lease_until:
                # The lease could end mid-post and another replica send it too: hand it back instead.
                for delivery in group:
                    await self._deliveries.postpone(delivery.id, token, self._clock())
                return 0
            return await self._post_group(group, token)

    async def _post_group(self, group: list[WebhookDelivery], token: str) -> int:
        webhook = await self._webhooks.get_any(group[0].webhook_id)
        if webhook is None:
            for delivery in group:
                await self._deliveries.finish(
                    delivery.id, token, WebhookDeliveryState.DROPPED, 0, "the webhook was deleted", self._clock()
                )
            return 0
        retry_at = await self._budget.take(webhook.user_id, WEBHOOK_CHANNEL)
        if retry_at is not None:
            # Over budget: wait for the budget to refill; what piles up meanwhile goes out as one digest.
            for delivery in group:
                await self._deliveries.postpone(delivery.id, token, retry_at)
            return 0
        try:
            secret = self._sealer.open(webhook.secret, webhook_context(webhook.user_id, webhook.id))
        except ValueError as unopened:
            result = PostResult(0, f"the signing secret cannot be opened: {unopened}")
        else:
            key, body = payload(group)
            timestamp = int(self._clock().timestamp())
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                IDEMPOTENCY_HEADER: key,
            }
            result = await self._sender.post(webhook.url, body, headers)
        now = self._clock()
        if result.ok:
            for delivery in group:
                await self._deliveries.finish(
                    delivery.id, token, WebhookDeliveryState.SENT, result.status_code, "", now
                )
            return 1
        problem = result.error or f"the receiver answered HTTP {result.status_code}"
        for delivery in group:
            attempts = delivery.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                logger.warning(
                    "webhook delivery %s dead-lettered after %d attempts: %s", delivery.id, attempts, problem
                )
                await self._deliveries.finish(
                    delivery.id, token, WebhookDeliveryState.DEAD_LETTER, result.status_code, problem, now
                )
            else:
                await self._deliveries.retry_later(
                    delivery.id, token, now + retry_delay(attempts, self._rng), result.status_code, problem
                )
        return 0
