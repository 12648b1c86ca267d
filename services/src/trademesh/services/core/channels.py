"""gRPC channels from one service to another, balanced per call over every ready replica.

A channel to a ClusterIP Service is one long-lived HTTP/2 connection to one pod: the pods an autoscaler
adds get nothing from the callers that already exist. These channels resolve a *headless* Service
(`dns:///trademesh-trade-headless:50051`, one address per ready pod) and spread calls over every address
with gRPC's `round_robin` policy. The servers end connections after `grpc_max_connection_age_seconds`
(`server_options`), and a closed connection makes the channel resolve the name again, so new replicas
join within about that time (docs/decisions/0043-scaling-and-balancing.md).
"""

from __future__ import annotations

import json
from typing import Any

from grpc import aio

#: Spread calls over every resolved address (gRPC's default, pick_first, uses only one).
ROUND_ROBIN_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

#: Shortest time between two DNS resolutions of one channel (gRPC's default is 30 s); Envoy's STRICT_DNS
#: clusters refresh every 5 s too.
DEFAULT_RESOLVE_INTERVAL_SECONDS = 5.0


def channel_options(
    *, max_message_bytes: int | None = None, resolve_interval_seconds: float = DEFAULT_RESOLVE_INTERVAL_SECONDS
) -> list[tuple[str, Any]]:
    """Return the options of a service-to-service channel: round robin, frequent re-resolution."""
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", ROUND_ROBIN_SERVICE_CONFIG),
        # The policy is ours; a TXT record in the cluster's DNS must not replace it.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.dns_min_time_between_resolutions_ms", int(resolve_interval_seconds * 1000)),
    ]
    if max_message_bytes is not None:
        options += [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
    return options


def build_channel(
    target: str,
    *,
    max_message_bytes: int | None = None,
    resolve_interval_seconds: float = DEFAULT_RESOLVE_INTERVAL_SECONDS,
) -> aio.Channel:
    """Open a plaintext channel to another service that balances each call over the target's addresses.

    `target` is a gRPC name: `dns:///trademesh-trade-headless:50051` in the cluster, `127.0.0.1:50052`
    in development (one address, so round robin is pick-first there).
    """
    return aio.insecure_channel(
        target,
        options=channel_options(max_message_bytes=max_message_bytes, resolve_interval_seconds=resolve_interval_seconds),
    )


class LazyChannel:
    """A channel to another service, opened on first use (a service may start before its peers) and closed once."""

    def __init__(self, target: str, *, max_message_bytes: int | None = None) -> None:
        self._target = target
        self._max_message_bytes = max_message_bytes
        self._channel: aio.Channel | None = None

    def get(self) -> aio.Channel:
        """Return the channel, opening it the first time."""
        if self._channel is None:
            self._channel = build_channel(self._target, max_message_bytes=self._max_message_bytes)
        return self._channel

    async def close(self) -> None:
        """Close the channel if it was opened."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()
