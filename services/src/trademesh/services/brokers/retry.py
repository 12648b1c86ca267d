"""What the broker clients share: request pacing per API key and the retry policy.

Kite allows 10 requests per second per app (API key) on its general endpoints; the pacer spaces each
key's requests at the configured rate (8/s by default) across every concurrent run of this process.
An account runs on one worker at a time, so one process's pacing is the whole mesh's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

T = TypeVar("T")
_PACER_SWEEP = 10_000


class TransientBrokerError(Exception):
    """Raise inside a client for a failure worth retrying (network, timeout, 5xx, 429, garbage)."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class RequestPacer:
    """Space the requests made with one key at most `rate` per second (shared by all runs in the process)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._next: dict[str, float] = {}

    async def wait(self, key: str) -> None:
        """Return when a request with `key` may be sent."""
        now = self._clock()
        if len(self._next) > _PACER_SWEEP:
            self._next = {k: t for k, t in self._next.items() if t > now}
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one broker request is retried: attempts and exponential backoff with full jitter."""

    attempts: int = 4
    initial_seconds: float = 0.5
    max_seconds: float = 8.0

    async def run(self, pacer: RequestPacer, key: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` (paced by `key`), retrying TransientBrokerError; re-raise the last failure."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=self.initial_seconds, max=self.max_seconds),
            retry=retry_if_exception(lambda error: isinstance(error, TransientBrokerError)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await pacer.wait(key)
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")
