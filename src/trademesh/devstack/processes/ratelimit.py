"""Envoy's global rate-limit service (envoyproxy/ratelimit) on a local Redis, and its environment."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import ClassVar

from trademesh.devstack.processes.base import _HOST, ManagedProcess, find_free_port, repo_root


def _redis_address(redis_url: str) -> str:
    address = redis_url.removeprefix("redis://").split("/", 1)[0]
    return address.rsplit("@", 1)[-1]


def ratelimit_environment(
    *, grpc_port: int, http_port: int, debug_port: int, redis_url: str, config_root: Path, key_prefix: str = ""
) -> dict[str, str]:
    """The variables envoyproxy/ratelimit reads: loopback ports, Redis over TCP, limits from ``config_root``."""
    config_root = Path(config_root).resolve()
    return {
        "HOST": _HOST,
        "PORT": str(http_port),
        "GRPC_HOST": _HOST,
        "GRPC_PORT": str(grpc_port),
        "DEBUG_HOST": _HOST,
        "DEBUG_PORT": str(debug_port),
        "BACKEND_TYPE": "redis",
        "REDIS_SOCKET_TYPE": "tcp",
        "REDIS_URL": _redis_address(redis_url),
        "CACHE_KEY_PREFIX": key_prefix,
        # The limits are <RUNTIME_ROOT>/<RUNTIME_SUBDIRECTORY>/config/*.yaml, reloaded when they change.
        "RUNTIME_ROOT": str(config_root.parent),
        "RUNTIME_SUBDIRECTORY": config_root.name,
        "RUNTIME_APPDIRECTORY": "config",
        "RUNTIME_IGNOREDOTFILES": "true",
        "RUNTIME_WATCH_ROOT": "false",
        "USE_STATSD": "false",
        "LOG_LEVEL": "warn",
        "LOG_FORMAT": "json",
        # Not healthy until its limits are loaded: a gateway must not count against an empty config.
        "HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED": "true",
    }


class RateLimitServer(ManagedProcess):
    """Envoy's global rate-limit service (envoyproxy/ratelimit) on Redis, for the gateway's per-client limits.

    ``port`` is its gRPC port (Envoy's ``rate_limit_service``); it also listens on an HTTP port
    (``/healthcheck``, what readiness polls) and a debug port, both chosen free. Its configuration is the
    directory ``config_root`` holding ``config/<domain>.yaml`` (written by
    :func:`trademesh.gateway.envoy_config.write_ratelimit_config`), reread when a file in it changes.
    Counters live in Redis under ``key_prefix``, so several services (tests) can share one Redis.
    """

    name: ClassVar[str] = "ratelimit"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        redis_url: str,
        config_root: Path,
        key_prefix: str = "",
        **timeouts: float,
    ) -> None:
        """See :class:`ManagedProcess`; ``redis_url`` is ``redis://host:port[/db]``."""
        super().__init__(data_dir, port, **timeouts)
        self._redis_address = _redis_address(redis_url)
        self._config_root = Path(config_root).resolve()
        self._key_prefix = key_prefix
        self.http_port = find_free_port()
        self._debug_port = find_free_port()

    @property
    def url(self) -> str:
        """``127.0.0.1:PORT``, the gRPC address Envoy calls."""
        return f"{_HOST}:{self._port}"

    @staticmethod
    def binary() -> str:
        """Path of the binary (``TRADEMESH_RATELIMIT_BIN`` or ``<repo>/.tools/bin/ratelimit``)."""
        override = os.environ.get("TRADEMESH_RATELIMIT_BIN")
        path = Path(override) if override else repo_root() / ".tools" / "bin" / "ratelimit"
        if not path.is_file():
            raise FileNotFoundError(f"rate-limit service not found at {path}; run scripts/install-ratelimit.sh")
        return str(path)

    def _environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "TMPDIR")}
        return environment | ratelimit_environment(
            grpc_port=self._port,
            http_port=self.http_port,
            debug_port=self._debug_port,
            redis_url=f"redis://{self._redis_address}",
            config_root=self._config_root,
            key_prefix=self._key_prefix,
        )

    def _command(self) -> list[str]:
        return [self.binary()]

    def _server_pid(self) -> int | None:
        # The service cannot tell its PID; the port was free before our child started (checked by
        # _spawn_and_wait), so a healthy answer there is our child's.
        url = f"http://{_HOST}:{self.http_port}/healthcheck"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                healthy = response.status == 200
        except OSError:
            return None
        proc = self._proc
        return proc.pid if healthy and proc is not None else None
