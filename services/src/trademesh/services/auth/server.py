"""Auth service bootstrap: settings → dependencies → gRPC server → serve."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.services.auth.api import AuthServicer
from trademesh.services.auth.client_address import TrustedProxies
from trademesh.services.auth.domain import AuthPolicy, AuthService
from trademesh.services.auth.jwks_http import start_jwks_http
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.mail import FileMailDrop, NoMailTransport
from trademesh.services.auth.passwords import Argon2PasswordHasher
from trademesh.services.auth.sessions import RedisLoginThrottle, RedisSessionStore
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.auth.store import (
    MongoOneTimeTokenStore,
    MongoOutbox,
    MongoUserStore,
    ensure_indexes,
)
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import build_mongo, build_redis, required_dependencies
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_verifier,
    run_service,
    start_server,
)
from trademesh.services.core.tokens import StaticKeySource
from trademesh.services.core.tracing import configure_tracing

logger = logging.getLogger(__name__)

SERVICE_NAME = auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


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


async def build_auth_server(settings: AuthSettings) -> ServiceHost:
    """Wire the auth service and start its gRPC server."""
    keys = KeyRing.from_files([Path(path.strip()) for path in settings.signing_key_files.split(",") if path.strip()])
    mongo = build_mongo(settings)
    database = mongo[settings.mongo_database]
    await ensure_indexes(database)
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    one_time_tokens = MongoOneTimeTokenStore(database)
    service = AuthService(
        users=MongoUserStore(database),
        one_time_tokens=one_time_tokens,
        outbox=MongoOutbox(
            database,
            FileMailDrop(settings.mail_drop_dir) if settings.mail_drop_dir is not None else NoMailTransport(),
        ),
        sessions=RedisSessionStore(redis),
        throttle=RedisLoginThrottle(redis, timedelta(seconds=settings.login_throttle_window_seconds)),
        hasher=Argon2PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        signer=keys,
        revoker=revocations,
        policy=AuthPolicy(
            access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
            email_verification_ttl=timedelta(seconds=settings.email_verification_ttl_seconds),
            password_reset_ttl=timedelta(seconds=settings.password_reset_ttl_seconds),
            max_failures_per_account=settings.login_max_failures_per_account,
            max_failures_per_address=settings.login_max_failures_per_address,
            throttle_window=timedelta(seconds=settings.login_throttle_window_seconds),
        ),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    servicer = AuthServicer(service, keys, trusted_proxies=TrustedProxies.parse(settings.trusted_proxies))
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: auth_service_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_verifier(settings, StaticKeySource(keys.public_keys()), revocations)
    host = await start_server(settings, [registration], verifier, dependencies=required_dependencies(mongo, redis))
    jwks_runner, jwks_port = await start_jwks_http(keys, settings.jwks_http_host, settings.jwks_http_port)
    host.extra_ports["jwks-http"] = jwks_port
    host.on_stop(jwks_runner.cleanup)
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(_sweep_expired_tokens(one_time_tokens, settings.sweep_interval_seconds), "token-sweeper")
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    return host


async def serve(settings: AuthSettings) -> None:
    """Run the auth service until SIGTERM/SIGINT."""
    provider = configure_tracing(settings)
    host = await build_auth_server(settings)
    await host.serve_until_signal(settings.shutdown_grace_seconds)
    if provider is not None:
        provider.shutdown()


def main() -> None:
    """Entry point of `trademesh-auth` (and `python -m trademesh.services.auth`)."""
    run_service(AuthSettings, serve)
