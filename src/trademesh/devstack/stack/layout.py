"""Where the local mesh keeps its data, which ports it uses by default, and what every service is told."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trademesh.devstack.processes import repo_root

#: Address every component binds to: the dev stack is never exposed beyond this machine.
HOST = "127.0.0.1"
#: Redis and FerretDB ports, away from the system daemons' 6379 and 27017.
DEFAULT_REDIS_PORT = 6390
DEFAULT_MONGO_PORT = 27027
#: gRPC port of the first service (auth); ``--base-port`` shifts all service ports together.
DEFAULT_BASE_PORT = 50051
MONGO_DATABASE = "trademesh"
#: The gateway (Envoy): gRPC, grpc-web and the browser client on one port; its admin API on loopback.
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_GATEWAY_ADMIN_PORT = 9901
#: The command-line flag that sets the ports following the base port.
BASE_PORT_FLAG = "--base-port"
#: The flag that sets the gateway's port.
GATEWAY_PORT_FLAG = "--gateway-port"


def default_data_dir() -> Path:
    """Return ``<repo>/.data``."""
    return repo_root() / ".data"


@dataclass(frozen=True, slots=True)
class DataLayout:
    """Paths inside the data directory."""

    root: Path

    @property
    def redis_dir(self) -> Path:
        """Redis working directory (its log is ``redis.log`` in it)."""
        return self.root / "redis"

    @property
    def ferretdb_dir(self) -> Path:
        """FerretDB's SQLite files and state; persists across runs."""
        return self.root / "ferretdb"

    @property
    def keys_dir(self) -> Path:
        """Private keys (auth's token-signing key)."""
        return self.root / "keys"

    @property
    def signing_key(self) -> Path:
        """auth's active Ed25519 signing key (PKCS#8 PEM)."""
        return self.keys_dir / "signing-1.pem"

    @property
    def token_secret(self) -> Path:
        """The stack's page/resume-token HMAC secret (owner-only)."""
        return self.keys_dir / "token-secret"

    @property
    def mail_dir(self) -> Path:
        """Development mail: ``maildir/`` of the local SMTP server."""
        return self.root / "mail"

    @property
    def logs_dir(self) -> Path:
        """One ``<service>.log`` per service."""
        return self.root / "logs"

    @property
    def gateway_config(self) -> Path:
        """The Envoy bootstrap generated at each start."""
        return self.root / "gateway" / "envoy.json"

    @property
    def gateway_certificate(self) -> Path:
        """The gateway's self-signed certificate (``--gateway-tls``); its key is ``tls.key`` beside it."""
        return self.root / "gateway" / "tls" / "tls.crt"

    @property
    def ratelimit_runtime(self) -> Path:
        """The rate-limit service's configuration root (``config/<domain>.yaml`` in it), written at each start."""
        return self.root / "ratelimit" / "runtime"

    def service_log(self, name: str) -> Path:
        """Return the log file of service ``name``."""
        return self.logs_dir / f"{name}.log"


@dataclass(frozen=True, slots=True)
class StackContext:
    """What an environment builder knows about the running stack."""

    layout: DataLayout
    redis_url: str
    mongo_url: str
    #: gRPC port of every service in the stack (including ones not started yet).
    ports: Mapping[str, int]
    #: Other ports by name (``gateway-admin``).
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    #: The gateway serves TLS with a self-signed certificate (``make up`` stays plaintext by default).
    gateway_tls: bool = False

    def address(self, service: str) -> str:
        """Return ``host:port`` of a service's gRPC server."""
        return f"{HOST}:{self.ports[service]}"


def ensure_token_secret(path: Path) -> str:
    """Return the data directory's token secret, creating a random one (owner-only file) on first use.

    Random per data directory: the published development secret is refused outside TRADEMESH_DEV_MODE, and a
    stack must never sign with a value anyone can look up.
    """
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        temporary.replace(path)
    return path.read_text().strip()


#: auth's plain-HTTP JWKS endpoint (for Envoy) listens this far above auth's gRPC port.
JWKS_HTTP_PORT_OFFSET = 1000


def jwks_http_port(context: StackContext) -> int:
    """Return the port of auth's `/.well-known/jwks.json` in this stack."""
    return context.ports["auth"] + JWKS_HTTP_PORT_OFFSET
