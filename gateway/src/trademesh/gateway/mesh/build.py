"""Build a mesh from the catalog: for the local stack and tests, and for Kubernetes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trademesh.gateway.mesh.catalog import CATALOG, ServiceEntry
from trademesh.gateway.mesh.description import DEFAULT_LISTEN_PORT, Endpoint, Mesh, MeshService, TlsFiles
from trademesh.gateway.mesh.limits import DEFAULT_RATE_LIMIT, DEFAULT_UNARY_TIMEOUT_SECONDS, RateLimit


def build_mesh(
    upstreams: Mapping[str, Sequence[Endpoint]],
    jwks_endpoints: Iterable[Endpoint],
    *,
    catalog: Sequence[ServiceEntry] = CATALOG,
    default_rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
    rate_limits: Mapping[tuple[str, str], RateLimit] | None = None,
    unary_timeout_seconds: float = DEFAULT_UNARY_TIMEOUT_SECONDS,
    unary_timeouts: Mapping[tuple[str, str], float] | None = None,
    only: Collection[str] | None = None,
    **options: Any,
) -> Mesh:
    """Build the mesh from the catalog, with each service's replicas from ``upstreams``.

    A service without upstreams is still routed (its cluster has no endpoints, so calls end
    UNAVAILABLE) — the ones not written or not running yet. ``rate_limits`` overrides the limit of
    ``(service, method)``, ``unary_timeouts`` its route timeout (``unary_timeout_seconds`` is the
    default of the others); ``only`` restricts the mesh to some services; ``options`` are
    :class:`Mesh` fields.
    """
    unknown = sorted(set(upstreams) - {entry.name for entry in catalog})
    if unknown:
        raise ValueError(f"no such service in the mesh catalog: {unknown}")
    overrides = dict(rate_limits or {})
    timeouts = dict(unary_timeouts or {})
    services = tuple(
        MeshService(
            name=entry.name,
            descriptor=entry.descriptor,
            endpoints=tuple(upstreams.get(entry.name, ())),
            idempotent_reads=entry.idempotent_reads,
            rate_limits={
                **entry.rate_limits,
                **{method: limit for (name, method), limit in overrides.items() if name == entry.name},
            },
            default_rate_limit=default_rate_limit,
            unary_timeout_seconds=unary_timeout_seconds,
            unary_timeouts={
                **entry.unary_timeouts,
                **{method: seconds for (name, method), seconds in timeouts.items() if name == entry.name},
            },
            credential_methods=entry.credential_methods,
        )
        for entry in catalog
        if only is None or entry.name in only
    )
    return Mesh(services=services, jwks_endpoints=tuple(jwks_endpoints), **options)


#: Ports of every service pod in the Helm chart (values.yaml ``grpcPort``, ``auth.jwksHttpPort``).
KUBERNETES_GRPC_PORT = 50051
KUBERNETES_JWKS_HTTP_PORT = 8081


#: gRPC port of the chart's rate-limit service (``trademesh-ratelimit``).
KUBERNETES_RATELIMIT_PORT = 8081
#: Where the chart mounts the gateway's TLS Secret (``tls.crt``, ``tls.key``).
KUBERNETES_TLS_DIR = Path("/etc/envoy-tls")
#: Where the chart mounts the certificate's SDS resource (the gateway ConfigMap's ``edge-tls.yaml``).
KUBERNETES_TLS_SDS_FILE = Path("/etc/envoy/edge-tls.yaml")


def kubernetes_mesh(
    *,
    grpc_port: int = KUBERNETES_GRPC_PORT,
    jwks_http_port: int = KUBERNETES_JWKS_HTTP_PORT,
    ratelimit_port: int = KUBERNETES_RATELIMIT_PORT,
    tls: TlsFiles | None = None,
    xff_num_trusted_hops: int = 0,
    xff_trusted_cidrs: tuple[str, ...] = (),
) -> Mesh:
    """Build the mesh as the Helm chart deploys it: every service behind its headless Service.

    ``trademesh-<service>-headless`` resolves to one address per ready pod, so Envoy (STRICT_DNS)
    balances per request over the pods instead of pinning an HTTP/2 connection to one pod through a
    ClusterIP; it listens on all interfaces and serves no static files (the web image does). Global limits
    go to the chart's rate-limit service. The JWKS is fetched inside the cluster from auth's pods over
    plain HTTP (decision 0032: public keys, and the services verify every token again against the JWKS
    they fetch themselves).
    """
    return build_mesh(
        {entry.name: [Endpoint(f"trademesh-{entry.name}-headless", grpc_port)] for entry in CATALOG},
        [Endpoint("trademesh-auth-headless", jwks_http_port)],
        listen=Endpoint("0.0.0.0", DEFAULT_LISTEN_PORT),
        static_dir=None,
        ratelimit_endpoints=(Endpoint("trademesh-ratelimit", ratelimit_port),),
        tls=tls,
        xff_num_trusted_hops=xff_num_trusted_hops,
        xff_trusted_cidrs=xff_trusted_cidrs,
    )
