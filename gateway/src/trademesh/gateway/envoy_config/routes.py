"""The route table: one route per RPC, a prefix route per service, the public health checks."""

from __future__ import annotations

from datetime import timedelta

from trademesh.gateway.envoy_config.common import (
    CLIENT_ADDRESS_HEADER,
    CORS,
    FILE_SERVER,
    HEALTH_PATH,
    HEALTH_SERVICE_HEADER,
    LOCAL_RATELIMIT,
    RETRIES,
    RETRY_ON,
    _any,
    _overwrite,
    _seconds,
)
from trademesh.gateway.envoy_config.filters import _cors_policy, _file_server, _options_route
from trademesh.gateway.envoy_config.models import (
    DirectResponseAction,
    FilterConfig,
    HeaderMatcher,
    PreviousHostsPredicate,
    RetryPolicy,
    RetryPolicyRetryHostPredicate,
    Route,
    RouteAction,
    RouteActionMaxStreamDuration,
    RouteConfiguration,
    RouteMatch,
    StringMatcher,
    VirtualHost,
)
from trademesh.gateway.envoy_config.ratelimit import _global_rate_limits, _rate_limit
from trademesh.gateway.mesh import Mesh, MeshService


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
