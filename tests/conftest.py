"""Session-wide real servers shared by every test: Redis, the database and one auth service.

Each server runs as its own process (or, for auth, an in-process gRPC server) on a free port with
a temporary data directory, so tests never touch a developer's running stack.

The database is the local engine (FerretDB on SQLite, decision 0002) unless a MongoDB is given with
``--mongodb-uri`` or ``TRADEMESH_TEST_MONGODB_URI``; then every test that only needs "a MongoDB" uses
that one (``database_server``), in databases named after the session and dropped at its end. Two kinds
of test keep a local engine whatever is given: outage and crash tests, which kill and restart the database
(``restartable_database``: nobody's MongoDB is theirs to kill), and the tests of the local engine itself
(``local_database_engine``). A given MongoDB that does not answer fails the session before any test runs.

Waiting: a test that waits for something asynchronous (an event applied, a process restarted, a log
written) calls :func:`tests.eventually.eventually` (or ``eventually_sync`` outside a loop) with the
condition and a deadline; no test writes its own polling loop or sleeps to let something happen. A
service the stack runs is required, never skipped: a missing one is a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pymongo
import pytest
from grpc import aio
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from tests.eventually import eventually
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.processes import FerretDBServer, RedisServer, find_free_port
from trademesh.services.auth.keys import write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.server import ServiceHost

MONGODB_URI_VARIABLE = "TRADEMESH_TEST_MONGODB_URI"
MONGODB_URI_OPTION = "--mongodb-uri"
#: The page/resume-token secret of every service a test starts (services refuse a default or short one).
SESSION_TOKEN_SECRET = secrets.token_urlsafe(32)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        MONGODB_URI_OPTION,
        metavar="URI",
        help=f"run the tests against this MongoDB instead of the local engine (default: ${MONGODB_URI_VARIABLE}); "
        "outage tests and tests of the local engine still start their own FerretDB",
    )


def given_mongodb_uri(config: pytest.Config) -> str | None:
    """Return the MongoDB to test against (the option, else the environment variable), or None for the local engine."""
    value: str = config.getoption(MONGODB_URI_OPTION) or os.environ.get(MONGODB_URI_VARIABLE, "")
    return value.strip() or None


def redacted(uri: str) -> str:
    """Return ``uri`` with any password replaced by ``***``, fit for messages and logs."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", uri)


class UnreachableMongoDBError(RuntimeError):
    """The given MongoDB did not answer."""


def check_mongodb_answers(uri: str, timeout_seconds: float = 5.0) -> None:
    """Raise UnreachableMongoDBError unless a MongoDB at ``uri`` answers a ping within ``timeout_seconds``."""
    milliseconds = int(timeout_seconds * 1000)
    try:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=milliseconds, connectTimeoutMS=milliseconds
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()
    except PyMongoError as error:
        reason = str(error).split(", Timeout:")[0]  # the rest is the driver's topology dump
        raise UnreachableMongoDBError(
            f"{MONGODB_URI_OPTION} / {MONGODB_URI_VARIABLE} is {redacted(uri)}, but no MongoDB answers there "
            f"({type(error).__name__}: {reason}). Start it, correct the URI, or unset it to test against the "
            "local engine."
        ) from error


def pytest_sessionstart(session: pytest.Session) -> None:
    # Checked up front: a given MongoDB that is down must stop the run, not turn every test into an error.
    uri = given_mongodb_uri(session.config)
    if uri is not None:
        try:
            check_mongodb_answers(uri)
        except UnreachableMongoDBError as error:
            pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_report_header(config: pytest.Config) -> str:
    uri = given_mongodb_uri(config)
    if uri is None:
        return f"database: the local engine (FerretDB); {MONGODB_URI_OPTION} or ${MONGODB_URI_VARIABLE} picks a MongoDB"
    return f"database: {redacted(uri)} (outage tests and tests of the local engine: their own FerretDB)"


@dataclass(frozen=True)
class DatabaseServer:
    """The MongoDB that tests needing "a MongoDB" use, and the names of the databases they create in it."""

    url: str
    """Client connection URI."""
    local_engine: FerretDBServer | None
    """The session's local engine when no MongoDB was given; None when one was."""
    session_prefix: str = field(default_factory=lambda: f"test_{uuid.uuid4().hex[:8]}_")
    """Start of every database name this session uses, so that only its own databases are dropped."""

    def new_database_name(self, label: str | None = None) -> str:
        """Return a database name of this session: ``label`` if given, else one no other test uses."""
        return self.session_prefix + (label or uuid.uuid4().hex[:12])

    def drop_session_databases(self) -> None:
        """Drop every database of this session (a given MongoDB may be shared with other sessions and people)."""
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=10_000)
        try:
            for name in client.list_database_names():
                if name.startswith(self.session_prefix):
                    client.drop_database(name)
        finally:
            client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def local_database_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    """The session's local engine, started only if a test needs it; see database_server before using it."""
    with FerretDBServer(tmp_path_factory.mktemp("ferretdb")) as server:
        yield server


