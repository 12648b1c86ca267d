"""Names, fixed values and small helpers the parts of the Envoy config share."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import betterproto2

from trademesh.gateway.envoy_config.models import (
    Address,
    AnyMessage,
    FractionalPercent,
    FractionalPercentDenominatorType,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
    RuntimeFractionalPercent,
    SocketAddress,
)
from trademesh.gateway.mesh import Endpoint

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


#: gRPC health checks through the gateway: this header names the service whose replicas answer.
HEALTH_PATH = "/grpc.health.v1.Health/Check"
HEALTH_SERVICE_HEADER = "x-trademesh-service"


def _overwrite(key: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=key, value=value),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )


#: The name of the edge certificate's SDS secret.
EDGE_TLS_SECRET = "edge-tls"


def _proto_field_name(name: str) -> str:
    return name


def _write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)
