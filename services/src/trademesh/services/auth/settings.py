"""Settings of the auth service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from trademesh.services.auth.client_address import TrustedProxies
from trademesh.services.core.smtp import SmtpSettings


class AuthSettings(SmtpSettings):
    """Auth-specific settings: keys, token lifetimes, throttling, password hashing, mail."""

    service_name: str = "auth"
    signing_key_files: str = Field(
        ...,
        min_length=1,
        description=(
            "Comma-separated paths of Ed25519 private keys (PEM, PKCS#8). The first signs new tokens; "
            "the others only verify, so a rotated-out key keeps working until its tokens expire."
        ),
    )
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600, description="Access-token lifetime.")
    refresh_token_ttl_seconds: int = Field(30 * 86400, ge=3600, description="Refresh-token (family) lifetime.")
    login_max_failures_per_account: int = Field(5, ge=1, description="Failed logins per account per window.")
    login_max_failures_per_address: int = Field(20, ge=1, description="Failed logins per client address per window.")
    login_throttle_window_seconds: int = Field(900, ge=1, description="Window of the login-failure counters.")
    email_verification_ttl_seconds: int = Field(86400, ge=60, description="Lifetime of a verification token.")
    password_reset_ttl_seconds: int = Field(3600, ge=60, description="Lifetime of a password-reset token.")
    argon2_time_cost: int = Field(2, ge=1, description="argon2id iterations (OWASP: 2 with 19 MiB).")
    argon2_memory_kib: int = Field(19456, ge=8192, description="argon2id memory in KiB (OWASP: 19456).")
    argon2_parallelism: int = Field(1, ge=1, description="argon2id lanes.")
    mail_from: str = Field("trademesh <accounts@trademesh.local>", description="From: address of email.")
    mail_drop_dir: Path | None = Field(
        None,
        description=(
            "Test mail transport, used when TRADEMESH_SMTP_HOST is empty: write each message (with its code) to "
            "an owner-only file in this directory. Neither set: the outbox keeps the code-less record only. "
            "Codes are never logged."
        ),
    )
    trusted_proxies: str = Field(
        "",
        description=(
            "Comma-separated addresses/CIDRs of the gateway: only calls from these peers may name the client's "
            "address (x-envoy-external-address, which Envoy overwrites); empty trusts no one."
        ),
    )
    jwks_http_host: str = Field("0.0.0.0", description="Address of the plain-HTTP JWKS endpoint (for Envoy).")
    jwks_http_port: int = Field(
        8081, ge=0, le=65535, description="Port serving GET /.well-known/jwks.json; 0 picks a free port."
    )
    sweep_interval_seconds: float = Field(300.0, gt=0, description="How often expired tokens are deleted.")

    @field_validator("trusted_proxies")
    @classmethod
    def _parse_trusted_proxies(cls, value: str) -> str:
        TrustedProxies.parse(value)
        return value
