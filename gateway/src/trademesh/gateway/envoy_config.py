"""Turn a :class:`~trademesh.gateway.mesh.Mesh` into an Envoy bootstrap, with the typed envoy-data-plane models.

One listener (HTTP/1.1 and h2c on the same port, ``codec_type: AUTO``) with the HTTP filters, in order:

``grpc_web`` → ``cors`` → ``jwt_authn`` → ``local_ratelimit`` → [``file_server``] → ``router``

* one route per RPC (exact path), so timeouts, retries and rate limits are per method; then one prefix
  route per service (a method added to the proto before the gateway is regenerated still reaches its
  service, with the service's defaults and no retries);
* unary routes: a timeout (15 s, longer for the few methods the catalog names, e.g. ImportTrades), and
  ``grpc-timeout`` from the client honoured up to it; idempotent reads retried on another replica only
  when the request cannot have reached a service (connect failure, refused stream) — never after a
  reset (the call may have run) nor on a gRPC status such as UNAVAILABLE, and with no per-try timeout;
  server streams: no timeout, an idle timeout instead;
* one STATIC (IP addresses) or STRICT_DNS (names) cluster per service, HTTP/2 upstream with keep-alive
  pings, active gRPC health checks of the service's own health status, and outlier detection;
* a public ``grpc.health.v1.Health/Check`` per service, picked by the ``x-trademesh-service: <name>``
  header (monitors, ``helm test``): the whole path through the gateway to a replica, without a token;
* ``jwt_authn`` verifies access tokens against auth's JWKS (fetched over HTTP and cached) and forwards
  them, so the services still verify; the public methods of each service need no token;
* the browser client's built files at ``/`` through Envoy's ``file_server`` filter, if the mesh has a
  static directory.
"""

from __future__ import annotations

import ipaddress
import json
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import betterproto2
from pydantic.warnings import PydanticDeprecatedSince212

from trademesh.gateway.mesh import JWKS_PATH, Endpoint, LimitClass, Mesh, MeshService, RateLimit, TlsFiles

# envoy-data-plane 2.2.0's generated models use a pydantic idiom deprecated since pydantic 2.12; the
# warnings (one per model, at import) are the library's, not ours.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PydanticDeprecatedSince212)
    from envoy_data_plane.envoy.config.accesslog.v3 import (
        AccessLog,
        AccessLogFilter,
        ComparisonFilter,
        ComparisonFilterOp,
        StatusCodeFilter,
    )
    from envoy_data_plane.envoy.config.bootstrap.v3 import Admin, Bootstrap, BootstrapStaticResources
    from envoy_data_plane.envoy.config.cluster.v3 import (
        CircuitBreakers,
        CircuitBreakersThresholds,
        CircuitBreakersThresholdsRetryBudget,
        Cluster,
        ClusterDiscoveryType,
        ClusterLbPolicy,
        OutlierDetection,
    )
    from envoy_data_plane.envoy.config.core.v3 import (
        Address,
        ApiVersion,
        BindConfig,
        CidrRange,
        ConfigSource,
        DataSource,
        GrpcService,
        GrpcServiceEnvoyGrpc,
        HeaderValue,
        HeaderValueOption,
        HeaderValueOptionHeaderAppendAction,
        HealthCheck,
        HealthCheckGrpcHealthCheck,
        Http2ProtocolOptions,
        HttpUri,
        KeepaliveSettings,
        Node,
        PathConfigSource,
        RuntimeFractionalPercent,
        RuntimeUInt32,
        SocketAddress,
        SubstitutionFormatString,
        TransportSocket,
        TypedExtensionConfig,
        WatchedDirectory,
    )
    from envoy_data_plane.envoy.config.core.v3 import RetryPolicy as CoreRetryPolicy
    from envoy_data_plane.envoy.config.endpoint.v3 import ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints
    from envoy_data_plane.envoy.config.endpoint.v3 import Endpoint as EnvoyEndpoint
    from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
    from envoy_data_plane.envoy.config.ratelimit.v3 import RateLimitServiceConfig
    from envoy_data_plane.envoy.config.route.v3 import (
        DirectResponseAction,
        FilterConfig,
        HeaderMatcher,
        RateLimitAction,
        RateLimitActionGenericKey,
        RateLimitActionMetaData,
        RateLimitActionMetaDataSource,
        RateLimitActionRemoteAddress,
        RetryPolicy,
        RetryPolicyRetryHostPredicate,
        Route,
        RouteAction,
        RouteActionMaxStreamDuration,
        RouteConfiguration,
        RouteMatch,
        VirtualHost,
    )
    from envoy_data_plane.envoy.config.route.v3 import RateLimit as RouteRateLimit
    from envoy_data_plane.envoy.extensions.access_loggers.stream.v3 import StdoutAccessLog
    from envoy_data_plane.envoy.extensions.common.async_files.v3 import (
        AsyncFileManagerConfig,
        AsyncFileManagerConfigThreadPool,
    )
    from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import Cors, CorsPolicy
    from envoy_data_plane.envoy.extensions.filters.http.file_server.v3 import (
        FileServerConfig,
        FileServerConfigDirectoryBehavior,
        FileServerConfigPathMapping,
    )
    from envoy_data_plane.envoy.extensions.filters.http.grpc_web.v3 import GrpcWeb
    from envoy_data_plane.envoy.extensions.filters.http.jwt_authn.v3 import (
        JwksAsyncFetch,
        JwtAuthentication,
        JwtProvider,
        JwtRequirement,
        RemoteJwks,
        RequirementRule,
    )
    from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
    from envoy_data_plane.envoy.extensions.filters.http.ratelimit.v3 import RateLimit as GlobalRateLimit
    from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
    from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
        HttpConnectionManager,
        HttpConnectionManagerCodecType,
        HttpFilter,
        LocalReplyConfig,
        ResponseMapper,
    )
    from envoy_data_plane.envoy.extensions.http.original_ip_detection.xff.v3 import XffConfig, XffTrustedCidrs
    from envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3 import PreviousHostsPredicate
    from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
        CertificateValidationContext,
        CommonTlsContext,
        DownstreamTlsContext,
        SdsSecretConfig,
        Secret,
        SubjectAltNameMatcher,
        SubjectAltNameMatcherSanType,
        TlsCertificate,
        UpstreamTlsContext,
    )
    from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
        HttpProtocolOptions,
        HttpProtocolOptionsExplicitHttpConfig,
    )
    from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryResponse
    from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
    from envoy_data_plane.envoy.type.metadata.v3 import MetadataKey, MetadataKeyPathSegment
    from envoy_data_plane.envoy.type.v3 import FractionalPercent, FractionalPercentDenominatorType, Percent, TokenBucket
    from envoy_data_plane.google.protobuf import Any as AnyMessage
    from envoy_data_plane.google.protobuf import Struct

