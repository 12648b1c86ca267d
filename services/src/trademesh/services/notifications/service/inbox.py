"""Inbox and preferences use cases: list, mark read, delete, the resumable watch; get and update preferences."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Collection, Sequence
from dataclasses import dataclass, replace

from trademesh.kernel.errors import FieldViolation, InvalidArgument, NotFound
from trademesh.kernel.requests import check_page_size
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.notifications.model import BUILT_CHANNELS, Channel, Notification, Preferences
from trademesh.services.notifications.model.push import normalize_phone
from trademesh.services.notifications.ports import Clock, InboxSignal, NotificationStore, PreferencesStore

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_MARK_READ = 500
DEFAULT_SNAPSHOT = 20
MAX_SNAPSHOT = 100
#: How long a watcher waits for a missing sequence (allocated, not yet written) before skipping it.
GAP_WAIT_SECONDS = 2.0
#: The preference fields UpdatePreferences may change (update_mask paths).
PREFERENCE_FIELDS = ("kind_channels", "quiet_hours", "daily_digest", "email", "phone_number")
_PREFERENCE_ATTRIBUTES = {"kind_channels": "channels"}


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One message of a watch: a snapshot (newest first) or one new notification, with the unread count."""

    unread_count: int
    resume_sequence: int
    snapshot: list[Notification] | None = None
    notification: Notification | None = None
    heartbeat: bool = False


class InboxService:
    """Read and change a user's inbox."""

    def __init__(
        self,
        *,
        store: NotificationStore,
        signal: InboxSignal,
        tokens: Codec,
        clock: Clock,
        heartbeat_seconds: float = 15.0,
        gap_wait_seconds: float = GAP_WAIT_SECONDS,
    ) -> None:
        self._store = store
        self._signal = signal
        self._tokens = tokens
        self._clock = clock
        self._heartbeat = heartbeat_seconds
        self._gap_wait = gap_wait_seconds

    async def list_notifications(
        self, user_id: str, unread_only: bool, page_size: int, page_token: str
    ) -> tuple[list[Notification], str, int]:
        """Return a page of notifications (newest first), the next page's token and the unread count."""
        limit = check_page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        before: int | None = None
        if page_token:
            payload = self._tokens.decode(page_token)
            if payload is None or payload.get("u") != user_id or payload.get("r") != unread_only:
                raise page_token_invalid()
            before = int(str(payload.get("b", 0)))
        items = await self._store.page(user_id, unread_only, before, limit + 1)
        next_token = ""
        if len(items) > limit:
            items = items[:limit]
            next_token = self._tokens.encode({"u": user_id, "r": unread_only, "b": items[-1].sequence})
        return items, next_token, await self._store.unread_count(user_id)

    async def mark_read(self, user_id: str, notification_ids: Sequence[str]) -> int:
        """Mark the user's notifications read; return the unread count afterwards."""
        if not 1 <= len(notification_ids) <= MAX_MARK_READ:
            raise InvalidArgument(
                "notification_ids must list 1..500 ids",
                [FieldViolation("notification_ids", f"must hold 1..{MAX_MARK_READ} ids")],
            )
        if await self._store.mark_read(user_id, list(dict.fromkeys(notification_ids))):
            await self._signal.publish(user_id)
        return await self._store.unread_count(user_id)

    async def mark_all_read(self, user_id: str) -> int:
        """Mark every notification read; return how many changed."""
        marked = await self._store.mark_all_read(user_id)
        if marked:
            await self._signal.publish(user_id)
        return marked

    async def delete(self, user_id: str, notification_id: str) -> None:
        """Delete one of the user's notifications."""
        if not notification_id or not await self._store.delete(user_id, notification_id):
            raise NotFound("notification not found", reason="NOTIFICATION_NOT_FOUND")
        await self._signal.publish(user_id)

    def resume_token(self, user_id: str, sequence: int) -> str:
        """Return the token that resumes the user's watch after `sequence`."""
        return self._tokens.encode({"u": user_id, "s": sequence})

    def _resume_sequence(self, user_id: str, token: str) -> int:
        payload = self._tokens.decode(token)
        sequence = payload.get("s") if payload is not None else None
        if payload is None or payload.get("u") != user_id or not isinstance(sequence, int) or sequence < 0:
            raise InvalidArgument(
                "resume_token is invalid",
                [FieldViolation("resume_token", "must be a token this stream sent")],
                reason="RESUME_TOKEN_INVALID",
            )
        return sequence

    async def watch(self, user_id: str, resume_token: str, snapshot_size: int) -> AsyncGenerator[InboxEvent]:
        """Stream the inbox: a snapshot (or the items after the resume point), then every new item.

        Items are always read from the store in sequence order, never taken from the signal, so a
        reconnect with the last token neither misses nor repeats one. A sequence allocated but not
        yet written (a concurrent insert) is waited for briefly, then skipped (its writer failed).
        """
        if snapshot_size < 0 or snapshot_size > MAX_SNAPSHOT:
            raise InvalidArgument(
                "snapshot_size must be 0..100", [FieldViolation("snapshot_size", f"must be 0..{MAX_SNAPSHOT}")]
            )
        cursor = self._resume_sequence(user_id, resume_token) if resume_token else None
        async with self._signal.subscribe(user_id) as subscription:
            if cursor is None:
                newest = await self._store.page(user_id, False, None, snapshot_size or DEFAULT_SNAPSHOT)
                cursor = max([item.sequence for item in newest], default=0)
                yield InboxEvent(await self._store.unread_count(user_id), cursor, snapshot=newest)
            gap_since: float | None = None
            loop_time = time.monotonic
            while True:
                items = await self._store.after(user_id, cursor, 100)
                for item in items:
                    if item.sequence != cursor + 1:
                        if gap_since is None:
                            gap_since = loop_time()
                        if loop_time() - gap_since < self._gap_wait:
                            break
                    gap_since = None
                    cursor = item.sequence
                    yield InboxEvent(await self._store.unread_count(user_id), cursor, notification=item)
                else:
                    if len(items) == 100:
                        continue
                    if not await subscription.wait(self._heartbeat):
                        yield InboxEvent(await self._store.unread_count(user_id), cursor, heartbeat=True)
                    continue
                await subscription.wait(0.05)  # a gap: look again shortly


