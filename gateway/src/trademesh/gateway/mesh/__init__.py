"""The one description of the mesh the gateway is generated from.

A :class:`Mesh` says where Envoy listens, which services sit behind it (their gRPC service descriptor,
upstream replicas, public methods, idempotent reads, timeouts and rate limits), where the auth service's
JWKS is, which browser origins may call, and where the browser client's files are.
:mod:`trademesh.gateway.envoy_config` turns it into an Envoy bootstrap; nothing else describes routes.

What is *derived*, never repeated here:

* the methods of each service, and which of them are server-streaming, come from the generated
  ``*_pb2`` descriptors (``MethodDescriptor.server_streaming``);
* which methods are public comes from the contract's ``(trademesh.common.v1.access)`` method option
  (``ACCESS_PUBLIC``), the same option every service's auth interceptor is built from.

What is *declared* here, per service, in :data:`CATALOG` (:mod:`.catalog`): which unary methods are
idempotent reads (safe to retry on another replica), which unary methods legitimately run longer than the
default unary timeout (their route timeouts), and rate limits that differ from the default.

The parts: :mod:`.description` (:class:`Mesh`, :class:`MeshService`, endpoints), :mod:`.limits` (rate
limits and timeouts), :mod:`.catalog` (:data:`CATALOG`) and :mod:`.build` (:func:`build_mesh`,
:func:`kubernetes_mesh`).
"""

from trademesh.gateway.mesh.build import (
    KUBERNETES_GRPC_PORT,
    KUBERNETES_JWKS_HTTP_PORT,
    KUBERNETES_RATELIMIT_PORT,
    KUBERNETES_TLS_DIR,
    KUBERNETES_TLS_SDS_FILE,
    build_mesh,
    kubernetes_mesh,
)
from trademesh.gateway.mesh.catalog import CATALOG, ServiceEntry, service_descriptor
from trademesh.gateway.mesh.description import (
    DEFAULT_ADMIN_PORT,
    DEFAULT_LISTEN_PORT,
    JWKS_PATH,
    Endpoint,
    Mesh,
    MeshService,
    TlsFiles,
    public_methods_of,
)
from trademesh.gateway.mesh.limits import (
    CREDENTIAL_RATE_LIMIT,
    DEFAULT_GLOBAL_LIMITS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_UNARY_TIMEOUT_SECONDS,
    IMPORT_TIMEOUT_SECONDS,
    RECOMPUTE_TIMEOUT_SECONDS,
    RECONCILE_TIMEOUT_SECONDS,
    GlobalLimit,
    LimitClass,
    RateLimit,
)

__all__ = [
    "CATALOG",
    "CREDENTIAL_RATE_LIMIT",
    "DEFAULT_ADMIN_PORT",
    "DEFAULT_GLOBAL_LIMITS",
    "DEFAULT_LISTEN_PORT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_UNARY_TIMEOUT_SECONDS",
    "IMPORT_TIMEOUT_SECONDS",
    "JWKS_PATH",
    "KUBERNETES_GRPC_PORT",
    "KUBERNETES_JWKS_HTTP_PORT",
    "KUBERNETES_RATELIMIT_PORT",
    "KUBERNETES_TLS_DIR",
    "KUBERNETES_TLS_SDS_FILE",
    "RECOMPUTE_TIMEOUT_SECONDS",
    "RECONCILE_TIMEOUT_SECONDS",
    "Endpoint",
    "GlobalLimit",
    "LimitClass",
    "Mesh",
    "MeshService",
    "RateLimit",
    "ServiceEntry",
    "TlsFiles",
    "build_mesh",
    "kubernetes_mesh",
    "public_methods_of",
    "service_descriptor",
]
