"""The whole bootstrap from a mesh, as typed models or proto JSON, and writing it for Envoy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import betterproto2

from trademesh.gateway.envoy_config.clusters import jwks_cluster, service_cluster
from trademesh.gateway.envoy_config.common import _proto_field_name, _socket, _write_json
from trademesh.gateway.envoy_config.listeners import _listener, edge_tls_secret
from trademesh.gateway.envoy_config.models import (
    Admin,
    Bootstrap,
    BootstrapStaticResources,
    Node,
)
from trademesh.gateway.envoy_config.ratelimit import ratelimit_cluster
from trademesh.gateway.mesh import Mesh


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


def bootstrap_dict(mesh: Mesh) -> dict[str, Any]:
    """The bootstrap as proto JSON with the proto field names (``connect_timeout``), as in Envoy's docs.

    betterproto2's own casings mangle names with digits (``consecutive_5xx`` becomes ``consecutive_5_xx``
    or ``consecutive5Xx``, which Envoy rejects), while its Python field names are the proto names; so the
    "casing" used here is the identity. ``envoy --mode validate`` in the tests guards this.
    """
    casing = cast(betterproto2.Casing, _proto_field_name)
    return build_bootstrap(mesh).to_dict(casing=casing)


def write_bootstrap(mesh: Mesh, path: Path) -> Path:
    """Write the bootstrap Envoy loads (JSON, which Envoy reads as YAML too), and its SDS file; return ``path``."""
    if mesh.tls is not None and mesh.tls.sds_file is not None:
        _write_json(edge_tls_secret(mesh.tls), mesh.tls.sds_file)
    _write_json(bootstrap_dict(mesh), path)
    return path