class PreferencesService:
    """Read and change a user's delivery preferences."""

    def __init__(self, *, store: PreferencesStore, available: frozenset[Channel] = BUILT_CHANNELS) -> None:
        self._store = store
        #: The channels users may choose on this server (push and SMS where configured).
        self.available = available

    async def get(self, user_id: str) -> Preferences:
        """Return the user's preferences (the defaults when never set)."""
        return await self._store.get(user_id) or Preferences()

    async def update(self, user_id: str, changes: Preferences, mask: Collection[str]) -> Preferences:
        """Replace the masked fields; return the result."""
        if not mask:
            raise InvalidArgument("update_mask is required", [FieldViolation("update_mask", "must name a field")])
        unknown = [path for path in mask if path not in PREFERENCE_FIELDS]
        if unknown:
            raise InvalidArgument(
                "update_mask names unknown fields",
                [
                    FieldViolation("update_mask", f"{path!r} is not one of {', '.join(PREFERENCE_FIELDS)}")
                    for path in unknown
                ],
            )
        current = await self.get(user_id)
        values = {
            _PREFERENCE_ATTRIBUTES.get(path, path): getattr(changes, _PREFERENCE_ATTRIBUTES.get(path, path))
            for path in mask
        }
        if "channels" in values:
            values["channels"] = {**current.channels, **values["channels"]}
        updated = replace(current, **values)
        updated = replace(updated, phone_number=normalize_phone(updated.phone_number))
        updated.validate(self.available)
        await self._store.put(user_id, updated)
        return updated