__all__ = [
    "ACCESS_LOG_FIELDS",
    "CORS_ALLOW_HEADERS",
    "CORS_EXPOSE_HEADERS",
    "JWT_PROVIDER",
    "RETRY_ON",
    "bootstrap_dict",
    "build_bootstrap",
    "edge_tls_secret",
    "ratelimit_config",
    "write_bootstrap",
    "write_ratelimit_config",
]

# Filter names: typed_per_filter_config is keyed by them.
GRPC_WEB = "envoy.filters.http.grpc_web"
CORS = "envoy.filters.http.cors"
JWT_AUTHN = "envoy.filters.http.jwt_authn"
LOCAL_RATELIMIT = "envoy.filters.http.local_ratelimit"
GLOBAL_RATELIMIT = "envoy.filters.http.ratelimit"
RATELIMIT_CLUSTER = "ratelimit"
#: Where jwt_authn puts the verified token's claims (dynamic metadata of the jwt_authn filter), from which
#: the per-user rate-limit descriptor takes ``sub``.
JWT_PAYLOAD_KEY = "jwt_payload"
#: The client address Envoy established, overwritten on every request (a client's own value never passes).
CLIENT_ADDRESS_HEADER = "x-envoy-external-address"
#: Descriptor keys of the global limits: ("class", <LimitClass>) then ("remote_address", ip) or ("user", sub).
CLASS_DESCRIPTOR = "class"
CLIENT_DESCRIPTOR = "remote_address"
USER_DESCRIPTOR = "user"
FILE_SERVER = "envoy.filters.http.file_server"
ROUTER = "envoy.filters.http.router"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

JWT_PROVIDER = "trademesh-auth"
JWKS_CLUSTER = "auth-jwks"
#: Upstream failures after which an idempotent read is tried again (on another replica): the connection
#: could not be made, or the replica refused the stream (HTTP/2 REFUSED_STREAM) — in both cases the call
#: never reached the service, so the edge never replays a call a service may have run. Not ``reset``: a
#: replica that dies or drops its connection mid-call may have done the work (or be half way through a
#: query), and the caller gets UNAVAILABLE to retry with backoff if the method is idempotent (the Python
#: SDK's service config does). Not ``unavailable`` or ``cancelled`` either: those are answers of a service
#: that ran the call (a database outage, a draining replica), and re-sending them at once only stretches an
#: UNAVAILABLE into a DEADLINE_EXCEEDED.
RETRY_ON = "connect-failure,refused-stream"
RETRIES = 2
#: What a browser's grpc-web (or Connect) client sends, and what it must be able to read.
CORS_ALLOW_HEADERS = (
    "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout,x-request-id,"
    "connect-protocol-version,connect-timeout-ms"
)
CORS_EXPOSE_HEADERS = "grpc-status,grpc-message,grpc-status-details-bin,x-request-id"
#: One JSON line per request on Envoy's stdout.
ACCESS_LOG_FIELDS: dict[str, str] = {
    "time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "content_type": "%REQ(CONTENT-TYPE)%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "upstream": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "user_agent": "%REQ(USER-AGENT)%",
}
STATIC_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json",
    "map": "application/json",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
    "webp": "image/webp",
    "woff2": "font/woff2",
    "txt": "text/plain; charset=utf-8",
}

