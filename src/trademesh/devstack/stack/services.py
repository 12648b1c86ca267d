"""The service table: every component ``make up`` starts, in start order, with what each needs beyond the rest."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from trademesh.devstack.stack.edge import (
    GATEWAY,
    GATEWAY_SOURCE_ADDRESS,
    RATELIMIT,
    RATELIMIT_DEBUG_PORT_OFFSET,
    RATELIMIT_HTTP_PORT_OFFSET,
    _ratelimit_command,
    _ratelimit_env,
    _ratelimit_ready,
)
from trademesh.devstack.stack.layout import (
    BASE_PORT_FLAG,
    DEFAULT_BASE_PORT,
    HOST,
    JWKS_HTTP_PORT_OFFSET,
    StackContext,
    jwks_http_port,
)
from trademesh.devstack.stack.spec import ServiceSpec


def _auth_env(context: StackContext) -> dict[str, str]:
    return {
        "TRADEMESH_SIGNING_KEY_FILES": str(context.layout.signing_key),
        # Verification and reset mail goes to the stack's SMTP server (never to the log or the database).
        **_smtp_env(context),
        "TRADEMESH_MAIL_FROM": "trademesh <accounts@trademesh.local>",
        "TRADEMESH_JWKS_HTTP_HOST": HOST,
        "TRADEMESH_JWKS_HTTP_PORT": str(jwks_http_port(context)),
        # Only the gateway's connections may name the client's address (login throttling per client).
        "TRADEMESH_TRUSTED_PROXIES": GATEWAY_SOURCE_ADDRESS,
    }


#: The services ``make up`` starts, in start order (stopped in reverse). The gateway stays last.
def _marketdata_env(context: StackContext) -> dict[str, str]:
    # The simulated feed ticks at any hour in the dev stack, so the watchlist is alive after 15:30 IST too.
    return {"TRADEMESH_SESSION_POLICY": "always_open"}


#: The fake Kite Connect (HTTP) the dev stack's sync service talks to, with a demo account.
FAKE_KITE = "fake-kite"


def _fake_kite_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.services.brokers.fakes", "--host", HOST,
            "--kite-port", str(context.ports[FAKE_KITE]), "--demo"]  # fmt: skip


def _fake_kite_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[FAKE_KITE]}/__fake/ready"


def _trade_env(context: StackContext) -> dict[str, str]:
    # Lot sizes of NFO/BFO contracts from the fake Kite's instrument master (Kite's GET /instruments CSV).
    return {"TRADEMESH_INSTRUMENTS_URL": f"http://{HOST}:{context.ports[FAKE_KITE]}/instruments"}


def _sync_env(context: StackContext) -> dict[str, str]:
    # Imported here: the table stays importable without the sync service. The credentials key and the
    # service token are generated into <data>/keys on first run (the token is renewed before it expires).
    from trademesh.devstack.secrets import ensure_dev_secrets

    key_file, token_file = ensure_dev_secrets(context.layout.keys_dir, context.layout.signing_key)
    return {
        "TRADEMESH_BROKER_CREDENTIALS_KEY": key_file.read_text().strip(),
        "TRADEMESH_SERVICE_TOKEN_FILE": str(token_file),
        "TRADEMESH_TRADE_TARGET": context.address("trade"),
        "TRADEMESH_KITE_BASE_URL": f"http://{HOST}:{context.ports[FAKE_KITE]}",
    }


MAIL = "mail"
#: The local SMTP server listens this far above the mail page's port.
SMTP_PORT_OFFSET = 1000


def _mail_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.devstack.mailserver", "--host", HOST,
            "--http-port", str(context.ports[MAIL]), "--smtp-port", str(context.ports[MAIL] + SMTP_PORT_OFFSET),
            "--maildir", str(context.layout.mail_dir / "maildir")]  # fmt: skip


def _mail_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[MAIL]}/ready"


def _smtp_env(context: StackContext) -> dict[str, str]:
    # Email goes to the stack's own SMTP server (plain, no login): read it in <data>/mail/maildir or on its page.
    return {
        "TRADEMESH_SMTP_HOST": HOST,
        "TRADEMESH_SMTP_PORT": str(context.ports[MAIL] + SMTP_PORT_OFFSET),
        "TRADEMESH_SMTP_SECURITY": "none",
    }


#: The local Web Push service (RFC 8030, decrypts what it gets) and the local Twilio Messages API.
PUSH = "push"
SMS = "sms"


def _push_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.devstack.pushserver", "--host", HOST,
            "--port", str(context.ports[PUSH])]  # fmt: skip


def _push_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[PUSH]}/ready"


def _sms_command(context: StackContext) -> list[str]:
    return [sys.executable, "-m", "trademesh.devstack.smsserver", "--host", HOST,
            "--port", str(context.ports[SMS])]  # fmt: skip


def _sms_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[SMS]}/__fake/ready"


def _notifications_env(context: StackContext) -> dict[str, str]:
    # Webhooks and Web Push on, with keys made once per data dir; SMS through the local Twilio fake.
    from trademesh.devstack.secrets import ensure_dev_secrets, ensure_vapid_key, ensure_webhook_key
    from trademesh.devstack.smsserver import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_FROM_NUMBER

    # The service token lets the P&L guardrails and the digest read a user's P&L from analytics (decision 0300).
    _, token_file = ensure_dev_secrets(context.layout.keys_dir, context.layout.signing_key)
    env = {
        **_smtp_env(context),
        "TRADEMESH_SERVICE_TOKEN_FILE": str(token_file),
        "TRADEMESH_ANALYTICS_TARGET": context.address("analytics"),
        "TRADEMESH_WEBHOOK_SECRETS_KEY": ensure_webhook_key(context.layout.keys_dir).read_text().strip(),
        "TRADEMESH_VAPID_PRIVATE_KEY": ensure_vapid_key(context.layout.keys_dir).read_text().strip(),
        # Dev mode lets push endpoints be the local push service (http, loopback) — nothing else private.
        "TRADEMESH_DEV_MODE": "true",
        "TRADEMESH_PUSH_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    if SMS in context.ports:  # a stack without the Twilio fake sends no SMS
        env |= {
            "TRADEMESH_TWILIO_ACCOUNT_SID": DEV_ACCOUNT_SID,
            "TRADEMESH_TWILIO_AUTH_TOKEN": DEV_AUTH_TOKEN,
            "TRADEMESH_TWILIO_FROM_NUMBER": DEV_FROM_NUMBER,
            "TRADEMESH_TWILIO_API_BASE_URL": f"http://{HOST}:{context.ports[SMS]}",
        }
    return env


def _analytics_env(context: StackContext) -> dict[str, str]:
    # Live marks (GetAnalytics, WatchPnl) come from this stack's market-data service.
    return {"TRADEMESH_MARKETDATA_TARGET": context.address("marketdata")}


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="auth",
        module="trademesh.services.auth",
        default_port=50051,
        extra_env=_auth_env,
        health_service="trademesh.auth.v1.AuthService",
    ),
    ServiceSpec(
        name=RATELIMIT,
        module="trademesh.gateway.envoy_config",
        default_port=50060,
        extra_env=_ratelimit_env,
        command=_ratelimit_command,
        ready_url=_ratelimit_ready,
    ),
    ServiceSpec(
        name=FAKE_KITE,
        module="trademesh.services.brokers.fakes",
        default_port=50059,
        command=_fake_kite_command,
        ready_url=_fake_kite_ready,
    ),
    ServiceSpec(
        name=PUSH,
        module="trademesh.devstack.pushserver",
        default_port=50063,
        command=_push_command,
        ready_url=_push_ready,
    ),
    ServiceSpec(
        name=SMS,
        module="trademesh.devstack.smsserver",
        default_port=50064,
        command=_sms_command,
        ready_url=_sms_ready,
    ),
    ServiceSpec(
        name="trade",
        module="trademesh.services.trade",
        default_port=50052,
        extra_env=_trade_env,
        depends_on=("auth", FAKE_KITE),
        health_service="trademesh.trade.v1.TradeService",
    ),
    ServiceSpec(
        name="marketdata",
        module="trademesh.services.marketdata",
        default_port=50054,
        extra_env=_marketdata_env,
        depends_on=("auth",),
        health_service="trademesh.marketdata.v1.MarketDataService",
    ),
    ServiceSpec(
        name="analytics",
        module="trademesh.services.analytics",
        default_port=50055,
        extra_env=_analytics_env,
        depends_on=("auth", "marketdata"),
        health_service="trademesh.analytics.v1.AnalyticsService",
    ),
    ServiceSpec(
        name=MAIL,
        module="trademesh.devstack.mailserver",
        default_port=50062,
        command=_mail_command,
        ready_url=_mail_ready,
    ),
    ServiceSpec(
        name="notifications",
        module="trademesh.services.notifications",
        default_port=50056,
        extra_env=_notifications_env,
        depends_on=("auth", MAIL, PUSH, SMS),
        health_service="trademesh.notifications.v1.NotificationsService",
    ),
    ServiceSpec(
        name="sync",
        module="trademesh.services.sync",
        default_port=50053,
        extra_env=_sync_env,
        depends_on=("auth", "trade"),
        health_service="trademesh.sync.v1.SyncService",
    ),
    GATEWAY,
)


def port_offsets(services: Sequence[ServiceSpec] = SERVICES) -> tuple[int, ...]:
    """Return the offsets above ``--base-port`` that a stack binds (every service, auth's JWKS port, SMTP)."""
    offsets = {spec.default_port - DEFAULT_BASE_PORT for spec in services if spec.port_flag == BASE_PORT_FLAG}
    ratelimit = {
        spec.default_port - DEFAULT_BASE_PORT + extra
        for spec in services
        if spec.name == RATELIMIT
        for extra in (RATELIMIT_HTTP_PORT_OFFSET, RATELIMIT_DEBUG_PORT_OFFSET)
    }
    smtp = {spec.default_port - DEFAULT_BASE_PORT + SMTP_PORT_OFFSET for spec in services if spec.name == MAIL}
    return tuple(sorted(offsets | ratelimit | smtp | {JWKS_HTTP_PORT_OFFSET}))


def free_base_port(host: str = HOST, attempts: int = 500) -> int:
    """Return a base port whose whole block (:func:`port_offsets`) is free now (tests run stacks side by side)."""
    import random
    import socket

    def free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
        return True

    offsets = port_offsets()
    for _ in range(attempts):
        # Below the kernel's ephemeral range (32768+), where other tests' port-0 servers land.
        base = random.randrange(20000, 31000 - max(offsets), 10)
        if all(free(base + offset) for offset in offsets):
            return base
    raise OSError("no free block of ports for a stack")
