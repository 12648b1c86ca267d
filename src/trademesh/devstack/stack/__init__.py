"""What the local mesh started by ``make up`` consists of: data layout, ports, and the service table.

This module is declarative; :mod:`trademesh.devstack.up` does the starting, health checking,
supervising and stopping.

Data layout (everything under one data directory, ``<repo>/.data`` by default, gitignored)::

    .data/redis/               Redis working dir and redis.log (no persistence)
    .data/ferretdb/            FerretDB's SQLite databases (kept across runs) and ferretdb.log
    .data/keys/signing-1.pem   auth's Ed25519 signing key, generated on first run
    .data/keys/token-secret    the page/resume-token HMAC secret (TRADEMESH_TOKEN_SECRET), random, made on first run
    .data/logs/<service>.log   each service's stdout and stderr, appended across runs
    .data/mail/maildir/        email auth and notifications sent (codes, alerts), received by the local SMTP server

Adding a service
----------------
Append one :class:`ServiceSpec` to :data:`SERVICES` (in :mod:`.services`), after the services it depends on::

    ServiceSpec(
        name="trade",
        module="trademesh.services.trade",  # run as `python -m trademesh.services.trade`
        default_port=50052,                 # with --base-port B it gets B + (50052 - 50051)
        extra_env=_trade_env,               # optional: (StackContext) -> {"TRADEMESH_X": "..."}
        depends_on=("auth",),               # started (and SERVING) before this one
    )

Every service already receives the shared ``TRADEMESH_*`` variables built by
:func:`service_environment` (gRPC host and port, MongoDB and Redis URLs, database, auth target,
JSON logs, shutdown grace); ``extra_env`` adds only what its own settings class needs beyond
:class:`~trademesh.services.core.settings.CoreSettings`. The service must answer the standard gRPC
health check (``start_server`` does this). An entry whose module cannot be found yet is skipped
with a note, as are the entries that depend on it.

The gateway
-----------
Envoy is the last entry (keep it last): ``command`` runs ``python -m trademesh.gateway --run``, which
writes ``<data>/gateway/envoy.json`` from the mesh description (every service of this table that the
gateway knows, by name, with its port here) and then becomes Envoy; ``ready_url`` is Envoy's admin
``/ready``; its port is ``--gateway-port`` (8080), not shifted with ``--base-port``.

The parts: :mod:`.layout` (data directory, default ports), :mod:`.spec` (:class:`ServiceSpec` and the
rules over the table), :mod:`.edge` (Envoy and the rate-limit service) and :mod:`.services` (the table,
:data:`SERVICES`).
"""

from trademesh.devstack.stack.edge import (
    GATEWAY,
    GATEWAY_ADMIN,
    GATEWAY_SOURCE_ADDRESS,
    RATELIMIT,
    RATELIMIT_DEBUG_PORT_OFFSET,
    RATELIMIT_HTTP_PORT_OFFSET,
    WEB_DIST,
    ensure_self_signed,
)
from trademesh.devstack.stack.layout import (
    BASE_PORT_FLAG,
    DEFAULT_BASE_PORT,
    DEFAULT_GATEWAY_ADMIN_PORT,
    DEFAULT_GATEWAY_PORT,
    DEFAULT_MONGO_PORT,
    DEFAULT_REDIS_PORT,
    GATEWAY_PORT_FLAG,
    HOST,
    JWKS_HTTP_PORT_OFFSET,
    MONGO_DATABASE,
    DataLayout,
    StackContext,
    default_data_dir,
    ensure_token_secret,
    jwks_http_port,
)
from trademesh.devstack.stack.services import FAKE_KITE, MAIL, SERVICES, SMTP_PORT_OFFSET, free_base_port, port_offsets
from trademesh.devstack.stack.spec import (
    ServiceSpec,
    missing_module,
    select_services,
    service_command,
    service_environment,
    service_port,
    validate_services,
)

__all__ = [
    "BASE_PORT_FLAG",
    "DEFAULT_BASE_PORT",
    "DEFAULT_GATEWAY_ADMIN_PORT",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_MONGO_PORT",
    "DEFAULT_REDIS_PORT",
    "FAKE_KITE",
    "GATEWAY",
    "GATEWAY_ADMIN",
    "GATEWAY_PORT_FLAG",
    "GATEWAY_SOURCE_ADDRESS",
    "HOST",
    "JWKS_HTTP_PORT_OFFSET",
    "MAIL",
    "MONGO_DATABASE",
    "RATELIMIT",
    "RATELIMIT_DEBUG_PORT_OFFSET",
    "RATELIMIT_HTTP_PORT_OFFSET",
    "SERVICES",
    "SMTP_PORT_OFFSET",
    "WEB_DIST",
    "DataLayout",
    "ServiceSpec",
    "StackContext",
    "default_data_dir",
    "ensure_self_signed",
    "ensure_token_secret",
    "free_base_port",
    "jwks_http_port",
    "missing_module",
    "port_offsets",
    "select_services",
    "service_command",
    "service_environment",
    "service_port",
    "validate_services",
]