_ALWAYS = RuntimeFractionalPercent(
    default_value=FractionalPercent(numerator=100, denominator=FractionalPercentDenominatorType.HUNDRED)
)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _any(message: betterproto2.Message) -> AnyMessage:
    return AnyMessage.pack(message)


def _socket(endpoint: Endpoint) -> Address:
    return Address(socket_address=SocketAddress(address=endpoint.host, port_value=endpoint.port))


def _load_assignment(cluster: str, endpoints: tuple[Endpoint, ...]) -> ClusterLoadAssignment:
    return ClusterLoadAssignment(
        cluster_name=cluster,
        endpoints=[
            LocalityLbEndpoints(
                lb_endpoints=[LbEndpoint(endpoint=EnvoyEndpoint(address=_socket(endpoint))) for endpoint in endpoints]
            )
        ]
        if endpoints
        else [],
    )


def _discovery(endpoints: tuple[Endpoint, ...]) -> ClusterDiscoveryType:
    return ClusterDiscoveryType.STATIC if all(e.is_ip for e in endpoints) else ClusterDiscoveryType.STRICT_DNS


def _keepalive(interval_seconds: float) -> KeepaliveSettings:
    return KeepaliveSettings(interval=_seconds(interval_seconds), timeout=_seconds(10))


def _bind(mesh: Mesh) -> BindConfig | None:
    if mesh.upstream_source_address is None:
        return None
    return BindConfig(source_address=SocketAddress(address=mesh.upstream_source_address, port_value=0))


def _http2_upstream(keepalive_seconds: float) -> dict[str, AnyMessage]:
    return {
        HTTP_PROTOCOL_OPTIONS: _any(
            HttpProtocolOptions(
                explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
                    http2_protocol_options=Http2ProtocolOptions(connection_keepalive=_keepalive(keepalive_seconds))
                )
            )
        )
    }


def service_cluster(mesh: Mesh, service: MeshService) -> Cluster:
    """The replicas of one service: HTTP/2, gRPC health checks, outlier detection."""
    interval = _seconds(mesh.health_check_interval_seconds)
    return Cluster(
        name=service.cluster,
        upstream_bind_config=_bind(mesh),
        type=_discovery(service.endpoints),
        connect_timeout=_seconds(1),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=_load_assignment(service.cluster, service.endpoints),
        typed_extension_protocol_options=_http2_upstream(mesh.upstream_keepalive_interval_seconds),
        health_checks=[
            HealthCheck(
                timeout=_seconds(1),
                interval=interval,
                # Without traffic Envoy would slow checks down to once a minute: keep the pace.
                no_traffic_interval=interval,
                unhealthy_threshold=2,
                healthy_threshold=1,
                reuse_connection=True,
                grpc_health_check=HealthCheckGrpcHealthCheck(service_name=service.full_name),
                always_log_health_check_failures=True,
            )
        ],
        outlier_detection=OutlierDetection(
            consecutive_5xx=5,
            consecutive_gateway_failure=3,
            enforcing_consecutive_gateway_failure=100,
            interval=_seconds(mesh.outlier_interval_seconds),
            base_ejection_time=_seconds(mesh.outlier_base_ejection_seconds),
            max_ejection_percent=50,
            successful_active_health_check_uneject_host=True,
        ),
        # Retries may be up to half of the cluster's active requests (at least 16 at once): when one of two
        # replicas dies, every call in flight to it needs one. Envoy's default (3 concurrent retries per
        # cluster) turns a replica failure under load into UNAVAILABLE for the calls beyond the third.
        circuit_breakers=CircuitBreakers(
            thresholds=[
                CircuitBreakersThresholds(
                    retry_budget=CircuitBreakersThresholdsRetryBudget(
                        budget_percent=Percent(value=50.0), min_retry_concurrency=16
                    )
                )
            ]
        ),
        # Not close_connections_on_host_health_failure: a replica reports NOT_SERVING when it starts
        # draining, and its in-flight calls must be allowed to finish within its shutdown grace.
    )


