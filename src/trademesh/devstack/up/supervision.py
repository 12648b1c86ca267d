"""Supervision (decision 0024): restart a child that exited, with exponential backoff, until stopped."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tenacity import RetryCallState, Retrying, wait_exponential

from trademesh.devstack.up.children import ServiceProcess
from trademesh.devstack.up.common import (
    _POLL_SECONDS,
    _SERVING,
    HEALTH_TIMEOUT_SECONDS,
    _describe_exit,
    _display_path,
    _indent,
    _StopRequest,
    logger,
)

#: The wait before the first restart of a process that exited; it doubles with every further attempt...
RESTART_FIRST_DELAY_SECONDS = 0.5
#: ... up to this.
RESTART_MAX_DELAY_SECONDS = 30.0
#: A process that ran at least this long before it exited starts the backoff afresh.
RESTART_RESET_AFTER_SECONDS = 60.0


class RestartBackoff:
    """The restart schedule of one process: exponential delays, started afresh once it had stayed up.

    The delays come from tenacity's ``wait_exponential`` (first, 2 x first, 4 x first, ... up to ``cap``).
    """

    def __init__(
        self,
        first: float = RESTART_FIRST_DELAY_SECONDS,
        cap: float = RESTART_MAX_DELAY_SECONDS,
        reset_after: float = RESTART_RESET_AFTER_SECONDS,
    ) -> None:
        self._wait = wait_exponential(multiplier=first, max=cap)
        # The wait strategy reads only the attempt number of this state.
        self._state = RetryCallState(Retrying(), None, (), {})
        self._reset_after = reset_after
        #: Restart attempts so far (0: none since the process last stayed up long enough).
        self.attempt = 0

    def next_delay(self, uptime: float) -> float:
        """Count one more restart attempt of a process that ran ``uptime`` seconds; return the wait before it."""
        if uptime >= self._reset_after:
            self.attempt = 0
        self.attempt += 1
        self._state.attempt_number = self.attempt
        return float(self._wait(self._state))


class _Supervised(Protocol):
    """A child process the supervisor restarts: a :class:`ServiceProcess` or Redis/FerretDB."""

    started_at: float

    @property
    def name(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    @property
    def last_pid(self) -> int | None: ...

    def exit_code(self) -> int | None: ...

    def respawn(self) -> None: ...

    def probe(self) -> str: ...

    def log_tail(self) -> str: ...


@dataclass(eq=False)
class _Watch:
    """What the supervisor keeps about one child between two polls."""

    child: _Supervised
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    #: When the pending restart is due (``time.monotonic()``); None if none is pending.
    restart_at: float | None = None
    #: When the child was restarted, while it has not reported SERVING since.
    restarted_at: float | None = None
    slow_warned: bool = False


class Supervisor:
    """Restart any child that exits (with backoff) and log when it is SERVING again, until a stop is requested."""

    def __init__(self, stop: _StopRequest) -> None:
        self._stop = stop

    def run(self, children: Sequence[_Supervised]) -> int:
        """Tend the children until a stop is requested; return the exit code (0)."""
        watches = [_Watch(child) for child in children]
        while not self._stop.requested:
            for watch in watches:
                self._tend(watch)
            time.sleep(_POLL_SECONDS)
        logger.info("%s received; stopping", self._stop.signal_name)
        return 0

    def _tend(self, watch: _Watch) -> None:
        child = watch.child
        now = time.monotonic()
        if watch.restart_at is not None:
            if now >= watch.restart_at and not self._stop.requested:  # never start anything once stopping
                self._restart(watch)
            return
        code = child.exit_code()
        if code is not None:
            delay = watch.backoff.next_delay(now - child.started_at)
            watch.restart_at = now + delay
            watch.restarted_at = None
            if isinstance(child, ServiceProcess):
                child.health = "EXITED"
            logger.warning(
                "%s (pid %s) exited unexpectedly (%s); restart attempt %d in %.1fs. End of %s:\n%s",
                child.name,
                child.last_pid,
                _describe_exit(code),
                watch.backoff.attempt,
                delay,
                _display_path(child.log_path),
                _indent(child.log_tail()),
            )
            return
        if watch.restarted_at is None:
            return
        status = child.probe()
        if isinstance(child, ServiceProcess):
            child.health = status
        if status == _SERVING:
            logger.info(
                "%s is SERVING again (pid %s, restart attempt %d)", child.name, child.last_pid, watch.backoff.attempt
            )
            watch.restarted_at = None
        elif not watch.slow_warned and now - watch.restarted_at > HEALTH_TIMEOUT_SECONDS:
            watch.slow_warned = True
            logger.warning(
                "%s has not reported SERVING %.0fs after restart attempt %d (last status %s); still waiting. "
                "End of %s:\n%s",
                child.name,
                now - watch.restarted_at,
                watch.backoff.attempt,
                status,
                _display_path(child.log_path),
                _indent(child.log_tail()),
            )

    def _restart(self, watch: _Watch) -> None:
        child = watch.child
        logger.info("restarting %s (attempt %d)", child.name, watch.backoff.attempt)
        watch.restart_at = None
        try:
            child.respawn()
        except Exception as error:  # whatever kept it from starting, try again later: never end the stack
            delay = watch.backoff.next_delay(0.0)
            watch.restart_at = time.monotonic() + delay
            logger.error(
                "could not restart %s: %s; restart attempt %d in %.1fs", child.name, error, watch.backoff.attempt, delay
            )
            return
        watch.restarted_at = time.monotonic()
        watch.slow_warned = False
