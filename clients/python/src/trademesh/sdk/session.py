"""The logged-in session: holds the tokens and refreshes the access token before it expires.

Refreshes are single-flight: the refresh token is single-use and presenting a rotated one revokes the
whole session, so two calls that both find the access token stale must not both call Refresh. A lock
serialises refreshes, and a caller that waited for it re-checks whether the token it saw is still the
current one before refreshing again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta

from trademesh.auth.v1 import auth_pb2
from trademesh.sdk.tokens import Clock, Tokens, utc_now

__all__ = ["AsyncSession", "SyncSession", "TokensListener"]

logger = logging.getLogger(__name__)

#: Called with the new tokens after every login and refresh (``None`` after logout): save them, since
#: the previous refresh token no longer works.
TokensListener = Callable[[Tokens | None], None]


class _SessionState:
    def __init__(
        self, tokens: Tokens | None, on_tokens: TokensListener | None, clock: Clock, margin: timedelta
    ) -> None:
        self._tokens = tokens
        self._on_tokens = on_tokens
        self._clock = clock
        self._margin = margin

    @property
    def tokens(self) -> Tokens | None:
        """The current tokens, or None when not logged in."""
        return self._tokens

    @property
    def current_access_token(self) -> str | None:
        """The access token calls would carry right now (without refreshing)."""
        return self._tokens.access_token if self._tokens is not None else None

    def set_tokens(self, tokens: Tokens | None) -> None:
        """Replace the tokens (login, logout) and tell the listener."""
        self._tokens = tokens
        if self._on_tokens is not None:
            self._on_tokens(tokens)

    def _stale(self) -> bool:
        return self._tokens is not None and self._tokens.needs_refresh(self._clock(), self._margin)

    def _should_refresh(self, seen: str | None) -> bool:
        # ``seen``: the access token the caller found stale or rejected; if another caller has replaced it
        # in the meantime, the caller just uses the new one.
        if self._tokens is None:
            return False
        return self._tokens.access_token == seen if seen is not None else self._stale()

    def _apply(self, pair: auth_pb2.TokenPair) -> None:
        self.set_tokens(Tokens.from_proto(pair, now=self._clock()))
        logger.debug("access token refreshed; it expires at %s", self._tokens.access_expires_at if self._tokens else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tokens={self._tokens!r})"


class AsyncSession(_SessionState):
    """Tokens of an asyncio client; see the module docstring."""

    def __init__(
        self,
        refresh: Callable[[str], Awaitable[auth_pb2.TokenPair]],
        *,
        tokens: Tokens | None = None,
        on_tokens: TokensListener | None = None,
        clock: Clock = utc_now,
        margin: timedelta = timedelta(seconds=60),
    ) -> None:
        super().__init__(tokens, on_tokens, clock, margin)
        self._refresh = refresh
        self._lock = asyncio.Lock()

    async def access_token(self) -> str | None:
        """Return a valid access token (refreshing it first if it is about to expire), or None."""
        if self._stale():
            await self.refresh()
        return self.current_access_token

    async def refresh(self, *, seen: str | None = None) -> None:
        """Rotate the tokens now; with ``seen``, only if ``seen`` is still the current access token.

        Raises:
            TrademeshError: The refresh token was rejected (expired, revoked, reused).
        """
        async with self._lock:
            if self._should_refresh(seen) and self._tokens is not None:
                self._apply(await self._refresh(self._tokens.refresh_token))


class SyncSession(_SessionState):
    """Tokens of a blocking client; thread-safe. See the module docstring."""

    def __init__(
        self,
        refresh: Callable[[str], auth_pb2.TokenPair],
        *,
        tokens: Tokens | None = None,
        on_tokens: TokensListener | None = None,
        clock: Clock = utc_now,
        margin: timedelta = timedelta(seconds=60),
    ) -> None:
        super().__init__(tokens, on_tokens, clock, margin)
        self._refresh = refresh
        self._lock = threading.Lock()

    def access_token(self) -> str | None:
        """Return a valid access token (refreshing it first if it is about to expire), or None."""
        if self._stale():
            self.refresh()
        return self.current_access_token

    def refresh(self, *, seen: str | None = None) -> None:
        """Rotate the tokens now; with ``seen``, only if ``seen`` is still the current access token.

        Raises:
            TrademeshError: The refresh token was rejected (expired, revoked, reused).
        """
        with self._lock:
            if self._should_refresh(seen) and self._tokens is not None:
                self._apply(self._refresh(self._tokens.refresh_token))
