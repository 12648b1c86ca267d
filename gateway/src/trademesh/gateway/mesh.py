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

What is *declared* here, per service, in :data:`CATALOG`: which unary methods are idempotent reads (safe
to retry on another replica), which unary methods legitimately run longer than the default unary timeout
(their route timeouts), and rate limits that differ from the default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.common.v1 import options_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2
from trademesh.notifications.v1 import notifications_service_pb2
from trademesh.sync.v1 import sync_service_pb2
from trademesh.trade.v1 import trade_service_pb2

__all__ = [
    "CATALOG",
    "DEFAULT_ADMIN_PORT",
    "DEFAULT_GLOBAL_LIMITS",
    "DEFAULT_LISTEN_PORT",
    "DEFAULT_UNARY_TIMEOUT_SECONDS",
    "IMPORT_TIMEOUT_SECONDS",
    "Endpoint",
    "GlobalLimit",
    "LimitClass",
    "Mesh",
    "MeshService",
    "RateLimit",
    "ServiceEntry",
    "TlsFiles",
    "build_mesh",
    "public_methods_of",
    "service_descriptor",
]

DEFAULT_LISTEN_PORT = 8080
DEFAULT_ADMIN_PORT = 9901
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``host:port``; the host may be an IP address or a DNS name."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``host:port`` (``[v6]:port`` for IPv6)."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not a host:port address: {text!r}")
        return cls(host.strip("[]"), int(port))

    @property
    def is_ip(self) -> bool:
        """True if the host is an IP literal (a STATIC cluster needs no DNS)."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket per route, shared by every caller of that route on one Envoy instance.

    ``burst`` tokens at most, refilled with ``per_fill`` tokens every ``fill_seconds``.
    """

    burst: int
    per_fill: int
    fill_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_fill < 1 or self.fill_seconds <= 0:
            raise ValueError(f"invalid rate limit {self}")


class LimitClass(StrEnum):
    """Which global (per-client or per-user) limit a route counts against."""

    #: Public entry points that cost a password hash, send mail or mint tokens: per client address.
    CREDENTIAL = "credential"
    #: Other public calls (GetJwks, health checks): per client address.
    PUBLIC = "public"
    #: Calls that need an access token: per user (the token's ``sub``).
    USER = "user"


@dataclass(frozen=True, slots=True)
class GlobalLimit:
    """A limit of the global rate-limit service: ``requests`` per ``unit`` for each client or user."""

    requests: int
    unit: str = "minute"

    def __post_init__(self) -> None:
        if self.requests < 1 or self.unit not in ("second", "minute", "hour", "day"):
            raise ValueError(f"invalid global limit {self}")


#: Per client address (credential, public routes) or per user (the rest), shared by every gateway replica
#: through the rate-limit service. A flood from one client or account cannot spend another's budget. The
#: credential figure sits above the auth service's own per-address throttle of failed logins (20 in 15 min),
#: which stays the finer check; a household or office behind one NAT address still gets 2 calls a second.
DEFAULT_GLOBAL_LIMITS: Mapping[LimitClass, GlobalLimit] = {
    LimitClass.CREDENTIAL: GlobalLimit(120, "minute"),
    LimitClass.PUBLIC: GlobalLimit(1200, "minute"),
    LimitClass.USER: GlobalLimit(6000, "minute"),
}


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The listener's certificate chain and private key (PEM files Envoy reads, e.g. a mounted Secret)."""

    certificate: Path
    private_key: Path
    #: Where the certificate's SDS resource is written (the bootstrap points to it): Envoy then watches the
    #: certificate's directory and serves a renewed pair at once (a Secret's atomic update). None: the files
    #: are read once, at start.
    sds_file: Path | None = None


#: Route timeout of a unary method without one of its own (:attr:`ServiceEntry.unary_timeouts`).
DEFAULT_UNARY_TIMEOUT_SECONDS = 15.0
#: ImportTrades' route timeout. The contract (trade_service.proto) sizes imports for 50,000+ rows, allows
#: up to 100,000 rows / 15 MiB and asks clients for a 120 s deadline. On the 2-core reference machine
#: (bench/import_bench.py, decision 0030) a 50,000-row Zerodha tradebook took 35-41 s and a 100,000-row
#: one 65-74 s, directly or through the gateway alike. 300 s is 4x the largest file and 2.5x the clients'
#: deadline, so the client's grpc-timeout is what ends a slow import, never the gateway.
IMPORT_TIMEOUT_SECONDS = 300.0
#: ReconcileTrades' route timeout: the sync service's deadline per batch of 1,000 trades
#: (TRADEMESH_RECONCILE_TIMEOUT_SECONDS, 60 s) with room to spare.
RECONCILE_TIMEOUT_SECONDS = 120.0
#: RecomputeAnalytics' route timeout: the SDK's deadline for it (a rebuild of every user runs synchronously).
RECOMPUTE_TIMEOUT_SECONDS = 600.0

