"""Readiness: a service's gRPC health status follows its required dependencies (MongoDB, Redis).

Liveness is the process: the overall status ("") stays SERVING until shutdown, so Kubernetes never restarts
a replica because the database is down (a restart would not bring it back). Readiness is the status of each
hosted service (e.g. `trademesh.trade.v1.TradeService`): NOT_SERVING once a required dependency has failed
its check for longer than a threshold, SERVING again as soon as every check passes. The chart's readiness
probes and `make up` ask for that name, so Kubernetes and Envoy route around a replica that cannot work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from grpc_health.v1 import health, health_pb2

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency the service cannot work without, and a cheap call that proves it answers."""

    name: str
    check: Callable[[], Awaitable[object]]


class ReadinessMonitor:
    """Check every dependency periodically and set the hosted services' health status from the results."""

    def __init__(
        self,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        dependencies: Sequence[Dependency],
        *,
        failure_seconds: float,
        interval_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._health = health_servicer
        self._names = list(service_names)
        self._dependencies = list(dependencies)
        self._failure_seconds = failure_seconds
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._failing_since: dict[str, float] = {}
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
        results = await asyncio.gather(*(self._answers(dependency) for dependency in self._dependencies))
        now = self._clock()
        for dependency, answered in zip(self._dependencies, results, strict=True):
            if answered:
                if self._failing_since.pop(dependency.name, None) is not None:
                    logger.info("dependency %s answers again", dependency.name)
            elif dependency.name not in self._failing_since:
                logger.warning("dependency %s does not answer", dependency.name)
                self._failing_since[dependency.name] = now
        down = sorted(name for name, since in self._failing_since.items() if now - since >= self._failure_seconds)
        ready = not down
        if ready != self.ready:
            if ready:
                logger.info("ready again: every required dependency answers")
            else:
                logger.warning("not ready: %s failing for over %.1fs", ", ".join(down), self._failure_seconds)
            status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in self._names:
                await self._health.set(name, status)
            self.ready = ready
        return ready

    async def _answers(self, dependency: Dependency) -> bool:
        try:
            await asyncio.wait_for(dependency.check(), self._timeout)
        except Exception:  # any failure of the check is "does not answer"; its detail is logged at debug
            logger.debug("readiness check of %s failed", dependency.name, exc_info=True)
            return False
        return True
