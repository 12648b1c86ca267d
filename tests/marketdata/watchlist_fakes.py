"""An in-memory watchlist store (the port's contract: save only over the revision read)."""

from __future__ import annotations

from trademesh.services.marketdata.model.watchlists import WatchlistBook


class InMemoryWatchlistStore:
    """Books by user; `race` makes the next saves fail as if another writer got there first."""

    def __init__(self) -> None:
        self.books: dict[str, WatchlistBook] = {}
        self.race = 0

    async def load(self, user_id: str) -> WatchlistBook:
        return self.books.get(user_id, WatchlistBook(user_id, 0, ()))

    async def save(self, book: WatchlistBook, expected_revision: int) -> bool:
        if self.race:
            self.race -= 1
            return False
        current = self.books.get(book.user_id)
        if (current.revision if current else 0) != expected_revision:
            return False
        self.books[book.user_id] = book
        return True
