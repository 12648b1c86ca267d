"""Webhooks: the endpoint a user registers, the address policy (no SSRF), signing, and deliveries with retries.

Pure: no gRPC, database, Redis or HTTP imports.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.sealing import SealedSecret
from trademesh.services.notifications.model.notices import Notification, NotificationKind

URL_MAX_LENGTH = 2048
#: Posts of one delivery before it is dead-lettered.
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
#: How old a `Trademesh-Timestamp` a receiver should accept (the recipe in the README uses it).
REPLAY_WINDOW_SECONDS = 300
SIGNATURE_VERSION = "v1"
TIMESTAMP_HEADER = "Trademesh-Timestamp"
SIGNATURE_HEADER = "Trademesh-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Most notifications one digest post carries.
MAX_DIGEST = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class WebhookDraft:
    """The caller-settable fields of a webhook, as decoded from a request (unvalidated)."""

    url: str = ""
    kinds: frozenset[NotificationKind] = frozenset()

    def validated(self, *, allow_http: bool) -> WebhookDraft:
        """Return the draft normalised, or raise INVALID_ARGUMENT naming the bad field."""
        url = self.url.strip()
        problem = _url_problem(url, allow_http=allow_http)
        if problem:
            raise InvalidArgument("the webhook url is invalid", [FieldViolation("webhook.url", problem)])
        return replace(self, url=url)

    @property
    def host(self) -> str:
        """Return the url's host name (or address literal)."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """Return the url's port (the scheme's default when not given)."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def _url_problem(url: str, *, allow_http: bool) -> str:
    if not url:
        return "is required"
    if len(url) > URL_MAX_LENGTH:
        return f"must be at most {URL_MAX_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "must be an absolute URL with a valid port"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return "must use https" if not allow_http else "must use https or http"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a fragment"
    return ""


def address_refusal(address: Address, allowed: Sequence[Network] = ()) -> str:
    """Return why posting to `address` is refused ('' if it is a public address, or an allowed one).

    Private, loopback, link-local (cloud metadata at 169.254.169.254), shared (100.64/10, another
    metadata range), multicast, reserved and unspecified addresses are refused; an IPv4 address
    mapped into IPv6 is judged as the IPv4 address. `allowed` (development only) lets tests post to a
    local receiver.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return ""
    for what, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return f"{address} is a {what} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return ""


def parse_networks(setting: str) -> list[Network]:
    """Parse a comma-separated list of addresses or CIDR networks (raise ValueError naming a bad one)."""
    networks: list[Network] = []
    for item in (part.strip() for part in setting.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an address or network") from None
    return networks


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the `Trademesh-Signature` value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now: float) -> bool:
    """Check a post as a receiver would: a known signature of this body, a timestamp within the window."""
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    if abs(now - moment) > REPLAY_WINDOW_SECONDS:
        return False
    expected = sign(secret, moment, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


@dataclass(frozen=True, slots=True)
class Webhook:
    """A user's webhook; the signing secret is stored sealed (context: `webhook_context`)."""

    id: str
    user_id: str
    url: str
    kinds: frozenset[NotificationKind]
    secret: SealedSecret
    secret_hint: str
    created_at: datetime
    request_id: str = ""

    def wants(self, kind: NotificationKind) -> bool:
        """Tell whether notifications of `kind` are posted to this webhook (no kinds: every kind)."""
        return not self.kinds or kind in self.kinds


def webhook_context(user_id: str, webhook_id: str) -> bytes:
    """Return the associated data a webhook's secret is sealed with (a secret moved to another row won't open)."""
    return f"webhook:{user_id}:{webhook_id}".encode()


class WebhookDeliveryState(StrEnum):
    """Where one (notification, webhook) delivery is."""

    PENDING = "pending"
    SENT = "sent"
    DEAD_LETTER = "dead_letter"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One notification's delivery to one webhook; its id is the `Idempotency-Key` of every post of it."""

    id: str
    user_id: str
    webhook_id: str
    notification: Notification
    state: WebhookDeliveryState
    next_attempt_at: datetime
    created_at: datetime
    attempts: int = 0
    last_status_code: int = 0
    last_error: str = ""
    finished_at: datetime | None = None

    @property
    def cursor(self) -> str:
        """Return the listing order key: creation time, then id; newest has the largest. Milliseconds, the
        database's precision, so a cursor read back from the store equals the one stored."""
        milliseconds = (self.created_at - _EPOCH) // timedelta(milliseconds=1)
        return f"{milliseconds:015d}|{self.id}"

    @staticmethod
    def id_for(notification_id: str, webhook_id: str) -> str:
        """Return the delivery id (the dedupe of (notification, webhook channel))."""
        return f"{notification_id}:webhook:{webhook_id}"


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Return the wait after the `attempts`-th failed post: exponential (10 s, 20 s, … ≤ 1 h) with jitter
    (a random half to all of it, so many receivers failing at once do not retry in step)."""
    base = min(MAX_RETRY.total_seconds(), FIRST_RETRY.total_seconds() * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * (rng or random).uniform(0.5, 1.0))


def _event(notification: Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "kind": notification.kind.value,
        "title": notification.title,
        "body": notification.body,
        "alert_id": notification.alert_id,
        "create_time": notification.created_at.isoformat().replace("+00:00", "Z"),
    }


def payload(deliveries: Sequence[WebhookDelivery]) -> tuple[str, bytes]:
    """Return the Idempotency-Key and JSON body of one post: a notification, or a digest of several."""
    if len(deliveries) == 1:
        delivery = deliveries[0]
        document: dict[str, object] = {"type": "notification", "notification": _event(delivery.notification)}
        key = delivery.id
    else:
        ids = sorted(delivery.id for delivery in deliveries)
        key = "digest:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        document = {
            "type": "digest",
            "notifications": [
                _event(d.notification) for d in sorted(deliveries, key=lambda d: (d.notification.created_at, d.id))
            ],
        }
    return key, json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def groups(deliveries: Iterable[WebhookDelivery]) -> list[list[WebhookDelivery]]:
    """Group claimed deliveries per webhook (a burst becomes one digest post), at most MAX_DIGEST each."""
    by_hook: dict[str, list[WebhookDelivery]] = {}
    for delivery in deliveries:
        by_hook.setdefault(delivery.webhook_id, []).append(delivery)
    return [group[i : i + MAX_DIGEST] for group in by_hook.values() for i in range(0, len(group), MAX_DIGEST)]
