"""Alert use cases: create (idempotent, limited per user), get, list, update, delete — owner only."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from trademesh.kernel.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from trademesh.kernel.requests import check_page_size, check_request_id
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.notifications.model import Alert, AlertDraft, AlertState
from trademesh.services.notifications.ports import AlertChanges, AlertStore, Clock

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: The fields UpdateAlert may change (update_mask paths).
UPDATABLE = ("level_micros", "change_basis_points", "rearm", "cool_down", "expire_time", "note")
_DRAFT_FIELDS = {"expire_time": "expires_at"}


def alert_not_found() -> NotFound:
    """Return the error for an unknown alert (or another user's: indistinguishable)."""
    return NotFound("alert not found", reason="ALERT_NOT_FOUND")


class AlertService:
    """Create and manage a user's alerts; every change is announced to the evaluators."""

    def __init__(
        self,
        *,
        store: AlertStore,
        changes: AlertChanges,
        tokens: Codec,
        clock: Clock,
        max_alerts_per_user: int,
        guardrails_enabled: bool = True,
    ) -> None:
        self._store = store
        self._guardrails = guardrails_enabled
        self._changes = changes
        self._tokens = tokens
        self._clock = clock
        self._max_alerts = max_alerts_per_user

    async def create(self, user_id: str, request_id: str, draft: AlertDraft) -> Alert:
        """Create an ARMED alert; a retry with the same request_id returns the first one."""
        request_id = check_request_id(request_id)
        now = self._clock()
        draft = draft.validated(now)
        if draft.condition is not None and draft.condition.is_guardrail and not self._guardrails:
            raise FailedPrecondition(
                "P&L guardrails are not available on this server (no service token to read analytics)",
                reason="GUARDRAILS_NOT_CONFIGURED",
            )
        existing = await self._store.get_by_request(user_id, request_id)
        if existing is not None:
            return existing
        if await self._store.count_active(user_id) >= self._max_alerts:
            raise ResourceExhausted(
                f"at most {self._max_alerts} active alerts per user; delete some first",
                reason="ALERT_LIMIT_REACHED",
            )
        alert = await self._store.add(Alert.create(user_id, draft, request_id, now))
        await self._changes.publish(alert.id)
        return alert

    async def get(self, user_id: str, alert_id: str) -> Alert:
        """Return the user's alert."""
        alert = await self._store.get(user_id, alert_id) if alert_id else None
        if alert is None:
            raise alert_not_found()
        return alert

    async def list_alerts(
        self, user_id: str, state: AlertState | None, page_size: int, page_token: str
    ) -> tuple[list[Alert], str]:
        """Return a page of the user's alerts, newest first, and the next page's token."""
        limit = check_page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        filters = state.value if state is not None else ""
        after: str | None = None
        if page_token:
            payload = self._tokens.decode(page_token)
            if payload is None or payload.get("u") != user_id or payload.get("f") != filters:
                raise page_token_invalid()
            after = str(payload.get("a", ""))
        alerts = await self._store.page(user_id, state, after, limit + 1)
        next_token = ""
        if len(alerts) > limit:
            alerts = alerts[:limit]
            next_token = self._tokens.encode({"u": user_id, "f": filters, "a": alerts[-1].id})
        return alerts, next_token

    async def update(self, user_id: str, alert_id: str, changes: AlertDraft, mask: Collection[str]) -> Alert:
        """Change the masked fields and arm the alert again."""
        if not mask:
            raise InvalidArgument("update_mask is required", [FieldViolation("update_mask", "must name a field")])
        unknown = [path for path in mask if path not in UPDATABLE]
        if unknown:
            raise InvalidArgument(
                "update_mask names fields that cannot be updated",
                [FieldViolation("update_mask", f"{path!r} is not one of {', '.join(UPDATABLE)}") for path in unknown],
            )
        for _ in range(5):  # retried when the evaluator changed the alert in between
            current = await self.get(user_id, alert_id)
            values = {_DRAFT_FIELDS.get(path, path): getattr(changes, _DRAFT_FIELDS.get(path, path)) for path in mask}
            now = self._clock()
            draft = replace(current.draft(), **values).validated(now)
            updated = current.updated(draft, now)
            if await self._store.replace(updated, current.generation):
                await self._changes.publish(alert_id)
                return updated
        raise Aborted("the alert changed while it was being updated; retry", reason="CONCURRENT_UPDATE")

    async def delete(self, user_id: str, alert_id: str) -> None:
        """Delete the user's alert."""
        if not alert_id or not await self._store.delete(user_id, alert_id):
            raise alert_not_found()
        await self._changes.publish(alert_id)