def jwks_cluster(mesh: Mesh) -> Cluster:
    """auth's JWKS endpoint(s) (HTTP/1.1): plain HTTP inside the cluster, or HTTPS verified against a CA."""
    transport = None
    if mesh.jwks_ca_file is not None:
        host = mesh.jwks_endpoints[0]
        transport = TransportSocket(
            name="envoy.transport_sockets.tls",
            typed_config=_any(
                UpstreamTlsContext(
                    sni="" if host.is_ip else host.host,
                    common_tls_context=CommonTlsContext(
                        validation_context=CertificateValidationContext(
                            trusted_ca=DataSource(filename=str(mesh.jwks_ca_file)),
                            # The chain alone is not enough: the certificate must also name the host.
                            match_typed_subject_alt_names=[
                                SubjectAltNameMatcher(
                                    san_type=SubjectAltNameMatcherSanType.IP_ADDRESS
                                    if host.is_ip
                                    else SubjectAltNameMatcherSanType.DNS,
                                    matcher=StringMatcher(exact=host.host),
                                )
                            ],
                        )
                    ),
                )
            ),
        )
    return Cluster(
        name=JWKS_CLUSTER,
        type=_discovery(mesh.jwks_endpoints),
        connect_timeout=_seconds(1),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=_load_assignment(JWKS_CLUSTER, mesh.jwks_endpoints),
        upstream_bind_config=_bind(mesh),
        transport_socket=transport,
    )


def ratelimit_cluster(mesh: Mesh) -> Cluster:
    """The global rate-limit service (gRPC, HTTP/2)."""
    return Cluster(
        name=RATELIMIT_CLUSTER,
        type=_discovery(mesh.ratelimit_endpoints),
        connect_timeout=_seconds(1),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=_load_assignment(RATELIMIT_CLUSTER, mesh.ratelimit_endpoints),
        typed_extension_protocol_options=_http2_upstream(mesh.keepalive_interval_seconds),
    )


def _global_rate_limits(service: MeshService, method: str | None) -> list[RouteRateLimit]:
    """The descriptor of a route: its class, then the client address or the user."""
    limit_class = LimitClass.PUBLIC if method is None else service.limit_class(method)
    actions = [
        RateLimitAction(
            generic_key=RateLimitActionGenericKey(descriptor_key=CLASS_DESCRIPTOR, descriptor_value=str(limit_class))
        )
    ]
    if limit_class is LimitClass.USER:
        actions.append(
            RateLimitAction(
                metadata=RateLimitActionMetaData(
                    descriptor_key=USER_DESCRIPTOR,
                    metadata_key=MetadataKey(
                        key=JWT_AUTHN,
                        path=[MetadataKeyPathSegment(key=JWT_PAYLOAD_KEY), MetadataKeyPathSegment(key="sub")],
                    ),
                    source=RateLimitActionMetaDataSource.DYNAMIC,
                )
            )
        )
    else:
        # The address the connection manager established (x-forwarded-for with xff_num_trusted_hops).
        actions.append(RateLimitAction(remote_address=RateLimitActionRemoteAddress()))
    return [RouteRateLimit(actions=actions)]


def ratelimit_config(mesh: Mesh) -> dict[str, Any]:
    """The rate-limit service's configuration for ``mesh`` (its ``config/<domain>.yaml``)."""
    descriptors = []
    for limit_class in LimitClass:
        limit = mesh.global_limits[limit_class]
        key = USER_DESCRIPTOR if limit_class is LimitClass.USER else CLIENT_DESCRIPTOR
        descriptors.append(
            {
                "key": CLASS_DESCRIPTOR,
                "value": str(limit_class),
                # No value: every distinct client address (user) has a counter of its own.
                "descriptors": [{"key": key, "rate_limit": {"unit": limit.unit, "requests_per_unit": limit.requests}}],
            }
        )
    return {"domain": mesh.ratelimit_domain, "descriptors": descriptors}


def write_ratelimit_config(mesh: Mesh, directory: Path) -> Path:
    """Write ``<directory>/config/<domain>.yaml`` (JSON is YAML); return the file."""
    path = directory / "config" / f"{mesh.ratelimit_domain}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("." + path.name + ".tmp")
    temporary.write_text(json.dumps(ratelimit_config(mesh), indent=2) + "\n")
    temporary.replace(path)
    return path


