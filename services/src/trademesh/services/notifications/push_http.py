"""The Web Push adapter (`PushSender` port): pywebpush encrypts (RFC 8291, aes128gcm via http_ece) and signs VAPID
(RFC 8292, via py_vapid), and posts over one aiohttp session whose resolver refuses non-public addresses (the
webhooks' SSRF guard: a subscription endpoint is an address a user chose). Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from opentelemetry import metrics
from py_vapid import Vapid, Vapid01
from pywebpush import WebPushException, webpush_async

from trademesh.services.notifications.model.push import PushSubscription, SendOutcome, encode_base64url
from trademesh.services.notifications.model.webhooks import Network, address_refusal
from trademesh.services.notifications.webhook_http import AddressRefused, _GuardedResolver

#: Answers a push service gives for a subscription that no longer exists (RFC 8030 §7.3: delete it).
GONE_STATUSES = frozenset({404, 410})
#: Answers retrying cannot change: a malformed request, a payload too large.
PERMANENT_STATUSES = frozenset({400, 413})
_PUSHES = metrics.get_meter(__name__).create_counter(
    "trademesh.notifications.web_pushes",
    unit="{push}",
    description="Web Push posts by outcome: 2xx, gone (404/410), 4xx, 5xx, refused (address policy) or error.",
)


class VapidKeyError(ValueError):
    """Raise when the VAPID private key setting cannot be read."""


def load_vapid(private_key: str) -> Vapid01:
    """Return the VAPID signer of a private key: the raw 32-byte P-256 scalar in base64url (what `make up`
    generates), or a PEM / base64 DER key. Raise VapidKeyError naming the problem (never the key)."""
    text = private_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            return Vapid.from_pem(text.encode())
        return Vapid.from_string(text)
    except Exception as error:
        raise VapidKeyError(f"not a P-256 private key ({type(error).__name__})") from None


def vapid_public_key(vapid: Vapid01) -> str:
    """Return the `applicationServerKey` a browser subscribes with: the uncompressed public point, base64url."""
    point = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return encode_base64url(point)


async def _refuse_redirect(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    raise AddressRefused(f"refused to follow a redirect from {params.url}: push services do not redirect")


class WebPushSender:
    """Send Web Push messages with one aiohttp session (created on first use, closed by `close`)."""

    def __init__(
        self, *, vapid: Vapid01, subject: str, allowed: Sequence[Network] = (), timeout_seconds: float = 10.0
    ) -> None:
        self._vapid = vapid
        self._subject = subject
        self._allowed = list(allowed)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self._allowed), use_dns_cache=False)
            # pywebpush posts without allow_redirects=False; a redirect (possibly to an address literal, which
            # skips the resolver) is refused here instead of followed.
            refuse_redirects = aiohttp.TraceConfig()
            refuse_redirects.on_request_redirect.append(_refuse_redirect)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False, trace_configs=[refuse_redirects]
            )
        return self._session

    async def push(self, subscription: PushSubscription, payload: bytes, topic: str, ttl_seconds: int) -> SendOutcome:
        """Encrypt and post once; a refusal, a network error or a push service's error answer is the outcome."""
        outcome = await self._push(subscription, payload, topic, ttl_seconds)
        if outcome.gone:
            label = "gone"
        elif outcome.status_code:
            label = f"{outcome.status_code // 100}xx"
        else:
            label = "refused" if outcome.error.startswith("refused") else "error"
        _PUSHES.add(1, {"outcome": label})
        return outcome

    async def _push(self, subscription: PushSubscription, payload: bytes, topic: str, ttl_seconds: int) -> SendOutcome:
        host = urlsplit(subscription.endpoint).hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and (problem := address_refusal(literal, self._allowed)):
            return SendOutcome(0, f"refused to connect: {problem}")
        info: dict[str, Any] = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            # A fresh claims dict per push: webpush_async fills in `aud` (the endpoint's origin) and `exp`.
            response = await webpush_async(
                info,
                data=payload,
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},
                ttl=ttl_seconds,
                headers={"Topic": topic, "Urgency": "normal"},
                aiohttp_session=self._client(),
                timeout=self._timeout,
            )
        except WebPushException as refused:
            status = refused.status_code or 0
            return SendOutcome(
                status,
                f"the push service answered HTTP {status}",
                gone=status in GONE_STATUSES,
                permanent=status in PERMANENT_STATUSES,
            )
        except AddressRefused as refused:
            return SendOutcome(0, str(refused))
        except aiohttp.ClientConnectorError as error:
            cause = error.os_error
            if isinstance(cause, AddressRefused):
                return SendOutcome(0, str(cause))
            return SendOutcome(0, f"cannot connect: {error}")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return SendOutcome(0, f"{type(error).__name__}: {error}")
        return SendOutcome(response.status)

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
