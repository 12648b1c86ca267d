"""The HTTP filter chain (grpc_web, cors, jwt_authn, rate limits, file server, router) and the CORS preflight."""

from __future__ import annotations

from pathlib import Path

from trademesh.gateway.envoy_config.common import (
    CORS,
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    FILE_SERVER,
    GLOBAL_RATELIMIT,
    GRPC_WEB,
    JWKS_CLUSTER,
    JWT_AUTHN,
    JWT_PAYLOAD_KEY,
    JWT_PROVIDER,
    LOCAL_RATELIMIT,
    ROUTER,
    STATIC_CONTENT_TYPES,
    _any,
    _seconds,
)
from trademesh.gateway.envoy_config.models import (
    AsyncFileManagerConfig,
    AsyncFileManagerConfigThreadPool,
    CoreRetryPolicy,
    Cors,
    CorsPolicy,
    DirectResponseAction,
    FileServerConfig,
    FileServerConfigDirectoryBehavior,
    FileServerConfigPathMapping,
    GrpcWeb,
    HeaderMatcher,
    HttpFilter,
    HttpUri,
    JwksAsyncFetch,
    JwtAuthentication,
    JwtProvider,
    JwtRequirement,
    LocalRateLimit,
    RemoteJwks,
    RequirementRule,
    Route,
    RouteMatch,
    Router,
    StringMatcher,
)
from trademesh.gateway.envoy_config.ratelimit import _global_ratelimit
from trademesh.gateway.mesh import JWKS_PATH, Mesh


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
