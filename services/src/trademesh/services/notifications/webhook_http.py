"""The aiohttp adapters of the webhook ports: a system resolver, and a sender that connects only to allowed addresses.

The address is checked again at connect time, not only when the webhook was created: the sender's
resolver refuses a host whose addresses are not public (a DNS answer that changed to 127.0.0.1 or the
cloud metadata address after creation is refused), an address literal is checked before connecting,
redirects are not followed, and proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from opentelemetry import metrics

from trademesh.services.notifications.model.webhooks import Address, Network, address_refusal
from trademesh.services.notifications.ports import PostResult

#: How much of a receiver's answer is read (and kept in the delivery's error).
MAX_ANSWER_BYTES = 512
_POSTS = metrics.get_meter(__name__).create_counter(
    "trademesh.notifications.webhook_posts",
    unit="{post}",
    description="Webhook posts by outcome: 2xx, 3xx, 4xx, 5xx, refused (address policy) or error (network).",
)


class SystemResolver:
    """Resolve host names with the system resolver (getaddrinfo in a thread)."""

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Return every address of `host`; raise OSError when it does not resolve."""
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError as error:  # "a..b": the IDNA codec refuses an empty label before any lookup
            raise OSError(f"{host!r} is not a valid host name") from error
        return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


class AddressRefused(OSError):
    """Raise when a webhook's host resolves to an address the policy refuses."""


class _GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Sequence[Network]) -> None:
        self._inner = ThreadedResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            problem = address_refusal(ipaddress.ip_address(result["host"].split("%")[0]), self._allowed)
            if problem:
                raise AddressRefused(f"refused to connect to {host}: {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class HttpWebhookSender:
    """Post webhooks with one aiohttp session (created on first use, closed by `close`)."""

    def __init__(self, *, allowed: Sequence[Network] = (), timeout_seconds: float = 10.0, user_agent: str = "") -> None:
        self._allowed = list(allowed)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._user_agent = user_agent or "trademesh-webhooks/1"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self._allowed), use_dns_cache=False)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        """Post once; a refused address, a network error or a timeout is a failed result, never raised."""
        result = await self._post(url, body, headers)
        if result.status_code:
            outcome = f"{result.status_code // 100}xx"
        else:
            outcome = "refused" if result.error.startswith("refused") else "error"
        _POSTS.add(1, {"outcome": outcome})
        return result

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        host = urlsplit(url).hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            problem = address_refusal(literal, self._allowed)
            if problem:
                return PostResult(0, f"refused to connect: {problem}")
        try:
            async with self._client().post(
                url, data=body, headers={**headers, "User-Agent": self._user_agent}, allow_redirects=False
            ) as response:
                answer = (await response.content.read(MAX_ANSWER_BYTES)).decode("utf-8", "replace")
                error = "" if 200 <= response.status < 300 else f"HTTP {response.status}: {answer[:200]}".strip()
                return PostResult(response.status, error)
        except AddressRefused as refused:
            return PostResult(0, str(refused))
        except aiohttp.ClientConnectorError as error:
            cause = error.os_error
            if isinstance(cause, AddressRefused):
                return PostResult(0, str(cause))
            return PostResult(0, f"cannot connect: {error}")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return PostResult(0, f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
