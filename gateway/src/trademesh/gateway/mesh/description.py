"""The mesh description itself: endpoints, TLS files, one service behind the gateway, the whole mesh."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.descriptor import ServiceDescriptor

from trademesh.common.v1 import options_pb2
from trademesh.gateway.mesh.limits import (
    DEFAULT_GLOBAL_LIMITS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_UNARY_TIMEOUT_SECONDS,
    GlobalLimit,
    LimitClass,
    RateLimit,
)

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
class TlsFiles:
    """The listener's certificate chain and private key (PEM files Envoy reads, e.g. a mounted Secret)."""

    certificate: Path
    private_key: Path
    #: Where the certificate's SDS resource is written (the bootstrap points to it): Envoy then watches the
    #: certificate's directory and serves a renewed pair at once (a Secret's atomic update). None: the files
    #: are read once, at start.
    sds_file: Path | None = None


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
