"""The client address of a call: the peer's, or the one the trusted gateway established.

Behind Envoy every caller's peer address is the gateway's, so a per-address login throttle would count
all clients as one. Envoy (``use_remote_address``, ``xff_num_trusted_hops``) establishes the client's
address and sends it in ``x-envoy-external-address``, overwriting whatever a client sent under that
name. The header is believed only when the call's peer is one of the configured trusted proxies (the
gateway's addresses): a client that reaches the service directly cannot choose its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CLIENT_ADDRESS_HEADER", "TrustedProxies", "peer_host"]

#: Set by the gateway (overwritten on every request, never passed through from a client).
CLIENT_ADDRESS_HEADER = "x-envoy-external-address"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5555`` / ``ipv6:[::1]:5555`` → ``127.0.0.1`` / ``::1`` (other forms unchanged)."""
    kind, _, address = peer.partition(":")
    if kind not in ("ipv4", "ipv6") or not address:
        return peer or "unknown"
    host = address.rsplit(":", 1)[0] if kind == "ipv4" or address.startswith("[") else address
    return host.strip("[]")


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose calls may name the client's address (the gateway's)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> TrustedProxies:
        """Parse comma-separated addresses or CIDRs (``127.0.0.2,10.0.0.0/8``); empty trusts nobody."""
        items = text.split(",") if isinstance(text, str) else list(text)
        networks = []
        for item in (entry.strip() for entry in items):
            if item:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP address or network: {item!r}") from None
        return cls(tuple(networks))

    def trusts(self, host: str) -> bool:
        """True if ``host`` (an IP address) is in one of the trusted networks."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str, forwarded: str | None) -> str:
        """The caller's address: ``forwarded`` if the peer is trusted and it is an IP address, else the peer's."""
        host = peer_host(peer)
        if forwarded and self.trusts(host):
            candidate = forwarded.strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return host
        return host
