"""Readiness: a service's gRPC health status follows its required dependencies (MongoDB, Redis).

Liveness is the process: the overall status ("") stays SERVING until shutdown, so Kubernetes never restarts
a replica because the database is down (a restart would not bring it back). Readiness is the status of each
hosted service (e.g. `trademesh.trade.v1.TradeService`). The chart's readiness probes and `make up` ask for
that name, so Kubernetes and Envoy route around a replica that cannot work.

A slow dependency is not a dead one. Every replica shares the same database, so a readiness rule that pulls
a replica for a *busy* database (a bulk load making a ping miss its timeout) pulls every replica at once and
turns a slow minute into an outage. The rule, per dependency:

* **dead** — its check fails with an error: connection refused, no server to select because connecting
  failed, authentication refused, an error reply. Readiness turns NOT_SERVING once it has failed like that
  for `TRADEMESH_READINESS_FAILURE_SECONDS` with no sign of life since the first failure;
* **slow** — its check only ran out of time (the dependency accepted the request, or the connection, and
  has not answered yet). That alone never counts as a failure;
* **hung** — no sign of life at all for `TRADEMESH_READINESS_HUNG_SECONDS` (much longer): NOT_SERVING too,
  so a database that accepts connections and never answers (issue 15) still takes the replicas out;
* a **sign of life** is a check that passed or, where the dependency reports it, any operation of the
  service's real traffic that succeeded (a bulk load's own inserts prove the database alive while the
  ping waits behind them). Any sign of life ends a failure; SERVING again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from grpc_health.v1 import health, health_pb2

logger = logging.getLogger(__name__)


def only_timeouts(error: BaseException) -> bool:
    """Return whether `error` is a timeout (the default test of :attr:`Dependency.timed_out`)."""
    return isinstance(error, TimeoutError)


def no_traffic() -> float | None:
    """Report no real traffic (the default of :attr:`Dependency.last_success`)."""
    return None


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency the service cannot work without, and how to tell whether it is alive."""

    name: str
    #: A cheap call that proves the dependency answers (a ping).
    check: Callable[[], Awaitable[object]]
    #: Whether an exception of `check` only means "no answer in time" (slow or hung), not a failure.
    timed_out: Callable[[BaseException], bool] = only_timeouts
    #: When (on the monitor's clock, `time.monotonic`) an operation of real traffic last succeeded, if known.
    last_success: Callable[[], float | None] = no_traffic


class CheckOutcome(enum.Enum):
    """What one readiness check of a dependency showed."""

    ANSWERED = "answered"
    NO_ANSWER = "no answer in time"
    FAILED = "failed"


@dataclass(slots=True)
class DependencyState:
    """What the monitor knows about one dependency."""

    #: The last sign of life: a check that passed, or a successful operation of real traffic.
    alive_at: float
    #: The first failed check (an error, not a timeout) since the last sign of life.
    failing_since: float | None = None
    #: The outcome of the last check.
    outcome: CheckOutcome = CheckOutcome.ANSWERED
    #: The last check's error, for the log.
    detail: str = ""

    def down_reason(self, now: float, failure_seconds: float, hung_seconds: float) -> str | None:
        """Return why the dependency counts as down at `now`, or None while it counts as alive."""
        if self.failing_since is not None and now - self.failing_since >= failure_seconds:
            return f"failing for {now - self.failing_since:.1f}s ({self.detail})"
        if now - self.alive_at >= hung_seconds:
            return f"no sign of life for {now - self.alive_at:.1f}s ({self.outcome.value})"
        return None


class ReadinessMonitor:
    """Check every dependency periodically and set the hosted services' health status from the results."""

    def __init__(
        self,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        dependencies: Sequence[Dependency],
        *,
        failure_seconds: float,
        hung_seconds: float,
        interval_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._health = health_servicer
        self._names = list(service_names)
        self._dependencies = list(dependencies)
        self._failure_seconds = failure_seconds
        self._hung_seconds = hung_seconds
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        started = clock()
        self.states = {dependency.name: DependencyState(alive_at=started) for dependency in self._dependencies}
        self._closed = asyncio.Event()
        self.ready = True

    async def run(self) -> None:
        """Check until closed."""
        while not self._closed.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._interval)

    def close(self) -> None:
        """Stop checking (the host's shutdown sets NOT_SERVING itself)."""
        self._closed.set()

    async def check_once(self) -> bool:
        """Check every dependency once, update the health status, and return whether the service is ready."""
        started = self._clock()
        results = await asyncio.gather(*(self._check(dependency) for dependency in self._dependencies))
        now = self._clock()
        down: list[str] = []
        for dependency, (outcome, detail) in zip(self._dependencies, results, strict=True):
            state = self.states[dependency.name]
            self._record(dependency, state, outcome, detail, started, now)
            reason = state.down_reason(now, self._failure_seconds, self._hung_seconds)
            if reason is not None:
                down.append(f"{dependency.name} {reason}")
        ready = not down
        if ready != self.ready:
            if ready:
                logger.info("ready again: every required dependency shows signs of life")
            else:
                logger.warning("not ready: %s", "; ".join(down))
            status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in self._names:
                await self._health.set(name, status)
            self.ready = ready
        return ready

    def _record(
        self,
        dependency: Dependency,
        state: DependencyState,
        outcome: CheckOutcome,
        detail: str,
        started: float,
        now: float,
    ) -> None:
        if outcome is not state.outcome:
            log = logger.info if outcome is CheckOutcome.ANSWERED else logger.warning
            log("dependency %s: %s%s", dependency.name, outcome.value, f" ({detail})" if detail else "")
        state.outcome, state.detail = outcome, detail
        if outcome is CheckOutcome.ANSWERED:
            state.alive_at = now
        traffic = dependency.last_success()
        if traffic is not None and traffic > state.alive_at:
            state.alive_at = traffic
        if state.failing_since is not None and state.alive_at > state.failing_since:
            state.failing_since = None
        # A query that succeeded while this check was failing outweighs it.
        if outcome is CheckOutcome.FAILED and state.failing_since is None and state.alive_at <= started:
            state.failing_since = started

    async def _check(self, dependency: Dependency) -> tuple[CheckOutcome, str]:
        try:
            await asyncio.wait_for(dependency.check(), self._timeout)
        except Exception as error:  # classified below; the detail goes to the log
            logger.debug("readiness check of %s raised", dependency.name, exc_info=True)
            outcome = CheckOutcome.NO_ANSWER if dependency.timed_out(error) else CheckOutcome.FAILED
            return outcome, f"{type(error).__name__}: {error}"[:300]
        return CheckOutcome.ANSWERED, ""