def _rate_limit(name: str, limit: RateLimit) -> AnyMessage:
    return _any(
        LocalRateLimit(
            stat_prefix=name,
            token_bucket=TokenBucket(
                max_tokens=limit.burst, tokens_per_fill=limit.per_fill, fill_interval=_seconds(limit.fill_seconds)
            ),
            filter_enabled=_ALWAYS,
            filter_enforced=_ALWAYS,
            # gRPC clients see RESOURCE_EXHAUSTED instead of the UNAVAILABLE that HTTP 429 maps to.
            rate_limited_as_resource_exhausted=True,
            response_headers_to_add=[
                HeaderValueOption(header=HeaderValue(key="x-local-rate-limit", value="true")),
            ],
        )
    )


def _retry_policy() -> RetryPolicy:
    # No per_try_timeout: a retry after one would run the query again while the database still works on the
    # first. A hung replica is the health checks' and outlier detection's to eject; the call itself ends at
    # the route timeout (or the client's deadline).
    return RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=RETRIES,
        # Try a different replica than the one that just failed.
        retry_host_predicate=[
            RetryPolicyRetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts", typed_config=_any(PreviousHostsPredicate())
            )
        ],
        host_selection_retry_max_attempts=5,
    )


def _method_route(mesh: Mesh, service: MeshService, method: str) -> Route:
    name = f"{service.name}.{method}"
    if method in service.streaming_methods:
        action = RouteAction(
            cluster=service.cluster, timeout=timedelta(0), idle_timeout=_seconds(mesh.stream_idle_timeout_seconds)
        )
    else:
        timeout = _seconds(service.unary_timeout(method))
        action = RouteAction(
            cluster=service.cluster,
            timeout=timeout,
            # The client's grpc-timeout, if shorter, ends the call sooner (and reaches the service as its deadline).
            max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timeout),
            # A long call sends nothing until it answers: keep the connection manager's stream idle timeout
            # (5 min) from ending it before its route timeout does.
            idle_timeout=timeout if method in service.unary_timeouts else None,
            retry_policy=_retry_policy() if method in service.idempotent_reads else None,
        )
    if mesh.ratelimit_endpoints:
        action.rate_limits = _global_rate_limits(service, method)
    limit = service.rate_limit(method)
    return Route(
        name=name,
        match=RouteMatch(path=service.path(method)),
        route=action,
        typed_per_filter_config={LOCAL_RATELIMIT: _rate_limit(f"rl_{service.name}_{method}", limit)} if limit else {},
    )


#: gRPC health checks through the gateway: this header names the service whose replicas answer.
HEALTH_PATH = "/grpc.health.v1.Health/Check"
HEALTH_SERVICE_HEADER = "x-trademesh-service"


def _health_route(mesh: Mesh, service: MeshService) -> Route:
    # No jwt_authn rule matches this path, so it needs no token; the default bucket limits it.
    timeout = _seconds(5)
    return Route(
        name=f"{service.name}.health",
        match=RouteMatch(
            path=HEALTH_PATH,
            headers=[HeaderMatcher(name=HEALTH_SERVICE_HEADER, string_match=StringMatcher(exact=service.name))],
        ),
        route=RouteAction(
            cluster=service.cluster,
            timeout=timeout,
            max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timeout),
            rate_limits=_global_rate_limits(service, None) if mesh.ratelimit_endpoints else [],
        ),
        typed_per_filter_config={LOCAL_RATELIMIT: _rate_limit(f"rl_{service.name}_health", limit)}
        if (limit := service.default_rate_limit)
        else {},
    )


def _service_routes(mesh: Mesh, service: MeshService) -> list[Route]:
    routes = [_health_route(mesh, service)]
    routes += [_method_route(mesh, service, method) for method in service.methods]
    timeout = _seconds(service.unary_timeout_seconds)
    routes.append(
        Route(
            name=f"{service.name}.*",
            match=RouteMatch(prefix=f"/{service.full_name}/"),
            route=RouteAction(
                cluster=service.cluster,
                timeout=timeout,
                max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timeout),
                # A method newer than this config needs a token (jwt_authn's prefix rule): per user.
                rate_limits=_global_rate_limits(service, "") if mesh.ratelimit_endpoints else [],
            ),
        )
    )
    return routes


def _cors_policy(mesh: Mesh) -> CorsPolicy:
    return CorsPolicy(
        allow_origin_string_match=[StringMatcher(exact=origin) for origin in mesh.cors_origins],
        allow_methods="GET,POST,OPTIONS",
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age="86400",
        # A preflight from an origin that is not listed is answered here (200, no CORS headers, so the
        # browser refuses), never forwarded: a service would take the OPTIONS for a gRPC call and fail it
        # INTERNAL "Error parsing ':method' metadata".
        forward_not_matching_preflights=False,
    )