#: Applied to every route that has no rate limit of its own.
DEFAULT_RATE_LIMIT = RateLimit(burst=400, per_fill=200)
#: Unauthenticated entry points that cost a password hash or send mail: a flood shield at the edge
#: (per-account and per-address throttling stays in the auth service).
CREDENTIAL_RATE_LIMIT = RateLimit(burst=40, per_fill=20)


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """What the gateway needs to know about one service beyond its proto: see the module docstring."""

    #: Short name: cluster ``svc-<name>``, dev-stack service name, ``--upstream <name>=...``.
    name: str
    descriptor: ServiceDescriptor
    #: Unary methods that only read: retried on another replica after an upstream failure.
    idempotent_reads: frozenset[str] = frozenset()
    #: Rate limits by method name, overriding :data:`DEFAULT_RATE_LIMIT`.
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    #: Unary methods that legitimately take longer than the default unary timeout: route timeout in seconds.
    unary_timeouts: Mapping[str, float] = field(default_factory=dict)
    #: Public methods counted against the (tighter) credential limit per client address.
    credential_methods: frozenset[str] = frozenset()


def service_descriptor(module: object, name: str) -> ServiceDescriptor:
    """Return the descriptor of service ``name`` in a generated ``*_service_pb2`` module, or raise LookupError."""
    services: Mapping[str, ServiceDescriptor] = module.DESCRIPTOR.services_by_name  # type: ignore[attr-defined]
    if name not in services:
        raise LookupError(f"{getattr(module, '__name__', module)} defines no service {name!r}")
    return services[name]


#: Every service of the mesh, in route order.
CATALOG: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        name="auth",
        descriptor=service_descriptor(auth_service_pb2, "AuthService"),
        idempotent_reads=frozenset({"GetMe", "GetJwks"}),
        rate_limits={
            method: CREDENTIAL_RATE_LIMIT
            for method in ("Register", "Login", "RequestPasswordReset", "ResetPassword", "RequestEmailVerification")
        },
        credential_methods=frozenset(
            {"Register", "Login", "Refresh", "VerifyEmail", "RequestPasswordReset", "ResetPassword"}
        ),
    ),
    ServiceEntry(
        name="trade",
        descriptor=service_descriptor(trade_service_pb2, "TradeService"),
        idempotent_reads=frozenset(
            {
                "GetTrade",
                "ListTrades",
                "ListPositions",
                "GetDayNote",
                "ListDayNotes",
                "SearchDayNotes",
                "ListMistakeTags",
            }
        ),
        unary_timeouts={"ImportTrades": IMPORT_TIMEOUT_SECONDS, "ReconcileTrades": RECONCILE_TIMEOUT_SECONDS},
    ),
    ServiceEntry(
        name="sync",
        descriptor=service_descriptor(sync_service_pb2, "SyncService"),
        idempotent_reads=frozenset({"ListBrokerAccounts", "ListSyncLogs"}),
    ),
    ServiceEntry(
        name="marketdata",
        descriptor=service_descriptor(marketdata_service_pb2, "MarketDataService"),
        idempotent_reads=frozenset({"GetQuote", "GetQuotes", "GetBars", "ListWatchlists", "GetWatchlist"}),
    ),
    ServiceEntry(
        name="analytics",
        descriptor=service_descriptor(analytics_service_pb2, "AnalyticsService"),
        idempotent_reads=frozenset({"GetAnalytics", "GetAnalyticsSettings", "GetPnlCalendar", "GetDayTrips"}),
        unary_timeouts={"RecomputeAnalytics": RECOMPUTE_TIMEOUT_SECONDS},
    ),
    ServiceEntry(
        name="notifications",
        descriptor=service_descriptor(notifications_service_pb2, "NotificationsService"),
        idempotent_reads=frozenset(
            {"GetAlert", "ListAlerts", "ListNotifications", "GetPreferences", "ListWebhooks", "ListWebhookDeliveries"}
        ),
    ),
)


def public_methods_of(descriptor: ServiceDescriptor) -> frozenset[str]:
    """Return the methods the contract marks ``(trademesh.common.v1.access) = ACCESS_PUBLIC``."""
    return frozenset(
        method.name
        for method in descriptor.methods
        if method.GetOptions().Extensions[options_pb2.access] == options_pb2.ACCESS_PUBLIC
    )


