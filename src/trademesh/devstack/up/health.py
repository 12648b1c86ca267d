"""Probes: a service's gRPC health status, an HTTP component's readiness, whether a port is taken."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2

from trademesh.devstack.stack import (
    HOST,
)
from trademesh.devstack.up.common import _SERVING

_HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"


def check_health(address: str, timeout: float = 1.0, service: str = "") -> str:
    """Return the serving status of the server at ``address`` (gRPC health of ``service``; "" the process).

    A service's own name is its readiness: NOT_SERVING while MongoDB or Redis has failed for a while.

    ``SERVING``, ``NOT_SERVING``, ..., or ``UNREACHABLE`` / the gRPC status code name if the call fails.
    """
    # A fresh channel with its own subchannel: no reconnect backoff carried over from earlier attempts.
    with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        check = channel.unary_unary(
            _HEALTH_CHECK_METHOD,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            code = error.code()
            return "UNREACHABLE" if code == grpc.StatusCode.UNAVAILABLE else str(code.name)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def check_http_ready(url: str, timeout: float = 1.0) -> str:
    """Return ``SERVING`` if ``url`` answers 200, else ``UNREACHABLE`` or ``HTTP <code>``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a loopback http URL
            return _SERVING if response.status == 200 else f"HTTP_{response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP_{error.code}"
    except OSError:
        return "UNREACHABLE"


def _port_in_use(port: int) -> bool:
    """Return True if something listens on ``HOST:port`` (or on all addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: ignore TIME_WAIT leftovers, fail only on a live listener (as the servers would).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False