def _jwt_authn(mesh: Mesh) -> JwtAuthentication:
    # OPTIONS never reaches a service (the cors filter or the "options" route answers it): no token.
    rules: list[RequirementRule] = [RequirementRule(match=_options_route().match)]
    for service in mesh.services:
        # First match wins: the public methods pass without a token, the rest of the service needs one.
        rules += [RequirementRule(match=RouteMatch(path=service.path(m))) for m in sorted(service.public_methods)]
        rules.append(
            RequirementRule(
                match=RouteMatch(prefix=f"/{service.full_name}/"), requires=JwtRequirement(provider_name=JWT_PROVIDER)
            )
        )
    scheme = "https" if mesh.jwks_ca_file is not None else "http"
    jwks_url = f"{scheme}://{mesh.jwks_endpoints[0]}{JWKS_PATH}"
    return JwtAuthentication(
        providers={
            JWT_PROVIDER: JwtProvider(
                issuer=mesh.jwt_issuer,
                audiences=[mesh.jwt_audience],
                require_expiration=True,
                # Envoy's default leeway on exp/nbf is 60 s; the services allow 1 s.
                clock_skew_seconds=mesh.jwt_clock_skew_seconds,
                forward=True,
                # The claims, for the per-user rate-limit descriptor (never a header a client could send).
                payload_in_metadata=JWT_PAYLOAD_KEY,
                remote_jwks=RemoteJwks(
                    http_uri=HttpUri(uri=jwks_url, cluster=JWKS_CLUSTER, timeout=_seconds(2)),
                    cache_duration=_seconds(mesh.jwks_cache_seconds),
                    # Fetch at start-up (and again soon if auth is not up yet), not on the first request.
                    async_fetch=JwksAsyncFetch(fast_listener=True, failed_refetch_duration=_seconds(1)),
                    retry_policy=CoreRetryPolicy(num_retries=2),
                ),
            )
        },
        rules=rules,
        bypass_cors_preflight=True,
    )


def _global_ratelimit(mesh: Mesh) -> GlobalRateLimit:
    return GlobalRateLimit(
        domain=mesh.ratelimit_domain,
        timeout=_seconds(mesh.ratelimit_timeout_seconds),
        # Fail open by default (decision 0031): the local buckets and auth's own throttle still hold.
        failure_mode_deny=mesh.ratelimit_failure_mode_deny,
        rate_limited_as_resource_exhausted=True,
        rate_limit_service=RateLimitServiceConfig(
            grpc_service=GrpcService(envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=RATELIMIT_CLUSTER)),
            transport_api_version=ApiVersion.V3,
        ),
        stat_prefix="global",
    )


def _file_server(static_dir: Path) -> FileServerConfig:
    return FileServerConfig(
        manager_config=AsyncFileManagerConfig(thread_pool=AsyncFileManagerConfigThreadPool(thread_count=2)),
        path_mappings=[
            FileServerConfigPathMapping(request_path_prefix="/", file_path_prefix=str(static_dir.resolve()))
        ],
        content_types=STATIC_CONTENT_TYPES,
        default_content_type="application/octet-stream",
        directory_behaviors=[FileServerConfigDirectoryBehavior(default_file="index.html")],
    )


def _http_filters(mesh: Mesh) -> list[HttpFilter]:
    filters = [
        HttpFilter(name=GRPC_WEB, typed_config=_any(GrpcWeb())),
        HttpFilter(name=CORS, typed_config=_any(Cors())),
        HttpFilter(name=JWT_AUTHN, typed_config=_any(_jwt_authn(mesh))),
        # No bucket here: only routes with their own local_ratelimit config are limited.
        HttpFilter(name=LOCAL_RATELIMIT, typed_config=_any(LocalRateLimit(stat_prefix="local_rate_limit"))),
    ]
    if mesh.ratelimit_endpoints:
        filters.append(HttpFilter(name=GLOBAL_RATELIMIT, typed_config=_any(_global_ratelimit(mesh))))
    if mesh.static_dir is not None:
        # Off by default (it would answer every method on every path); on for the static route only.
        filters.append(HttpFilter(name=FILE_SERVER, disabled=True, typed_config=_any(_file_server(mesh.static_dir))))
    filters.append(HttpFilter(name=ROUTER, typed_config=_any(Router())))
    return filters


def _options_route() -> Route:
    # Every CORS preflight (OPTIONS with Access-Control-Request-Method) is answered by the cors filter,
    # which needs a route with a route action to find its policy: listed origins get their grant, others
    # an empty 200 (forward_not_matching_preflights off). Any other OPTIONS would reach a service as a
    # gRPC call it cannot parse (INTERNAL "Error parsing ':method' metadata"): answered here, 204.
    return Route(
        name="options",
        match=RouteMatch(
            prefix="/",
            headers=[
                HeaderMatcher(name=":method", string_match=StringMatcher(exact="OPTIONS")),
                HeaderMatcher(name="access-control-request-method", present_match=False),
            ],
        ),
        direct_response=DirectResponseAction(status=204),
    )


