"""Connections to MongoDB and Redis with timeouts everywhere, so an outage is an error, not a hang."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trademesh.services.core.readiness import Dependency
from trademesh.services.core.settings import CoreSettings


def build_mongo(settings: CoreSettings) -> AsyncMongoClient[dict[str, Any]]:
    """Create the MongoDB client; it connects lazily and fails fast when the server is down."""
    timeout_ms = int(settings.dependency_timeout_seconds * 1000)
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * 2,
        timeoutMS=timeout_ms * 2,
        appname=settings.service_name,
        tz_aware=True,
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


def required_dependencies(mongo: AsyncMongoClient[dict[str, Any]], redis: Redis) -> list[Dependency]:
    """Return the readiness checks of the MongoDB and Redis every service needs (a ping each)."""

    async def ping_mongo() -> object:
        return await mongo.admin.command("ping")

    async def ping_redis() -> object:
        return await redis.ping()

    return [Dependency("mongodb", ping_mongo), Dependency("redis", ping_redis)]