@dataclass(frozen=True, slots=True)
class MeshService:
    """One service behind the gateway, with its upstream replicas."""

    name: str
    descriptor: ServiceDescriptor
    endpoints: tuple[Endpoint, ...]
    idempotent_reads: frozenset[str]
    rate_limits: Mapping[str, RateLimit]
    default_rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT
    #: Route timeout of unary methods without one in ``unary_timeouts``.
    unary_timeout_seconds: float = DEFAULT_UNARY_TIMEOUT_SECONDS
    #: Route timeouts of the long unary methods, by method name.
    unary_timeouts: Mapping[str, float] = field(default_factory=dict)
    #: Public methods under the credential limit (:class:`LimitClass`).
    credential_methods: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        methods = {method.name: method for method in self.descriptor.methods}
        for kind, names in (
            ("credential", self.credential_methods),
            ("idempotent", self.idempotent_reads),
            ("rate-limited", self.rate_limits),
            ("long unary", self.unary_timeouts),
        ):
            unknown = sorted(set(names) - set(methods))
            if unknown:
                raise ValueError(f"{self.full_name}: {kind} methods {unknown} are not in the service")
        streaming = sorted(name for name in self.idempotent_reads if methods[name].server_streaming)
        if streaming:
            raise ValueError(f"{self.full_name}: streaming methods {streaming} cannot be retried")
        streaming = sorted(name for name in self.unary_timeouts if methods[name].server_streaming)
        if streaming:
            raise ValueError(f"{self.full_name}: streaming methods {streaming} have no route timeout")
        timeouts = [self.unary_timeout_seconds, *self.unary_timeouts.values()]
        if any(seconds <= 0 for seconds in timeouts):
            raise ValueError(f"{self.full_name}: route timeouts must be positive, not {timeouts}")

    @property
    def full_name(self) -> str:
        """``trademesh.auth.v1.AuthService``."""
        return self.descriptor.full_name

    @property
    def cluster(self) -> str:
        """The Envoy cluster of this service's replicas."""
        return f"svc-{self.name}"

    @property
    def public_methods(self) -> frozenset[str]:
        """Methods that need no access token, from the contract's access option."""
        return public_methods_of(self.descriptor)

    @property
    def methods(self) -> tuple[str, ...]:
        """Method names in proto order."""
        return tuple(method.name for method in self.descriptor.methods)

    @property
    def streaming_methods(self) -> frozenset[str]:
        """Server-streaming methods (no route timeout, idle timeout instead), from the descriptor."""
        return frozenset(method.name for method in self.descriptor.methods if method.server_streaming)

    def path(self, method: str) -> str:
        """The HTTP/2 path of a method: ``/<package>.<Service>/<Method>``."""
        return f"/{self.full_name}/{method}"

    def rate_limit(self, method: str) -> RateLimit | None:
        """The bucket of a method's route."""
        return self.rate_limits.get(method, self.default_rate_limit)

    def limit_class(self, method: str) -> LimitClass:
        """Which global limit a method counts against (a credential method that needs a token is per user)."""
        if method not in self.public_methods:
            return LimitClass.USER
        return LimitClass.CREDENTIAL if method in self.credential_methods else LimitClass.PUBLIC

    def unary_timeout(self, method: str) -> float:
        """The route timeout of a unary method in seconds (a client's shorter ``grpc-timeout`` wins)."""
        return self.unary_timeouts.get(method, self.unary_timeout_seconds)