@pytest.fixture(scope="session")
def database_server(request: pytest.FixtureRequest) -> Iterator[DatabaseServer]:
    """The MongoDB for every test that only needs one: the given MongoDB, else the local engine.

    Name databases with ``new_database_name()``. On a given MongoDB they are dropped when the session ends;
    the local engine's go with its temporary directory.
    """
    uri = given_mongodb_uri(request.config)
    if uri is None:
        engine: FerretDBServer = request.getfixturevalue("local_database_engine")
        yield DatabaseServer(engine.url, engine)
        return
    server = DatabaseServer(uri, None)
    yield server
    server.drop_session_databases()


@pytest.fixture
def restartable_database(tmp_path: Path) -> Iterator[FerretDBServer]:
    """A private local engine that the test may kill and restart, stopped after it.

    Outage and crash-recovery tests take the database away and bring it back: they cannot do that to a
    given (perhaps shared) MongoDB, so they run against their own FerretDB even when one is given.
    """
    with FerretDBServer(tmp_path / "restartable-database") as server:
        yield server


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    for name in ("active", "previous", "stranger"):
        write_new_key(directory / f"{name}.pem")
    return directory


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the shared Redis, emptied before the test."""
    if not redis_server.running:
        redis_server.restart()
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def mesh_auth(
    redis_server: RedisServer, database_server: DatabaseServer, key_dir: Path
) -> AsyncIterator[ServiceHost]:
    """One auth service for the whole session: other services verify tokens against its JWKS."""
    settings = AuthSettings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        jwks_http_host="127.0.0.1",
        jwks_http_port=0,
        mongo_url=database_server.url,
        mongo_database=database_server.new_database_name("mesh_auth"),
        redis_url=redis_server.url,
        signing_key_files=str(key_dir / "active.pem"),
        log_format="text",
    )
    host = await build_auth_server(settings)
    yield host
    await host.stop(0)


@pytest.fixture
def core_settings(
    redis_server: RedisServer, database_server: DatabaseServer, mesh_auth: ServiceHost
) -> Callable[..., dict[str, Any]]:
    """Return settings values every service needs (fresh database per test); keywords override."""
    database = database_server.new_database_name()

    def values(**overrides: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "mongo_url": database_server.url,
            "mongo_database": database,
            "redis_url": redis_server.url,
            "auth_target": f"127.0.0.1:{mesh_auth.port}",
            "dependency_timeout_seconds": 1.0,
            "shutdown_grace_seconds": 2.0,
            "log_format": "text",
            # Random per session, as `make up` makes one per data directory: no known secret signs tokens.
            "token_secret": SESSION_TOKEN_SECRET,
        }
        result.update(overrides)
        return result

    return values


@dataclass(frozen=True)
class MeshUser:
    """A user registered with the shared auth service, and call metadata carrying their token."""

    user_id: str
    username: str
    access_token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Return call metadata that authenticates as this user."""
        return (("authorization", f"Bearer {self.access_token}"),)


@pytest.fixture
async def new_user(mesh_auth: ServiceHost) -> AsyncIterator[Callable[[], Awaitable[MeshUser]]]:
    """Register fresh users through the real auth service."""
    channel = aio.insecure_channel(f"127.0.0.1:{mesh_auth.port}")
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)

    async def register() -> MeshUser:
        name = f"user_{uuid.uuid4().hex[:10]}"
        response = await stub.Register(
            auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password="Correct-Horse-42")
        )
        return MeshUser(response.user.id, name, response.tokens.access_token)

    yield register
    await channel.close()


@dataclass(frozen=True)
class MailServer:
    """The local mail server of `make up` (SMTP in, Maildir and a page out), started for one test."""

    http_port: int
    smtp_port: int
    maildir: Path


@pytest.fixture
async def mail_server(tmp_path: Path) -> AsyncIterator[MailServer]:
    """Start `trademesh.devstack.mailserver` on free ports; ready (both listeners up) when yielded."""
    server = MailServer(find_free_port(), find_free_port(), tmp_path / "maildir")
    command = [sys.executable, "-m", "trademesh.devstack.mailserver", "--http-port", str(server.http_port),
               "--smtp-port", str(server.smtp_port), "--maildir", str(server.maildir)]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command)
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> int:
                if process.returncode is not None:
                    raise RuntimeError(f"the mail server exited with {process.returncode}")
                async with session.get(f"http://127.0.0.1:{server.http_port}/ready") as response:
                    return response.status

            await eventually(ready, until=lambda status: status == 200, ignoring=(aiohttp.ClientError,), what="ready")
        yield server
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
