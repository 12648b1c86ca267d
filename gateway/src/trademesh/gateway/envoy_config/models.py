"""The envoy-data-plane models, imported once with the library's deprecation warnings silenced."""

import warnings

from pydantic.warnings import PydanticDeprecatedSince212

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
    "AccessLog",
    "AccessLogFilter",
    "Address",
    "Admin",
    "AnyMessage",
    "ApiVersion",
    "AsyncFileManagerConfig",
    "AsyncFileManagerConfigThreadPool",
    "BindConfig",
    "Bootstrap",
    "BootstrapStaticResources",
    "CertificateValidationContext",
    "CidrRange",
    "CircuitBreakers",
    "CircuitBreakersThresholds",
    "CircuitBreakersThresholdsRetryBudget",
    "Cluster",
    "ClusterDiscoveryType",
    "ClusterLbPolicy",
    "ClusterLoadAssignment",
    "CommonTlsContext",
    "ComparisonFilter",
    "ComparisonFilterOp",
    "ConfigSource",
    "CoreRetryPolicy",
    "Cors",
    "CorsPolicy",
    "DataSource",
    "DirectResponseAction",
    "DiscoveryResponse",
    "DownstreamTlsContext",
    "EnvoyEndpoint",
    "FileServerConfig",
    "FileServerConfigDirectoryBehavior",
    "FileServerConfigPathMapping",
    "Filter",
    "FilterChain",
    "FilterConfig",
    "FractionalPercent",
    "FractionalPercentDenominatorType",
    "GlobalRateLimit",
    "GrpcService",
    "GrpcServiceEnvoyGrpc",
    "GrpcWeb",
    "HeaderMatcher",
    "HeaderValue",
    "HeaderValueOption",
    "HeaderValueOptionHeaderAppendAction",
    "HealthCheck",
    "HealthCheckGrpcHealthCheck",
    "Http2ProtocolOptions",
    "HttpConnectionManager",
    "HttpConnectionManagerCodecType",
    "HttpFilter",
    "HttpProtocolOptions",
    "HttpProtocolOptionsExplicitHttpConfig",
    "HttpUri",
    "JwksAsyncFetch",
    "JwtAuthentication",
    "JwtProvider",
    "JwtRequirement",
    "KeepaliveSettings",
    "LbEndpoint",
    "Listener",
    "LocalRateLimit",
    "LocalReplyConfig",
    "LocalityLbEndpoints",
    "MetadataKey",
    "MetadataKeyPathSegment",
    "Node",
    "OutlierDetection",
    "PathConfigSource",
    "Percent",
    "PreviousHostsPredicate",
    "RateLimitAction",
    "RateLimitActionGenericKey",
    "RateLimitActionMetaData",
    "RateLimitActionMetaDataSource",
    "RateLimitActionRemoteAddress",
    "RateLimitServiceConfig",
    "RemoteJwks",
    "RequirementRule",
    "ResponseMapper",
    "RetryPolicy",
    "RetryPolicyRetryHostPredicate",
    "Route",
    "RouteAction",
    "RouteActionMaxStreamDuration",
    "RouteConfiguration",
    "RouteMatch",
    "RouteRateLimit",
    "Router",
    "RuntimeFractionalPercent",
    "RuntimeUInt32",
    "SdsSecretConfig",
    "Secret",
    "SocketAddress",
    "StatusCodeFilter",
    "StdoutAccessLog",
    "StringMatcher",
    "Struct",
    "SubjectAltNameMatcher",
    "SubjectAltNameMatcherSanType",
    "SubstitutionFormatString",
    "TlsCertificate",
    "TokenBucket",
    "TransportSocket",
    "TypedExtensionConfig",
    "UpstreamTlsContext",
    "VirtualHost",
    "WatchedDirectory",
    "XffConfig",
    "XffTrustedCidrs",
]
