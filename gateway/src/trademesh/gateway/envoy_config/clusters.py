"""The upstream clusters: one per service (health-checked, HTTP/2 with keep-alive) and auth's JWKS."""

from __future__ import annotations

from trademesh.gateway.envoy_config.common import HTTP_PROTOCOL_OPTIONS, JWKS_CLUSTER, _any, _seconds, _socket
from trademesh.gateway.envoy_config.models import (
    AnyMessage,
    BindConfig,
    CertificateValidationContext,
    CircuitBreakers,
    CircuitBreakersThresholds,
    CircuitBreakersThresholdsRetryBudget,
    Cluster,
    ClusterDiscoveryType,
    ClusterLbPolicy,
    ClusterLoadAssignment,
    CommonTlsContext,
    DataSource,
    EnvoyEndpoint,
    HealthCheck,
    HealthCheckGrpcHealthCheck,
    Http2ProtocolOptions,
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
    KeepaliveSettings,
    LbEndpoint,
    LocalityLbEndpoints,
    OutlierDetection,
    Percent,
    SocketAddress,
    StringMatcher,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    TransportSocket,
    UpstreamTlsContext,
)
from trademesh.gateway.mesh import Endpoint, Mesh, MeshService


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
