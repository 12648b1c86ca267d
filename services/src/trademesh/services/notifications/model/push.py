"""Web Push subscriptions, phone numbers, and deliveries of the push and SMS channels with their retries.

Pure: no gRPC, database, Redis or HTTP imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

import phonenumbers
from cryptography.hazmat.primitives.asymmetric import ec

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.notifications.model.notices import Channel, Notification
from trademesh.services.notifications.model.webhooks import Network

ENDPOINT_MAX_LENGTH = 2048
USER_AGENT_MAX_LENGTH = 200
#: Bytes of an uncompressed P-256 point (0x04, X, Y): the browser's `p256dh` key.
P256_POINT_BYTES = 65
#: Bytes of the browser's `auth` secret (RFC 8291 §3.2).
AUTH_SECRET_BYTES = 16
#: Characters of one SMS (one GSM-7 segment); longer bodies are cut.
SMS_MAX_LENGTH = 160
#: The region a phone number without a leading "+" is read in (Indian traders: +91).
DEFAULT_PHONE_REGION = "IN"
PHONE_MAX_LENGTH = 32
#: How long a push service keeps a push for an offline browser (RFC 8030 TTL, seconds).
PUSH_TTL_SECONDS = 24 * 3600
#: Push payload limit: 4096 bytes of ciphertext leave 3993 bytes of plaintext (RFC 8291 §4); we stay well under.
PUSH_BODY_MAX_BYTES = 3000


def decode_base64url(text: str) -> bytes | None:
    """Decode base64url with or without padding; None when it is not base64url."""
    if not text or any(ch not in _B64URL for ch in text.rstrip("=")):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def encode_base64url(data: bytes) -> str:
    """Encode base64url without padding (as browsers and VAPID write keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class PushSubscriptionDraft:
    """A browser's PushSubscription as decoded from a request (unvalidated)."""

    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    user_agent: str = ""

    def validated(self, *, http_networks: Sequence[Network] = ()) -> PushSubscriptionDraft:
        """Return the draft normalised (keys base64url without padding), or raise INVALID_ARGUMENT naming every
        bad field. A key must decode to the right length; `p256dh` must also be a point on P-256. The endpoint is
        https, or http to an address literal inside `http_networks` (development: the local push service)."""
        endpoint = self.endpoint.strip()
        violations: list[FieldViolation] = []
        problem = _endpoint_problem(endpoint, http_networks=http_networks)
        if problem:
            violations.append(FieldViolation("subscription.endpoint", problem))
        point = decode_base64url(self.p256dh.strip())
        if point is None or not _is_p256_point(point):
            violations.append(
                FieldViolation("subscription.p256dh", "must be base64url of an uncompressed P-256 point (65 bytes)")
            )
        secret = decode_base64url(self.auth.strip())
        if secret is None or len(secret) != AUTH_SECRET_BYTES:
            violations.append(FieldViolation("subscription.auth", "must be base64url of 16 bytes"))
        if len(self.user_agent) > USER_AGENT_MAX_LENGTH:
            violations.append(
                FieldViolation("subscription.user_agent", f"must be at most {USER_AGENT_MAX_LENGTH} characters")
            )
        if violations:
            raise InvalidArgument("the push subscription is invalid", violations)
        assert point is not None
        assert secret is not None
        return replace(
            self,
            endpoint=endpoint,
            p256dh=encode_base64url(point),
            auth=encode_base64url(secret),
            user_agent=self.user_agent.strip(),
        )

    @property
    def host(self) -> str:
        """Return the endpoint's host name (or address literal)."""
        return urlsplit(self.endpoint).hostname or ""

    @property
    def port(self) -> int:
        """Return the endpoint's port (the scheme's default when not given)."""
        parts = urlsplit(self.endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)


def _is_p256_point(point: bytes) -> bool:
    if len(point) != P256_POINT_BYTES or point[0] != 0x04:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:  # not on the curve: no payload could ever be encrypted to it
        return False
    return True


def _http_allowed(host: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _endpoint_problem(url: str, *, http_networks: Sequence[Network]) -> str:
    if not url:
        return "is required"
    if len(url) > ENDPOINT_MAX_LENGTH:
        return f"must be at most {ENDPOINT_MAX_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "must be an absolute URL with a valid port"
    if not parts.hostname:
        return "must name a host"
    if parts.scheme != "https" and not (parts.scheme == "http" and _http_allowed(parts.hostname, http_networks)):
        return "must use https"
    try:
        parts.hostname.encode("idna")
    except UnicodeError:  # an empty or over-long label: no resolver would take it
        return "must name a valid host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a fragment"
    return ""


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's Web Push subscription registered by a user (one per (user, endpoint))."""

    id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str
    user_agent: str
    created_at: datetime


def normalize_phone(text: str, field: str = "preferences.phone_number") -> str:
    """Return the number in E.164 ('' stays ''), reading one without '+' as Indian (+91); raise INVALID_ARGUMENT
    when it is not a valid number."""
    text = text.strip()
    if not text:
        return ""
    problem = "must be a valid phone number in E.164 (e.g. +919876543210)"
    if len(text) > PHONE_MAX_LENGTH:
        raise InvalidArgument("the phone number is invalid", [FieldViolation(field, problem)])
    try:
        number = phonenumbers.parse(text, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidArgument("the phone number is invalid", [FieldViolation(field, problem)]) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument("the phone number is invalid", [FieldViolation(field, problem)])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sms_body(notification: Notification) -> str:
    """Return the SMS text of a notification: its title, then as much of its body as fits in 160 characters."""
    text = " ".join(f"{notification.title}: {notification.body}".split())
    if len(text) <= SMS_MAX_LENGTH:
        return text
    return text[: SMS_MAX_LENGTH - 3].rstrip() + "..."


def push_payload(notification: Notification) -> bytes:
    """Return the JSON a service worker shows (`tag` = the notification id, so a repeat replaces, not adds)."""
    body = notification.body
    document = {
        "id": notification.id,
        "kind": notification.kind.value,
        "title": notification.title,
        "body": body,
        "alert_id": notification.alert_id,
        "create_time": notification.created_at.isoformat().replace("+00:00", "Z"),
        "tag": notification.id,
    }
    encoded = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    while len(encoded) > PUSH_BODY_MAX_BYTES and body:
        body = body[: len(body) // 2]
        document["body"] = body + "..."
        encoded = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return encoded


def push_topic(delivery_id: str) -> str:
    """Return the RFC 8030 `Topic` of a delivery (≤ 32 base64url characters): a resend of the same delivery
    replaces the copy the push service still holds, so an offline browser gets it once."""
    return encode_base64url(hashlib.sha256(delivery_id.encode()).digest()[:24])


class ChannelDeliveryState(StrEnum):
    """Where one push or SMS delivery is."""

    PENDING = "pending"
    SENT = "sent"
    DEAD_LETTER = "dead_letter"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class ChannelDelivery:
    """One notification's delivery on the push channel (to one subscription) or the SMS channel (to one number).

    Its id is the dedupe: `<notification>:push:<subscription>` or `<notification>:sms`."""

    id: str
    user_id: str
    channel: Channel
    #: The push subscription id, or the E.164 phone number.
    target: str
    notification: Notification
    state: ChannelDeliveryState
    next_attempt_at: datetime
    created_at: datetime
    attempts: int = 0
    last_status_code: int = 0
    last_error: str = ""
    finished_at: datetime | None = None

    @staticmethod
    def push_id(notification_id: str, subscription_id: str) -> str:
        """Return the id of a notification's push to one subscription."""
        return f"{notification_id}:push:{subscription_id}"

    @staticmethod
    def sms_id(notification_id: str) -> str:
        """Return the id of a notification's SMS."""
        return f"{notification_id}:sms"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one push or SMS attempt got: the provider's HTTP status (0 if none) and an error; `gone` when the
    target no longer exists (a push subscription answered 404/410), `permanent` when retrying cannot help."""

    status_code: int
    error: str = ""
    gone: bool = False
    permanent: bool = False

    @property
    def ok(self) -> bool:
        """Tell whether the provider took it (a 2xx status)."""
        return 200 <= self.status_code < 300
