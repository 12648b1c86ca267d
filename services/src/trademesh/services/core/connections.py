"""Connections to MongoDB and Redis with timeouts everywhere, so an outage is an error, not a hang."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, PyMongoError, ServerSelectionTimeoutError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trademesh.services.core.readiness import Dependency
from trademesh.services.core.settings import CoreSettings

#: Commands a server may answer without its storage engine (connection handshakes): no proof of life.
_HANDSHAKE_COMMANDS = frozenset({"hello", "ismaster", "isMaster"})


class MongoActivity(monitoring.CommandListener):
    """Remember when a command of the client's real traffic last succeeded: readiness's sign of life.

    A bulk load keeps the database busy enough for a ping to miss its timeout while its own inserts keep
    succeeding; those successes say the database is alive (services/src/trademesh/services/core/readiness.py).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: The clock's time of the last successful command, None before the first.
        self.last_success: float | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Ignore a command's start."""

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Record the time of a successful command (the server replied ``ok: 1``)."""
        if event.command_name not in _HANDSHAKE_COMMANDS:
            self.last_success = self._clock()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Ignore a failed command (the readiness check classifies failures itself)."""


def build_mongo(settings: CoreSettings) -> AsyncMongoClient[dict[str, Any]]:
    """Create the MongoDB client; it connects lazily and fails fast when the server is down.

    It records its successful commands in a :class:`MongoActivity`, which :func:`required_dependencies` finds.
    """
    timeout_ms = int(settings.dependency_timeout_seconds * 1000)
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * 2,
        timeoutMS=timeout_ms * 2,
        appname=settings.service_name,
        tz_aware=True,
        event_listeners=[MongoActivity()],
    )


async def ensure_collections(database: AsyncDatabase[dict[str, Any]], names: list[str]) -> None:
    """Create the service's collections up front (idempotent; another replica may race us).

    MongoDB creates a collection on first write, and so does FerretDB — but two first writes at once
    can fail there ("table already exists"), e.g. the first import after a database restore.
    """
    existing = set(await database.list_collection_names())
    for name in names:
        if name not in existing:
            with contextlib.suppress(CollectionInvalid):  # created meanwhile
                await database.create_collection(name)


def build_redis(settings: CoreSettings) -> Redis:
    """Create the Redis client with bounded timeouts and one quick retry on a dropped connection."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.dependency_timeout_seconds,
        socket_connect_timeout=settings.dependency_timeout_seconds,
        health_check_interval=15,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        decode_responses=False,
    )


class LazyConnections:
    """Create the MongoDB and Redis clients on first use: a bootstrap given fakes for every port opens none."""

    def __init__(self, settings: CoreSettings) -> None:
        self._settings = settings
        self.mongo: AsyncMongoClient[dict[str, Any]] | None = None
        self.redis: Redis | None = None

    def database(self) -> AsyncDatabase[dict[str, Any]]:
        """Return the service's database, creating the MongoDB client the first time."""
        if self.mongo is None:
            self.mongo = build_mongo(self._settings)
        return self.mongo[self._settings.mongo_database]

    def redis_client(self) -> Redis:
        """Return the Redis client, creating it the first time."""
        if self.redis is None:
            self.redis = build_redis(self._settings)
        return self.redis


def mongo_timed_out(mongo: AsyncMongoClient[dict[str, Any]]) -> Callable[[BaseException], bool]:
    """Return the test of a MongoDB check's error for "no answer in time" (slow or hung), as opposed to dead."""

    def timed_out(error: BaseException) -> bool:
        if isinstance(error, ServerSelectionTimeoutError):
            # Selection gives up alike whether connecting was refused or the server never answered its
            # handshake; the topology keeps each server's last error, which tells the two apart.
            descriptions = mongo.topology_description.server_descriptions().values()
            errors = [description.error for description in descriptions if description.error is not None]
            return all(isinstance(cause, PyMongoError) and cause.timeout for cause in errors)
        if isinstance(error, PyMongoError):
            return error.timeout  # a socket, operation (maxTimeMS) or connection-pool wait timeout
        return isinstance(error, TimeoutError)

    return timed_out


def redis_timed_out(error: BaseException) -> bool:
    """Return whether a Redis check's error means "no answer in time" or "alive but loading its data"."""
    return isinstance(error, TimeoutError | RedisTimeoutError | BusyLoadingError)


def required_dependencies(mongo: AsyncMongoClient[dict[str, Any]], redis: Redis) -> list[Dependency]:
    """Return the readiness checks of the MongoDB and Redis every service needs (a ping each).

    MongoDB's real traffic counts as a sign of life when the client was made by :func:`build_mongo`.
    """

    async def ping_mongo() -> object:
        return await mongo.admin.command("ping")

    async def ping_redis() -> object:
        return await redis.ping()

    activity = next(
        (listener for listener in mongo.options.event_listeners if isinstance(listener, MongoActivity)), None
    )

    def mongo_last_success() -> float | None:
        return None if activity is None else activity.last_success

    return [
        Dependency("mongodb", ping_mongo, mongo_timed_out(mongo), mongo_last_success),
        Dependency("redis", ping_redis, redis_timed_out),
    ]