@dataclass(frozen=True, slots=True)
class Mesh:
    """Everything the gateway config is generated from."""

    services: tuple[MeshService, ...]
    #: auth's plain-HTTP JWKS endpoints (``GET /.well-known/jwks.json``), for ``jwt_authn``.
    jwks_endpoints: tuple[Endpoint, ...]
    listen: Endpoint = Endpoint("127.0.0.1", DEFAULT_LISTEN_PORT)
    #: Envoy's admin interface: keep it on a loopback address.
    admin: Endpoint = Endpoint("127.0.0.1", DEFAULT_ADMIN_PORT)
    #: Browser origins allowed to call cross-origin (the gateway's own origin needs no CORS).
    cors_origins: tuple[str, ...] = ()
    #: The built browser client, served at ``/`` by Envoy's file_server filter; None: no static route.
    static_dir: Path | None = None
    jwt_issuer: str = "trademesh-auth"
    jwt_audience: str = "trademesh"
    #: How long Envoy keeps fetched public keys before fetching them again.
    jwks_cache_seconds: float = 300.0
    #: Active gRPC health checks of every replica.
    health_check_interval_seconds: float = 5.0
    #: Outlier detection sweep interval and first ejection time.
    outlier_interval_seconds: float = 5.0
    outlier_base_ejection_seconds: float = 15.0
    #: A server stream with no message either way for this long is closed.
    stream_idle_timeout_seconds: float = 600.0
    #: HTTP/2 keep-alive pings on client connections.
    keepalive_interval_seconds: float = 30.0
    #: HTTP/2 keep-alive pings on upstream connections. A gRPC server tolerates a ping every 5 minutes
    #: while it sends nothing (``grpc.http2.min_ping_interval_without_data_ms``, 2 strikes): 30 s pings
    #: made it close the connection (GOAWAY "too_many_pings", UNAVAILABLE) under any unary call that ran
    #: past about 2 minutes, e.g. a large ImportTrades. Dead replicas are found by the health checks.
    upstream_keepalive_interval_seconds: float = 300.0
    #: The global rate-limit service (envoyproxy/ratelimit); none: only the local token buckets.
    ratelimit_endpoints: tuple[Endpoint, ...] = ()
    #: The rate-limit service's domain (its config file names it too).
    ratelimit_domain: str = "trademesh"
    #: Requests per client address or per user, by route class.
    global_limits: Mapping[LimitClass, GlobalLimit] = field(default_factory=lambda: dict(DEFAULT_GLOBAL_LIMITS))
    #: How long Envoy waits for the rate-limit service before letting the call through.
    ratelimit_timeout_seconds: float = 0.25
    #: Refuse calls (UNAVAILABLE) while the rate-limit service cannot be reached, instead of letting them through.
    ratelimit_failure_mode_deny: bool = False
    #: Proxies in front of Envoy (an Ingress controller, a cloud load balancer) that append to
    #: x-forwarded-for: the client is the address that many hops from the right. 0: the peer is the client.
    xff_num_trusted_hops: int = 0
    #: Instead of a hop count: the proxies (CIDRs, e.g. the Ingress controller's pods) whose x-forwarded-for
    #: is believed; a client connecting from elsewhere (a LoadBalancer beside the Ingress) is its own address.
    xff_trusted_cidrs: tuple[str, ...] = ()
    #: Source address of Envoy's connections to the services (the address auth trusts to name the client);
    #: None: the system's choice.
    upstream_source_address: str | None = None
    #: TLS on the listener; None: plaintext (HTTP/1.1 and h2c).
    tls: TlsFiles | None = None
    #: auth's JWKS endpoint speaks HTTPS, verified against this CA bundle; None: plain HTTP (inside the cluster).
    jwks_ca_file: Path | None = None
    #: Leeway of jwt_authn on ``exp``/``nbf`` (Envoy's default is 60 s; the services allow 1 s).
    jwt_clock_skew_seconds: int = 1

    def __post_init__(self) -> None:
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"a service is listed twice: {names}")
        if not self.jwks_endpoints:
            raise ValueError("jwt_authn needs at least one JWKS endpoint of the auth service")
        if not self.admin.is_ip or not ipaddress.ip_address(self.admin.host).is_loopback:
            raise ValueError(f"the admin interface must listen on a loopback address, not {self.admin}")
        if self.xff_num_trusted_hops < 0:
            raise ValueError("xff_num_trusted_hops cannot be negative")
        if self.xff_trusted_cidrs and self.xff_num_trusted_hops:
            raise ValueError("trust x-forwarded-for by hop count or by the proxies' CIDRs, not both")
        for cidr in self.xff_trusted_cidrs:
            ipaddress.ip_network(cidr, strict=False)
        if not 0 <= self.jwt_clock_skew_seconds <= 1:
            raise ValueError("the gateway's JWT leeway is at most 1 s, as the services'")
        if self.upstream_source_address is not None:
            ipaddress.ip_address(self.upstream_source_address)
        if set(self.global_limits) != set(LimitClass):
            raise ValueError(f"global limits are needed for every class {sorted(LimitClass)}")
        for origin in self.cors_origins:
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError(f"a CORS origin is scheme://host[:port] without a path: {origin!r}")

    @property
    def listen_url(self) -> str:
        """The URL a browser opens."""
        host = "127.0.0.1" if self.listen.host in ("0.0.0.0", "") else self.listen.host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{Endpoint(host, self.listen.port)}/"


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
