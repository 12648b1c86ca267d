"""Upstox client: the Upstox API v2 over aiohttp (there is no maintained async client)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from trademesh.services.brokers.retry import RequestPacer, RetryPolicy, TransientBrokerError
from trademesh.services.brokers.sessions import (
    BrokerAuthFailed,
    BrokerSession,
    BrokerSessionRejected,
    BrokerUnavailable,
    StoredSession,
    UpstoxLogin,
)

logger = logging.getLogger(__name__)

TOKEN_PATH = "/v2/login/authorization/token"
TRADES_PATH = "/v2/order/trades/get-trades-for-day"
PROFILE_PATH = "/v2/user/profile"
LOGOUT_PATH = "/v2/logout"


class UpstoxAdapter:
    """Upstox through its HTTP API: code exchange, today's trades, logout."""

    def __init__(self, base_url: str, pacer: RequestPacer, retry: RetryPolicy, timeout_seconds: float) -> None:
        self._base = base_url.rstrip("/")
        self._pacer = pacer
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            async with self._http().request(
                method, self._base + path, headers={"Accept": "application/json", **kwargs.pop("headers", {})}, **kwargs
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientBrokerError(f"Upstox unreachable: {type(error).__name__}") from None
        if status == 429:
            raise TransientBrokerError("Upstox rate limit hit (429)", rate_limited=True)
        if status >= 500:
            raise TransientBrokerError(f"Upstox answered HTTP {status}")
        try:
            return status, json.loads(body)
        except ValueError:
            raise TransientBrokerError("Upstox sent a body that is not JSON") from None

    async def create_session(self, login: UpstoxLogin) -> BrokerSession:
        """Exchange the authorization code (single use, so never retried) for a token."""
        form = {
            "code": login.authorization_code,
            "client_id": login.client_id,
            "client_secret": login.client_secret,
            "redirect_uri": login.redirect_uri,
            "grant_type": "authorization_code",
        }
        await self._pacer.wait(login.client_id)
        try:
            status, data = await self._request("POST", TOKEN_PATH, data=form)
        except TransientBrokerError as error:
            raise BrokerUnavailable(str(error)) from None
        if status in (400, 401, 403):
            raise BrokerAuthFailed("Upstox rejected the client id, secret, code or redirect URI")
        if status != 200 or not isinstance(data, dict):
            raise BrokerUnavailable(f"Upstox answered HTTP {status} to the code exchange")
        token, user_id = data.get("access_token"), data.get("user_id")
        if not isinstance(token, str) or not token or not isinstance(user_id, str) or not user_id:
            raise BrokerUnavailable("Upstox's token response lacks access_token or user_id")
        return BrokerSession(
            api_key=login.client_id,
            access_token=token,
            broker_user_id=user_id,
            display_name=str(data.get("user_name") or ""),
        )

    async def fetch_trades(self, session: StoredSession) -> list[Any]:
        """Return today's trades (GET /v2/order/trades/get-trades-for-day)."""
        headers = {"Authorization": f"Bearer {session.access_token}"}

        async def once() -> list[Any]:
            status, data = await self._request("GET", TRADES_PATH, headers=headers)
            if status == 401:
                raise BrokerSessionRejected("TOKEN_INVALID", "Upstox rejected the session")
            if status == 403:
                raise BrokerSessionRejected("BROKER_PERMISSION_DENIED", "Upstox denied permission")
            if status != 200 or not isinstance(data, dict) or data.get("status") != "success":
                raise BrokerUnavailable(f"Upstox answered HTTP {status} to the trades request")
            rows = data.get("data")
            if not isinstance(rows, list):
                raise TransientBrokerError("Upstox returned no trade list")
            return rows

        try:
            return await self._retry.run(self._pacer, session.api_key, once)
        except TransientBrokerError as error:
            raise BrokerUnavailable(str(error), rate_limited=error.rate_limited) from None

    async def revoke(self, session: StoredSession) -> None:
        """Log the session out at Upstox (best effort)."""
        try:
            await asyncio.wait_for(
                self._request("DELETE", LOGOUT_PATH, headers={"Authorization": f"Bearer {session.access_token}"}),
                timeout=self._timeout.total,
            )
        except Exception as error:
            logger.info("revoking an Upstox session failed (%s); it expires at 03:30 IST anyway", type(error).__name__)
