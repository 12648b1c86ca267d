"""Per-user journal revisions: what lets ListPositions cache a user's replay without serving it stale
(decision 0370).

One document per user in `trade_revisions` (`_id` = user id, a point read and write on any backend) holds
`revision`, a number every write of the user's trades increments once it is done (one single-document `$inc`
after the write, whether it succeeded or failed). A reader reads the revision *before* the trades and caches
what it then reads under it: the entry is labelled with a revision no later than its data, and any write
finishing afterwards moves the revision on, so the entry is never served again. A write interrupted between
its trades and its increment (the process died) leaves its events pending in the outbox; the relay's sweep
that publishes them increments the revision of their users too (at start-up, and for writes older than its
grace period), and cache entries also expire on their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from trademesh.services.trade.store.documents import Document

COLLECTION = "trade_revisions"


class JournalRevisions:
    """The `trade_revisions` collection: each user's journal revision."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._revisions = collection

    @asynccontextmanager
    async def writing(self, user_ids: Iterable[str]) -> AsyncIterator[None]:
        """Bracket a write of these users' trades: once it is done (or failed), their revisions move on."""
        users = sorted(set(user_ids))
        try:
            yield
        finally:
            await self.bump(users)

    async def bump(self, user_ids: Iterable[str]) -> None:
        """Move these users' revisions on (a write of their trades is done, or was found interrupted)."""
        for user_id in user_ids:
            update = {"$inc": {"revision": 1}}
            try:
                await self._revisions.update_one({"_id": user_id}, update, upsert=True)
            except DuplicateKeyError:  # two first writes of this user upserted at once: now it exists
                await self._revisions.update_one({"_id": user_id}, update, upsert=True)

    async def revision(self, user_id: str) -> int:
        """Return the user's journal revision (0 before their first write)."""
        document = await self._revisions.find_one({"_id": user_id})
        return 0 if document is None else int(document.get("revision", 0))
