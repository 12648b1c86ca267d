"""Settings shared by every service, read from the environment once at start-up.

Every setting is an environment variable named `TRADEMESH_<FIELD>` (upper-case); the Helm chart's
`env:` entries use the same names. A bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TRADEMESH_"


class TracingExporter(StrEnum):
    """Where OpenTelemetry spans go."""

    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


class SettingsError(Exception):
    """Raise when the environment does not describe a valid configuration."""


class CoreSettings(BaseSettings):
    """Settings every service reads: network, dependencies, tokens and observability."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    service_name: str = Field("trademesh", description="Name used in logs, traces and health.")
    grpc_host: str = Field("0.0.0.0", description="Address the gRPC server binds to.")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    grpc_max_message_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request or response message accepted."
    )
    grpc_max_connection_age_seconds: float = Field(
        120.0,
        ge=0,
        description="Connections are closed (GOAWAY; open streams finish) after about this long, so callers "
        "re-resolve and reach replicas added since; 0 = never.",
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="On SIGTERM/SIGINT, time given to in-flight calls before they are cancelled."
    )
    gc_young_threshold: int = Field(
        50_000,
        ge=0,
        description="Container allocations between young garbage collections (CPython's default is 700; "
        "0 keeps CPython's defaults). Objects alive at start-up are frozen out of collections.",
    )
    mongo_url: str = Field("mongodb://127.0.0.1:27017/", description="MongoDB connection string.")
    mongo_database: str = Field("trademesh", description="Database name.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis connection URL.")
    dependency_timeout_seconds: float = Field(
        3.0, gt=0, description="Connect/operation timeout for MongoDB and Redis; past it a call is UNAVAILABLE."
    )
    jwt_issuer: str = Field("trademesh-auth", description="`iss` of access tokens.")
    jwt_audience: str = Field("trademesh", description="`aud` of access tokens.")
    auth_target: str = Field(
        "127.0.0.1:50051", description="gRPC address of the auth service (JWKS for token verification)."
    )
    jwks_refresh_seconds: float = Field(300.0, gt=0, description="How often cached public keys are refreshed.")
    log_level: str = Field("INFO", description="Root log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: str = Field("json", pattern="^(json|text)$", description="`json` lines or `text`.")
    tracing_exporter: TracingExporter = Field(TracingExporter.NONE, description="Span exporter: none, console or otlp.")
    otlp_endpoint: str = Field("http://127.0.0.1:4317", description="OTLP/gRPC collector for `otlp`.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the Prometheus `/metrics` endpoint (OpenTelemetry metrics); 0 = off."
    )
    metrics_host: str = Field("0.0.0.0", description="Address the metrics endpoint binds to.")
    dev_mode: bool = Field(
        False,
        description="Local development only: accept the well-known development token secret. Never in a deployment.",
    )
    readiness_failure_seconds: float = Field(
        10.0,
        gt=0,
        description="A required dependency (MongoDB, Redis) failing this long with an error (refused, "
        "unreachable, error reply) turns readiness NOT_SERVING; a slow answer is not a failure.",
    )
    readiness_hung_seconds: float = Field(
        90.0,
        gt=0,
        description="A required dependency showing no sign of life this long (no check answered, no "
        "operation succeeded: it accepts connections but answers nothing) turns readiness NOT_SERVING.",
    )
    readiness_check_interval_seconds: float = Field(
        2.0, gt=0, description="How often readiness checks each required dependency."
    )


#: The development token secret: accepted only with TRADEMESH_DEV_MODE=true (it is published, so it forges).
DEV_TOKEN_SECRET = "trademesh-dev-token-secret"
#: Shortest token secret accepted outside development mode.
MIN_TOKEN_SECRET_LENGTH = 32


class SignedTokenSettings(CoreSettings):
    """Settings of a service that signs page or resume tokens: the shared HMAC secret."""

    token_secret: SecretStr = Field(
        SecretStr(""),
        validate_default=True,
        description=(
            "HMAC key signing page tokens and resume tokens, shared by every replica: at least 32 random "
            "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`). Required; "
            "only TRADEMESH_DEV_MODE=true accepts it empty (then the published development secret is used)."
        ),
    )

    @field_validator("token_secret")
    @classmethod
    def _strong_outside_dev_mode(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        secret = value.get_secret_value()
        if info.data.get("dev_mode", False):
            return value if secret else SecretStr(DEV_TOKEN_SECRET)
        if not secret:
            raise ValueError("is required: set at least 32 random characters shared by every replica")
        if secret == DEV_TOKEN_SECRET:
            raise ValueError("is the published development secret; anyone can forge tokens with it")
        if len(secret) < MIN_TOKEN_SECRET_LENGTH:
            raise ValueError(f"is too short: at least {MIN_TOKEN_SECRET_LENGTH} characters")
        return value


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_type: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        return settings_type(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ENV_PREFIX + "_".join(str(part) for part in item["loc"]).upper()
            shown = "<hidden>" if "secret" in name.lower() else repr(item.get("input"))
            problems.append(f"{name}: {item['msg']} (got {shown})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None
