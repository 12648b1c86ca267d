"""What a broker client is given and gives back: logins, sessions, and the failures it reports.

Pure values and exceptions (no HTTP): the sync service's port speaks them, each broker's client implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BrokerAuthFailed",
    "BrokerSession",
    "BrokerSessionRejected",
    "BrokerUnavailable",
    "KiteLogin",
    "Login",
    "StoredSession",
    "UpstoxLogin",
]


@dataclass(frozen=True, slots=True)
class KiteLogin:
    """A Kite Connect login to exchange for a session (never stored)."""

    api_key: str
    api_secret: str
    request_token: str


@dataclass(frozen=True, slots=True)
class UpstoxLogin:
    """An Upstox OAuth code to exchange for a token (never stored)."""

    client_id: str
    client_secret: str
    redirect_uri: str
    authorization_code: str


Login = KiteLogin | UpstoxLogin


@dataclass(frozen=True, slots=True)
class BrokerSession:
    """What a broker login yields: the session to store and who logged in.

    The session was created by the exchange that returned it, so its expiry is computed from the
    service's clock at that moment (Kite: next 06:00 IST, Upstox: next 03:30 IST).
    """

    api_key: str
    access_token: str
    broker_user_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class StoredSession:
    """The decrypted session of an account."""

    api_key: str
    access_token: str


class BrokerAuthFailed(Exception):
    """Raise (client) when the broker rejects a login: key, secret, request token or redirect URI."""


class BrokerSessionRejected(Exception):
    """Raise (client) when the broker rejects a stored session.

    `reason` is TOKEN_INVALID or BROKER_PERMISSION_DENIED.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BrokerUnavailable(Exception):
    """Raise (client) when the broker cannot answer after retries (network, 5xx, timeouts, 429)."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited
