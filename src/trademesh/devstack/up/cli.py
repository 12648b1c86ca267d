"""The command line of ``make up``: parse the flags, handle the stop signals, run the launcher."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from trademesh.devstack.stack import (
    DEFAULT_BASE_PORT,
    DEFAULT_GATEWAY_ADMIN_PORT,
    DEFAULT_GATEWAY_PORT,
    DEFAULT_MONGO_PORT,
    DEFAULT_REDIS_PORT,
    GATEWAY_PORT_FLAG,
    default_data_dir,
)
from trademesh.devstack.up.common import _HANDLED_SIGNALS, _StopRequest, logger
from trademesh.devstack.up.launcher import Launcher, Options


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range (1-65535): {port}")
    return port


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m trademesh.devstack.up",
        description="Run Redis, FerretDB and every trademesh service locally until Ctrl-C.",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help="data directory (default: %(default)s)"
    )
    parser.add_argument(
        "--redis-port", type=_port, default=DEFAULT_REDIS_PORT, help="Redis port (default: %(default)s)"
    )
    parser.add_argument(
        "--mongo-port",
        type=_port,
        default=DEFAULT_MONGO_PORT,
        help="FerretDB (MongoDB protocol) port (default: %(default)s)",
    )
    parser.add_argument(
        "--base-port",
        type=_port,
        default=DEFAULT_BASE_PORT,
        help="gRPC port of the first service (auth); the others follow it (default: %(default)s)",
    )
    parser.add_argument(
        GATEWAY_PORT_FLAG,
        type=_port,
        default=DEFAULT_GATEWAY_PORT,
        help="the gateway's port: gRPC, grpc-web and the browser client (default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-admin-port",
        type=_port,
        default=DEFAULT_GATEWAY_ADMIN_PORT,
        help="Envoy's admin interface on 127.0.0.1 (default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-tls",
        action="store_true",
        help="serve the gateway over TLS with a self-signed certificate (<data>/gateway/tls); default plaintext",
    )
    parser.add_argument("--no-services", action="store_true", help="start only Redis and FerretDB")
    parser.add_argument(
        "--once", action="store_true", help="start everything, print the summary, check health, stop (for tests)"
    )
    args = parser.parse_args(argv)
    return Options(
        data_dir=Path(args.data_dir).resolve(),
        redis_port=args.redis_port,
        mongo_port=args.mongo_port,
        base_port=args.base_port,
        no_services=args.no_services,
        gateway_port=args.gateway_port,
        gateway_admin_port=args.gateway_admin_port,
        gateway_tls=args.gateway_tls,
        once=args.once,
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the launcher; return the process exit code."""
    options = parse_args(argv)
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop.handle) for sig in _HANDLED_SIGNALS}
    try:
        code = Launcher(options, stop).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("everything stopped")
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``make up`` (``python -m trademesh.devstack.up``, ``trademesh-dev``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    raise SystemExit(run(argv))
