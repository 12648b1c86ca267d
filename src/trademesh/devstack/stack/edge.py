"""The edge of the local mesh: Envoy (the gateway, optionally over TLS) and Envoy's global rate-limit service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from trademesh.devstack.processes import repo_root
from trademesh.devstack.stack.layout import DEFAULT_GATEWAY_PORT, GATEWAY_PORT_FLAG, HOST, StackContext, jwks_http_port
from trademesh.devstack.stack.spec import ServiceSpec

GATEWAY_ADMIN = "gateway-admin"
#: The source address of the gateway's connections to the services: the one address auth believes when a
#: call names the client's address (x-envoy-external-address). Other local callers connect from 127.0.0.1.
GATEWAY_SOURCE_ADDRESS = "127.0.0.2"
#: Envoy's global rate-limit service (envoyproxy/ratelimit); its HTTP health port and debug port sit this
#: far above its gRPC port.
RATELIMIT = "ratelimit"
RATELIMIT_HTTP_PORT_OFFSET = 1000
RATELIMIT_DEBUG_PORT_OFFSET = 1001


#: The browser client's build (``make web``), served by the gateway at ``/``.
WEB_DIST = repo_root() / "clients" / "web" / "dist"


def _gateway_command(context: StackContext) -> list[str]:
    # Imported here: the stack table stays importable without the gateway's dependencies.
    from trademesh.gateway.mesh import CATALOG

    upstreams = [
        f"--upstream={entry.name}={context.address(entry.name)}" for entry in CATALOG if entry.name in context.ports
    ]
    ratelimit = (
        ["--ratelimit", context.address(RATELIMIT), "--ratelimit-config", str(context.layout.ratelimit_runtime)]
        if RATELIMIT in context.ports
        else []
    )
    tls: list[str] = []
    if context.gateway_tls:
        certificate = ensure_self_signed(context.layout.gateway_certificate)
        tls = ["--tls-cert", str(certificate), "--tls-key", str(certificate.with_name("tls.key"))]
    return [
        sys.executable, "-m", "trademesh.gateway", "--run",
        "--output", str(context.layout.gateway_config),
        *tls,
        "--listen", context.address("gateway"),
        "--admin", f"{HOST}:{context.extra_ports[GATEWAY_ADMIN]}",
        "--jwks", f"{HOST}:{jwks_http_port(context)}",
        "--upstream-source-address", GATEWAY_SOURCE_ADDRESS,
        "--static-dir", str(WEB_DIST),
        *ratelimit,
        *upstreams,
    ]  # fmt: skip


def ensure_self_signed(certificate: Path) -> Path:
    """Make a self-signed certificate for 127.0.0.1 and localhost (key ``tls.key`` beside it) unless present."""
    key = certificate.with_name("tls.key")
    if certificate.is_file() and key.is_file():
        return certificate
    certificate.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(certificate), "-days", "365", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return certificate


def _ratelimit_command(context: StackContext) -> list[str]:
    # Imported here: the stack table stays importable without the gateway's dependencies. The limits are
    # the gateway's defaults, written before each start (the gateway writes the same file when it starts).
    from trademesh.devstack.processes import RateLimitServer
    from trademesh.gateway.envoy_config import write_ratelimit_config
    from trademesh.gateway.mesh import Endpoint, build_mesh

    write_ratelimit_config(build_mesh({}, [Endpoint(HOST, jwks_http_port(context))]), context.layout.ratelimit_runtime)
    return [RateLimitServer.binary()]


def _ratelimit_env(context: StackContext) -> dict[str, str]:
    from trademesh.devstack.processes import ratelimit_environment

    port = context.ports[RATELIMIT]
    return ratelimit_environment(
        grpc_port=port,
        http_port=port + RATELIMIT_HTTP_PORT_OFFSET,
        debug_port=port + RATELIMIT_DEBUG_PORT_OFFSET,
        redis_url=context.redis_url,
        config_root=context.layout.ratelimit_runtime,
    )


def _ratelimit_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.ports[RATELIMIT] + RATELIMIT_HTTP_PORT_OFFSET}/healthcheck"


def _gateway_ready(context: StackContext) -> str:
    return f"http://{HOST}:{context.extra_ports[GATEWAY_ADMIN]}/ready"


#: The gateway: Envoy in front of every service (see the module docstring).
GATEWAY = ServiceSpec(
    name="gateway",
    module="trademesh.gateway",
    default_port=DEFAULT_GATEWAY_PORT,
    depends_on=("auth",),
    command=_gateway_command,
    ready_url=_gateway_ready,
    port_flag=GATEWAY_PORT_FLAG,
)