def _route_config(mesh: Mesh) -> RouteConfiguration:
    routes = [_options_route()]
    routes += [route for service in mesh.services for route in _service_routes(mesh, service)]
    if mesh.static_dir is not None:
        # file_server answers here, before the router; the direct response is only reached if it passes.
        routes.append(
            Route(
                name="static",
                match=RouteMatch(prefix="/"),
                direct_response=DirectResponseAction(status=404),
                typed_per_filter_config={FILE_SERVER: _any(FilterConfig(config=_any(_file_server(mesh.static_dir))))},
            )
        )
    return RouteConfiguration(
        name="mesh",
        virtual_hosts=[
            VirtualHost(
                name="mesh",
                domains=["*"],
                routes=routes,
                # Also without any origin listed: the policy then answers every preflight with no grant.
                typed_per_filter_config={CORS: _any(_cors_policy(mesh))},
                # The client address Envoy established (peer, or x-forwarded-for past the trusted hops),
                # for auth's per-address login throttle; a client's own header of that name is replaced.
                request_headers_to_add=[_overwrite(CLIENT_ADDRESS_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")],
            )
        ],
    )


def _access_log() -> AccessLog:
    return AccessLog(
        name="envoy.access_loggers.stdout",
        typed_config=_any(
            StdoutAccessLog(log_format=SubstitutionFormatString(json_format=Struct.from_dict(ACCESS_LOG_FIELDS)))
        ),
    )


def _overwrite(key: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=key, value=value),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def _local_replies() -> LocalReplyConfig:
    """Rate-limited calls end RESOURCE_EXHAUSTED for grpc-web clients too.

    Envoy's local replies are gRPC-shaped only for ``application/grpc`` requests. A grpc-web request
    limited by local_ratelimit would get HTTP 429 with a text body, which the grpc_web filter maps to
    UNAVAILABLE (and a browser client reads as "HTTP 429"). So the reply is rewritten to what a
    trailers-only gRPC response is: HTTP 200, no body, ``grpc-status: 8`` in the headers.
    """
    return LocalReplyConfig(
        mappers=[
            ResponseMapper(
                # local_ratelimit marks the stream (flag RL) only after sending its reply, so match the code:
                # upstream responses never pass through the local-reply mappers.
                filter=AccessLogFilter(
                    status_code_filter=StatusCodeFilter(
                        comparison=ComparisonFilter(
                            op=ComparisonFilterOp.EQ,
                            value=RuntimeUInt32(default_value=429, runtime_key="trademesh.local_reply.rate_limited"),
                        )
                    )
                ),
                status_code=200,
                body=DataSource(inline_string=""),
                headers_to_add=[
                    _overwrite("grpc-status", "8"),
                    _overwrite("grpc-message", "rate limit exceeded, retry later"),
                ],
            ),
            # jwt_authn refuses a token for another audience with 403, which gRPC maps to PERMISSION_DENIED;
            # the services say UNAUTHENTICATED for it (the token is not one for us), and so does the edge.
            ResponseMapper(
                filter=AccessLogFilter(
                    status_code_filter=StatusCodeFilter(
                        comparison=ComparisonFilter(
                            op=ComparisonFilterOp.EQ,
                            value=RuntimeUInt32(default_value=403, runtime_key="trademesh.local_reply.forbidden"),
                        )
                    )
                ),
                status_code=401,
                headers_to_add=[_overwrite("grpc-status", "16")],
            ),
        ]
    )


def _listener(mesh: Mesh) -> Listener:
    manager = HttpConnectionManager(
        codec_type=HttpConnectionManagerCodecType.AUTO,
        stat_prefix="ingress",
        route_config=_route_config(mesh),
        http_filters=_http_filters(mesh),
        http2_protocol_options=Http2ProtocolOptions(connection_keepalive=_keepalive(mesh.keepalive_interval_seconds)),
        access_log=[_access_log()],
        local_reply_config=_local_replies(),
        # The edge: the peer address is the client's (x-forwarded-for / x-envoy-external-address are set
        # from it, which auth's per-address login throttle uses).
        # (Envoy refuses use_remote_address beside an original-IP detection extension: the extension decides.)
        use_remote_address=not mesh.xff_trusted_cidrs,
        # Behind an Ingress or load balancer that appends to x-forwarded-for, the client is that many hops back
        # (or: x-forwarded-for is believed from the trusted proxies' addresses only).
        xff_num_trusted_hops=0 if mesh.xff_trusted_cidrs else mesh.xff_num_trusted_hops,
        original_ip_detection_extensions=_xff_by_cidrs(mesh.xff_trusted_cidrs),
        generate_request_id=True,
        # A request id from the client (the browser, a CLI) is kept, so one id ties the logs together.
        preserve_external_request_id=True,
        always_set_request_id_in_response=True,
    )
    return Listener(
        name="mesh",
        address=_socket(mesh.listen),
        filter_chains=[
            FilterChain(
                filters=[Filter(name="envoy.filters.network.http_connection_manager", typed_config=_any(manager))],
                transport_socket=_downstream_tls(mesh),
            )
        ],
    )


def _xff_by_cidrs(cidrs: tuple[str, ...]) -> list[TypedExtensionConfig]:
    if not cidrs:
        return []
    ranges = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        ranges.append(CidrRange(address_prefix=str(network.network_address), prefix_len=network.prefixlen))
    return [
        TypedExtensionConfig(
            name="envoy.http.original_ip_detection.xff",
            typed_config=_any(XffConfig(xff_trusted_cidrs=XffTrustedCidrs(cidrs=ranges))),
        )
    ]


#: The name of the edge certificate's SDS secret.
EDGE_TLS_SECRET = "edge-tls"


def _edge_certificate(tls: TlsFiles) -> TlsCertificate:
    return TlsCertificate(
        certificate_chain=DataSource(filename=str(tls.certificate)),
        private_key=DataSource(filename=str(tls.private_key)),
        # A Kubernetes Secret volume (and cert-manager's renewals) swaps the files in one rename in this
        # directory; Envoy rereads the pair then. Only honoured for a certificate that came through SDS.
        watched_directory=WatchedDirectory(path=str(tls.certificate.parent)),
    )


def edge_tls_secret(tls: TlsFiles) -> dict[str, Any]:
    """The SDS resource file of the edge certificate (``TlsFiles.sds_file``): one Secret, read by path."""
    response = DiscoveryResponse(resources=[_any(Secret(name=EDGE_TLS_SECRET, tls_certificate=_edge_certificate(tls)))])
    return response.to_dict(casing=cast(betterproto2.Casing, _proto_field_name))


def _downstream_tls(mesh: Mesh) -> TransportSocket | None:
    if mesh.tls is None:
        return None
    tls = mesh.tls
    context = (
        CommonTlsContext(
            tls_certificate_sds_secret_configs=[
                SdsSecretConfig(
                    name=EDGE_TLS_SECRET,
                    sds_config=ConfigSource(
                        path_config_source=PathConfigSource(path=str(tls.sds_file)),
                        resource_api_version=ApiVersion.V3,
                    ),
                )
            ]
        )
        if tls.sds_file is not None
        else CommonTlsContext(tls_certificates=[_edge_certificate(tls)])
    )
    # gRPC needs h2; browsers' grpc-web may use either.
    context.alpn_protocols = ["h2", "http/1.1"]
    return TransportSocket(
        name="envoy.transport_sockets.tls", typed_config=_any(DownstreamTlsContext(common_tls_context=context))
    )


def build_bootstrap(mesh: Mesh) -> Bootstrap:
    """The whole Envoy bootstrap for ``mesh``."""
    return Bootstrap(
        # A node identity: Envoy requires one for SDS (the edge certificate), and it names the gateway in logs.
        node=Node(id="trademesh-gateway", cluster="trademesh-gateway"),
        admin=Admin(address=_socket(mesh.admin)),
        static_resources=BootstrapStaticResources(
            listeners=[_listener(mesh)],
            clusters=[service_cluster(mesh, service) for service in mesh.services]
            + [jwks_cluster(mesh)]
            + ([ratelimit_cluster(mesh)] if mesh.ratelimit_endpoints else []),
        ),
    )


def _proto_field_name(name: str) -> str:
    return name


def bootstrap_dict(mesh: Mesh) -> dict[str, Any]:
    """The bootstrap as proto JSON with the proto field names (``connect_timeout``), as in Envoy's docs.

    betterproto2's own casings mangle names with digits (``consecutive_5xx`` becomes ``consecutive_5_xx``
    or ``consecutive5Xx``, which Envoy rejects), while its Python field names are the proto names; so the
    "casing" used here is the identity. ``envoy --mode validate`` in the tests guards this.
    """
    casing = cast(betterproto2.Casing, _proto_field_name)
    return build_bootstrap(mesh).to_dict(casing=casing)


def _write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)


def write_bootstrap(mesh: Mesh, path: Path) -> Path:
    """Write the bootstrap Envoy loads (JSON, which Envoy reads as YAML too), and its SDS file; return ``path``."""
    if mesh.tls is not None and mesh.tls.sds_file is not None:
        _write_json(edge_tls_secret(mesh.tls), mesh.tls.sds_file)
    _write_json(bootstrap_dict(mesh), path)
    return path
