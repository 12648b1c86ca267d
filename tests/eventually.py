"""``eventually()``: the one way a test waits for something that happens asynchronously.

A test never sleeps to let something happen and never writes its own polling loop: it names the
condition and waits for it, with a deadline::

    report = await eventually(lambda: analytics_report(user), until=lambda report: report.round_trips == 1,
                              what="the round trip reaches analytics")
    pods = eventually_sync(lambda: settled(kube, deployment), within=120, what="every pod Running and Ready")

``check`` is called at once and then every ``interval`` seconds until its result satisfies ``until``
(truthiness by default); that result is returned, so the wait and the read that follows are one call.
An exception listed in ``ignoring`` counts as "not yet" (a server still starting, a connection refused);
any other exception propagates at once, so a check can also fail fast (a process that exited). After
``within`` seconds the test fails with an ``AssertionError`` naming ``what`` and showing the last result
or the last ignored exception (chained as the cause), followed by ``details()`` if given (a log's tail).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["eventually", "eventually_sync"]

T = TypeVar("T")

#: The default deadline; generous, since it only matters when something is broken.
WITHIN_SECONDS = 10.0
#: The default pause between two checks.
INTERVAL_SECONDS = 0.05


class _Attempts:
    """What the checks returned so far, to word the failure."""

    def __init__(self, what: str, within: float, details: Callable[[], str] | None) -> None:
        self.what = what
        self.within = within
        self.details = details
        self.count = 0
        self.value: object = None
        self.error: BaseException | None = None

    def returned(self, value: object) -> None:
        self.count += 1
        self.value, self.error = value, None

    def raised(self, error: BaseException) -> None:
        self.count += 1
        self.value, self.error = None, error

    def failure(self) -> AssertionError:
        last = f"raised {self.error!r}" if self.error is not None else f"returned {self.value!r}"
        message = f"not within {self.within:g}s: {self.what} ({self.count} check(s); the last one {last})"
        return AssertionError(f"{message}\n{self.details()}" if self.details else message)


def _describe(check: Callable[..., object], what: str | None) -> str:
    return what or getattr(check, "__qualname__", None) or repr(check)


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    within: float = ...,
    interval: float = ...,
    *,
    ignoring: tuple[type[BaseException], ...] = ...,
    what: str | None = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    within: float = ...,
    interval: float = ...,
    *,
    until: Callable[[T], object],
    ignoring: tuple[type[BaseException], ...] = ...,
    what: str | None = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Awaitable[Any]],
    within: float = WITHIN_SECONDS,
    interval: float = INTERVAL_SECONDS,
    *,
    until: Callable[[Any], object] = bool,
    ignoring: tuple[type[BaseException], ...] = (),
    what: str | None = None,
    details: Callable[[], str] | None = None,
) -> Any:
    """Await ``check()`` until ``until`` accepts its result, and return that result (see the module docstring).

    Without ``until``, a result passes when it is truthy (so never None, and the result's type excludes None).

    Raises:
        AssertionError: Not within ``within`` seconds.
    """
    attempts = _Attempts(_describe(check, what), within, details)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            value = await check()
        except ignoring as error:
            attempts.raised(error)
        else:
            if until(value):
                return value
            attempts.returned(value)
        if loop.time() > deadline:
            raise attempts.failure() from attempts.error
        await asyncio.sleep(interval)


@overload
def eventually_sync(
    check: Callable[[], T | None],
    within: float = ...,
    interval: float = ...,
    *,
    ignoring: tuple[type[BaseException], ...] = ...,
    what: str | None = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


@overload
def eventually_sync(
    check: Callable[[], T],
    within: float = ...,
    interval: float = ...,
    *,
    until: Callable[[T], object],
    ignoring: tuple[type[BaseException], ...] = ...,
    what: str | None = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


def eventually_sync(
    check: Callable[[], Any],
    within: float = WITHIN_SECONDS,
    interval: float = INTERVAL_SECONDS,
    *,
    until: Callable[[Any], object] = bool,
    ignoring: tuple[type[BaseException], ...] = (),
    what: str | None = None,
    details: Callable[[], str] | None = None,
) -> Any:
    """Call ``check()`` until ``until`` accepts its result, and return that result; for tests without a loop.

    Raises:
        AssertionError: Not within ``within`` seconds.
    """
    attempts = _Attempts(_describe(check, what), within, details)
    deadline = time.monotonic() + within
    while True:
        try:
            value = check()
        except ignoring as error:
            attempts.raised(error)
        else:
            if until(value):
                return value
            attempts.returned(value)
        if time.monotonic() > deadline:
            raise attempts.failure() from attempts.error
        time.sleep(interval)
