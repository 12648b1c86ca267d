"""Global rate limits: the ratelimit cluster, the per-route descriptors, the ratelimit service's config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trademesh.gateway.envoy_config.clusters import _discovery, _http2_upstream, _load_assignment
from trademesh.gateway.envoy_config.common import (
    _ALWAYS,
    CLASS_DESCRIPTOR,
    CLIENT_DESCRIPTOR,
    JWT_AUTHN,
    JWT_PAYLOAD_KEY,
    RATELIMIT_CLUSTER,
    USER_DESCRIPTOR,
    _any,
    _seconds,
)
from trademesh.gateway.envoy_config.models import (
    AnyMessage,
    ApiVersion,
    Cluster,
    ClusterLbPolicy,
    GlobalRateLimit,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    HeaderValue,
    HeaderValueOption,
    LocalRateLimit,
    MetadataKey,
    MetadataKeyPathSegment,
    RateLimitAction,
    RateLimitActionGenericKey,
    RateLimitActionMetaData,
    RateLimitActionMetaDataSource,
    RateLimitActionRemoteAddress,
    RateLimitServiceConfig,
    RouteRateLimit,
    TokenBucket,
)
from trademesh.gateway.mesh import LimitClass, Mesh, MeshService, RateLimit


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
