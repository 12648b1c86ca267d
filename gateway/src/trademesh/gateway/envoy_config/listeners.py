"""The edge listener: its connection manager, access log, local replies, trusted proxies and TLS."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

import betterproto2

from trademesh.gateway.envoy_config.clusters import _keepalive
from trademesh.gateway.envoy_config.common import (
    ACCESS_LOG_FIELDS,
    EDGE_TLS_SECRET,
    _any,
    _overwrite,
    _proto_field_name,
    _socket,
)
from trademesh.gateway.envoy_config.filters import _http_filters
from trademesh.gateway.envoy_config.models import (
    AccessLog,
    AccessLogFilter,
    ApiVersion,
    CidrRange,
    CommonTlsContext,
    ComparisonFilter,
    ComparisonFilterOp,
    ConfigSource,
    DataSource,
    DiscoveryResponse,
    DownstreamTlsContext,
    Filter,
    FilterChain,
    Http2ProtocolOptions,
    HttpConnectionManager,
    HttpConnectionManagerCodecType,
    Listener,
    LocalReplyConfig,
    PathConfigSource,
    ResponseMapper,
    RuntimeUInt32,
    SdsSecretConfig,
    Secret,
    StatusCodeFilter,
    StdoutAccessLog,
    Struct,
    SubstitutionFormatString,
    TlsCertificate,
    TransportSocket,
    TypedExtensionConfig,
    WatchedDirectory,
    XffConfig,
    XffTrustedCidrs,
)
from trademesh.gateway.envoy_config.routes import _route_config
from trademesh.gateway.mesh import Mesh, TlsFiles


def _access_log() -> AccessLog:
    return AccessLog(
        name="envoy.access_loggers.stdout",
        typed_config=_any(
            StdoutAccessLog(log_format=SubstitutionFormatString(json_format=Struct.from_dict(ACCESS_LOG_FIELDS)))
        ),
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
