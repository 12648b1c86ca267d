"""``python -m trademesh.gateway``: generate the Envoy bootstrap, optionally validate it or run Envoy on it.

Examples::

    python -m trademesh.gateway --check                       # write .data/gateway/envoy.json, validate it
    python -m trademesh.gateway --print                       # the bootstrap on stdout
    python -m trademesh.gateway --upstream auth=10.0.0.5:50051,10.0.0.6:50051 --jwks 10.0.0.5:51051 \\
        --listen 0.0.0.0:8080 --cors-origin https://app.example.com --output envoy.json
    python -m trademesh.gateway --run                         # generate, then become Envoy (make up)
    python -m trademesh.gateway --kubernetes --print          # the Helm chart's bootstrap (headless Services)
    python -m trademesh.gateway --ratelimit 127.0.0.1:50060 --ratelimit-config .data/ratelimit/runtime --check
    python -m trademesh.gateway --tls-cert cert.pem --tls-key key.pem --listen 0.0.0.0:8443 --xff-trusted-hops 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from trademesh.gateway.envoy_config import bootstrap_dict, write_bootstrap, write_ratelimit_config
from trademesh.gateway.mesh import (
    CATALOG,
    DEFAULT_ADMIN_PORT,
    DEFAULT_LISTEN_PORT,
    Endpoint,
    TlsFiles,
    build_mesh,
    kubernetes_mesh,
)
from trademesh.gateway.runner import EnvoyError, envoy_command, validate

__all__ = ["DEFAULT_STATIC_DIR", "main", "parse_upstream"]

#: Where the browser client's build lands (``clients/web``, ``npm run build``), from the repository root
#: (`make up` runs there); the gateway distribution knows nothing of the source tree.
DEFAULT_STATIC_DIR = Path("clients") / "web" / "dist"
DEFAULT_OUTPUT = Path(".data") / "gateway" / "envoy.json"


def _endpoint(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_upstream(text: str) -> tuple[str, list[Endpoint]]:
    """``auth=127.0.0.1:50051,127.0.0.1:50061`` → ("auth", [endpoints])."""
    name, sep, addresses = text.partition("=")
    known = [entry.name for entry in CATALOG]
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(f"expected SERVICE=HOST:PORT[,HOST:PORT...] with SERVICE one of {known}")
    try:
        return name, [Endpoint.parse(address) for address in addresses.split(",") if address.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trademesh.gateway",
        description="Generate the Envoy bootstrap of the trademesh gateway from the mesh description.",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="bootstrap file to write (default: %(default)s)"
    )
    parser.add_argument(
        "--listen",
        type=_endpoint,
        default=Endpoint("127.0.0.1", DEFAULT_LISTEN_PORT),
        help="gRPC, grpc-web and static files (default: %(default)s)",
    )
    parser.add_argument(
        "--admin",
        type=_endpoint,
        default=Endpoint("127.0.0.1", DEFAULT_ADMIN_PORT),
        help="Envoy admin interface, loopback only (default: %(default)s)",
    )
    parser.add_argument(
        "--upstream",
        type=parse_upstream,
        action="append",
        default=[],
        metavar="SERVICE=HOST:PORT[,HOST:PORT...]",
        help="replicas of a service (repeat per service; default: auth=127.0.0.1:50051)",
    )
    parser.add_argument(
        "--jwks",
        type=_endpoint,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="auth's JWKS-over-HTTP endpoint (default: 127.0.0.1:51051, the dev stack's)",
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], metavar="ORIGIN", help="browser origin allowed cross-origin"
    )
    parser.add_argument(
        "--static-dir",
        type=Path,
        default=DEFAULT_STATIC_DIR,
        help="browser client files served at / if the directory exists (default: %(default)s)",
    )
    parser.add_argument(
        "--health-check-interval", type=float, default=5.0, help="seconds between gRPC health checks of a replica"
    )
    parser.add_argument(
        "--ratelimit",
        type=_endpoint,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="the global rate-limit service (envoyproxy/ratelimit, gRPC); none: local token buckets only",
    )
    parser.add_argument(
        "--ratelimit-config",
        type=Path,
        metavar="DIR",
        help="also write the rate-limit service's limits to DIR/config/<domain>.yaml",
    )
    parser.add_argument(
        "--xff-trusted-hops",
        type=int,
        default=0,
        help="proxies in front of Envoy appending to x-forwarded-for (an Ingress: 1); 0: the peer is the client",
    )
    parser.add_argument(
        "--xff-trusted-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="believe x-forwarded-for only from these proxies (the Ingress controller's pods); instead of hops",
    )
    parser.add_argument(
        "--upstream-source-address",
        metavar="IP",
        help="source address of Envoy's connections to the services (the one auth's TRADEMESH_TRUSTED_PROXIES names)",
    )
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="TLS on the listener: certificate chain")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="TLS on the listener: private key")
    parser.add_argument(
        "--jwks-ca", type=Path, metavar="PEM", help="fetch the JWKS over HTTPS, verified against this CA bundle"
    )
    parser.add_argument(
        "--kubernetes",
        action="store_true",
        help="the mesh as the Helm chart deploys it (headless Services); ignores --upstream/--jwks/--listen",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--print", action="store_true", help="print the bootstrap instead of writing it")
    action.add_argument("--check", action="store_true", help="write, then run `envoy --mode validate` on it")
    action.add_argument("--run", action="store_true", help="write, then replace this process with Envoy")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    upstreams = dict(args.upstream) or {"auth": [Endpoint("127.0.0.1", 50051)]}
    static_dir: Path = args.static_dir
    if (args.tls_cert is None) != (args.tls_key is None):
        print("gateway: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    # The certificate goes through SDS from a file beside the bootstrap, so a renewed pair is served at once.
    tls = (
        TlsFiles(args.tls_cert.resolve(), args.tls_key.resolve(), args.output.resolve().parent / "edge-tls.json")
        if args.tls_cert
        else None
    )
    try:
        mesh = (
            kubernetes_mesh(
                tls=tls, xff_num_trusted_hops=args.xff_trusted_hops, xff_trusted_cidrs=tuple(args.xff_trusted_cidr)
            )
            if args.kubernetes
            else build_mesh(
                upstreams,
                args.jwks or [Endpoint("127.0.0.1", 51051)],
                listen=args.listen,
                admin=args.admin,
                cors_origins=tuple(args.cors_origin),
                static_dir=static_dir if static_dir.is_dir() else None,
                health_check_interval_seconds=args.health_check_interval,
                ratelimit_endpoints=tuple(args.ratelimit),
                xff_num_trusted_hops=args.xff_trusted_hops,
                xff_trusted_cidrs=tuple(args.xff_trusted_cidr),
                upstream_source_address=args.upstream_source_address,
                tls=tls,
                jwks_ca_file=args.jwks_ca.resolve() if args.jwks_ca else None,
            )
        )
    except ValueError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    if args.ratelimit_config is not None:
        written = write_ratelimit_config(mesh, args.ratelimit_config)
        print(f"gateway: wrote {written} (the rate-limit service's limits)", file=sys.stderr)
    if args.print:
        print(json.dumps(bootstrap_dict(mesh), indent=2))
        return 0
    path = write_bootstrap(mesh, args.output)
    served = f"; serving {mesh.static_dir} at /" if mesh.static_dir else "; no browser client build, nothing at /"
    print(f"gateway: wrote {path} (listening on {mesh.listen_url}, admin {mesh.admin}{served})", file=sys.stderr)
    if args.check:
        try:
            validate(path)
        except EnvoyError as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 1
        print(f"gateway: envoy --mode validate: {path} OK", file=sys.stderr)
    if args.run:
        sys.stderr.flush()
        command = envoy_command(path)
        os.execv(command[0], command)  # noqa: S606 - our own binary; same PID, so signals reach Envoy
    return 0
