"""Auth service wiring: settings → dependencies (`bootstrap`) → gRPC server (`build_auth_server`) → `serve`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.services.auth.api import AuthServicer
from trademesh.services.auth.client_address import TrustedProxies
from trademesh.services.auth.jwks_http import start_jwks_http
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.mail import FileMailDrop, NoMailTransport, SmtpMailTransport
from trademesh.services.auth.model import AuthPolicy
from trademesh.services.auth.passwords import Argon2PasswordHasher
from trademesh.services.auth.ports import (
    Clock,
    LoginThrottle,
    MailTransport,
    OneTimeTokenStore,
    Outbox,
    PasswordHasher,
    Revoker,
    SessionStore,
    UserStore,
)
from trademesh.services.auth.service import AuthService, utc_now
from trademesh.services.auth.sessions import RedisLoginThrottle, RedisSessionStore
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.auth.store import (
    MongoOneTimeTokenStore,
    MongoOutbox,
    MongoUserStore,
    ensure_indexes,
)
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import LazyConnections, required_dependencies
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_verifier,
    run_service,
    serve_host,
    start_server,
)
from trademesh.services.core.smtp import SmtpSender
from trademesh.services.core.tokens import StaticKeySource

logger = logging.getLogger(__name__)

SERVICE_NAME = auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


@dataclass
class AuthApplication:
    """The wired auth service: its use cases and servicer, and the connections the host runs and closes.

    A connection is None when every port that needs it was given a fake.
    """

    service: AuthService
    servicer: AuthServicer
    keys: KeyRing
    mongo: AsyncMongoClient[dict[str, Any]] | None = None
    redis: Redis | None = None
    revocations: RevocationList | None = None
    sweepable_tokens: MongoOneTimeTokenStore | None = None


def build_key_ring(settings: AuthSettings) -> KeyRing:
    """Load the signing keys named by TRADEMESH_SIGNING_KEY_FILES, the active one first."""
    return KeyRing.from_files([Path(path.strip()) for path in settings.signing_key_files.split(",") if path.strip()])


def build_mail_transport(settings: AuthSettings) -> MailTransport:
    """Return the transport of verification and reset mail: SMTP when a host is set, else the file drop, else none."""
    sender = SmtpSender.from_settings(settings)
    if sender is not None:
        return SmtpMailTransport(sender)
    return FileMailDrop(settings.mail_drop_dir) if settings.mail_drop_dir is not None else NoMailTransport()


def build_policy(settings: AuthSettings) -> AuthPolicy:
    """Return the lifetimes and limits the settings give."""
    return AuthPolicy(
        access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        email_verification_ttl=timedelta(seconds=settings.email_verification_ttl_seconds),
        password_reset_ttl=timedelta(seconds=settings.password_reset_ttl_seconds),
        max_failures_per_account=settings.login_max_failures_per_account,
        max_failures_per_address=settings.login_max_failures_per_address,
        throttle_window=timedelta(seconds=settings.login_throttle_window_seconds),
    )


def bootstrap(
    settings: AuthSettings,
    *,
    store: UserStore | None = None,
    one_time_tokens: OneTimeTokenStore | None = None,
    mail: Outbox | None = None,
    sessions: SessionStore | None = None,
    throttle: LoginThrottle | None = None,
    hasher: PasswordHasher | None = None,
    revoker: Revoker | None = None,
    keys: KeyRing | None = None,
    clock: Clock | None = None,
) -> AuthApplication:
    """Wire the auth use cases and servicer; every port left None gets its real adapter.

    MongoDB and Redis clients are created (connecting lazily) only for the ports that need them.
    """
    keys = keys if keys is not None else build_key_ring(settings)
    policy = build_policy(settings)
    connections = LazyConnections(settings)
    sweepable: MongoOneTimeTokenStore | None = None
    if one_time_tokens is None:
        one_time_tokens = sweepable = MongoOneTimeTokenStore(connections.database())
    if mail is None:
        mail = MongoOutbox(connections.database(), build_mail_transport(settings))
    revocations: RevocationList | None = None
    if revoker is None:
        revoker = revocations = RevocationList(connections.redis_client())
    service = AuthService(
        users=store if store is not None else MongoUserStore(connections.database()),
        one_time_tokens=one_time_tokens,
        outbox=mail,
        sessions=sessions if sessions is not None else RedisSessionStore(connections.redis_client()),
        throttle=throttle
        if throttle is not None
        else RedisLoginThrottle(connections.redis_client(), policy.throttle_window),
        hasher=hasher
        if hasher is not None
        else Argon2PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        signer=keys,
        revoker=revoker,
        policy=policy,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=clock if clock is not None else utc_now,
    )
    servicer = AuthServicer(service, trusted_proxies=TrustedProxies.parse(settings.trusted_proxies))
    return AuthApplication(service, servicer, keys, connections.mongo, connections.redis, revocations, sweepable)


async def _sweep_expired_tokens(store: MongoOneTimeTokenStore, interval: float) -> None:
    # FerretDB has no TTL indexes (and MongoDB's run only once a minute), so expiry is swept here.
    while True:
        try:
            deleted = await store.delete_expired(datetime.now(UTC))
            if deleted:
                logger.info("deleted %d expired one-time tokens", deleted)
        except Exception:
            logger.warning("sweeping expired tokens failed", exc_info=True)
        await asyncio.sleep(interval)


async def build_auth_server(settings: AuthSettings, application: AuthApplication | None = None) -> ServiceHost:
    """Start the gRPC server (and the JWKS HTTP endpoint) of a wired auth service (`bootstrap(settings)` by default)."""
    app = application if application is not None else bootstrap(settings)
    if app.mongo is not None:
        await ensure_indexes(app.mongo[settings.mongo_database])
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: auth_service_pb2_grpc.add_AuthServiceServicer_to_server(app.servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_verifier(settings, StaticKeySource(app.keys.public_keys()), app.revocations)
    dependencies = required_dependencies(app.mongo, app.redis) if app.mongo and app.redis else []
    host = await start_server(settings, [registration], verifier, dependencies=dependencies)
    jwks_runner, jwks_port = await start_jwks_http(app.keys, settings.jwks_http_host, settings.jwks_http_port)
    host.extra_ports["jwks-http"] = jwks_port
    host.on_stop(jwks_runner.cleanup)
    if app.revocations is not None:
        host.spawn(app.revocations.run(), "revocations", app.revocations.close)
    if app.sweepable_tokens is not None:
        host.spawn(_sweep_expired_tokens(app.sweepable_tokens, settings.sweep_interval_seconds), "token-sweeper")
    if app.mongo is not None:
        host.on_stop(app.mongo.close)
    if app.redis is not None:
        host.on_stop(app.redis.aclose)
    return host


async def serve(settings: AuthSettings) -> None:
    """Run the auth service until SIGTERM/SIGINT."""
    await serve_host(settings, build_auth_server)


def main() -> None:
    """Entry point of `trademesh-auth` (and `python -m trademesh.services.auth`)."""
    run_service(AuthSettings, serve)
