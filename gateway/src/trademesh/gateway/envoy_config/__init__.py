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

The parts: :mod:`.common` (names and small helpers), :mod:`.models` (the envoy-data-plane models),
:mod:`.clusters`, :mod:`.ratelimit`, :mod:`.filters`, :mod:`.routes`, :mod:`.listeners` and
:mod:`.bootstrap`, which puts them together.
"""

from trademesh.gateway.envoy_config.bootstrap import bootstrap_dict, build_bootstrap, write_bootstrap
from trademesh.gateway.envoy_config.clusters import jwks_cluster, service_cluster
from trademesh.gateway.envoy_config.common import (
    ACCESS_LOG_FIELDS,
    CLASS_DESCRIPTOR,
    CLIENT_ADDRESS_HEADER,
    CLIENT_DESCRIPTOR,
    CORS,
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    EDGE_TLS_SECRET,
    FILE_SERVER,
    GLOBAL_RATELIMIT,
    GRPC_WEB,
    HEALTH_PATH,
    HEALTH_SERVICE_HEADER,
    HTTP_PROTOCOL_OPTIONS,
    JWKS_CLUSTER,
    JWT_AUTHN,
    JWT_PAYLOAD_KEY,
    JWT_PROVIDER,
    LOCAL_RATELIMIT,
    RATELIMIT_CLUSTER,
    RETRIES,
    RETRY_ON,
    ROUTER,
    STATIC_CONTENT_TYPES,
    USER_DESCRIPTOR,
)
from trademesh.gateway.envoy_config.listeners import edge_tls_secret
from trademesh.gateway.envoy_config.ratelimit import ratelimit_cluster, ratelimit_config, write_ratelimit_config

__all__ = [
    "ACCESS_LOG_FIELDS",
    "CLASS_DESCRIPTOR",
    "CLIENT_ADDRESS_HEADER",
    "CLIENT_DESCRIPTOR",
    "CORS",
    "CORS_ALLOW_HEADERS",
    "CORS_EXPOSE_HEADERS",
    "EDGE_TLS_SECRET",
    "FILE_SERVER",
    "GLOBAL_RATELIMIT",
    "GRPC_WEB",
    "HEALTH_PATH",
    "HEALTH_SERVICE_HEADER",
    "HTTP_PROTOCOL_OPTIONS",
    "JWKS_CLUSTER",
    "JWT_AUTHN",
    "JWT_PAYLOAD_KEY",
    "JWT_PROVIDER",
    "LOCAL_RATELIMIT",
    "RATELIMIT_CLUSTER",
    "RETRIES",
    "RETRY_ON",
    "ROUTER",
    "STATIC_CONTENT_TYPES",
    "USER_DESCRIPTOR",
    "bootstrap_dict",
    "build_bootstrap",
    "edge_tls_secret",
    "jwks_cluster",
    "ratelimit_cluster",
    "ratelimit_config",
    "service_cluster",
    "write_bootstrap",
    "write_ratelimit_config",
]
