"""Per-user journal revisions: what lets ListPositions cache a user's replay without serving it stale
(decision 0370).

One document per user in `trade_revisions` (`_id` = user id, a point read and write on any backend):
`revision`, a number every write of the user's trades increments once it is done, and `writing`, the
writes in flight (token -> until when the mark holds). A store write is bracketed by `writing(...)`: it
marks itself before touching `trades` and, after, unmarks itself and increments the revision in one
single-document update. A reader that sees no write in flight may cache what it then reads under the
revision it saw: any write finishing later moves the revision on, so the entry is never served again.
While a write is in flight the revision is unknown (None) and nothing is cached. A write interrupted
between its marks (a crash) leaves its mark; once the mark's time is up the next reader drops it and
moves the revision on, which retires any entry older than the interrupted write.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from trademesh.services.trade.store.documents import Document

COLLECTION = "trade_revisions"


class JournalRevisions:
    """The `trade_revisions` collection: each user's journal revision and the writes in flight."""

    def __init__(self, collection: AsyncCollection[Document], mark_seconds: float) -> None:
        self._revisions = collection
        # A mark must outlive the write it brackets (the store's longest, a bulk write).
        self._mark = timedelta(seconds=mark_seconds)

    @asynccontextmanager
    async def writing(self, user_ids: Iterable[str]) -> AsyncIterator[None]:
        """Bracket a write of these users' trades (it may fail: the revision moves on all the same)."""
        token = uuid.uuid4().hex
        users = sorted(set(user_ids))
        until = datetime.now(UTC) + self._mark
        for user_id in users:
            update = {"$set": {f"writing.{token}": until}}
            try:
                await self._revisions.update_one({"_id": user_id}, update, upsert=True)
            except DuplicateKeyError:  # two first writes of this user upserted at once: now it exists
                await self._revisions.update_one({"_id": user_id}, update, upsert=True)
        try:
            yield
        finally:
            for user_id in users:
                await self._revisions.update_one(
                    {"_id": user_id}, {"$unset": {f"writing.{token}": ""}, "$inc": {"revision": 1}}
                )

    async def revision(self, user_id: str) -> int | None:
        """Return the user's journal revision, or None while a write of their trades is in flight."""
        document = await self._revisions.find_one({"_id": user_id})
        if document is None:
            return 0
        writing: dict[str, datetime] = document.get("writing") or {}
        if not writing:
            return int(document.get("revision", 0))
        now = datetime.now(UTC)
        expired = [token for token, until in writing.items() if _aware(until) <= now]
        if expired:
            # Interrupted writes: their trades may have changed, so the revision moves on past them.
            await self._revisions.update_one(
                {"_id": user_id, **{f"writing.{token}": {"$exists": True} for token in expired}},
                {"$unset": {f"writing.{token}": "" for token in expired}, "$inc": {"revision": 1}},
            )
        return None


def _aware(moment: datetime) -> datetime:
    # The driver returns naive UTC datetimes unless the client is tz-aware.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
