"""Zerodha client: the official `kiteconnect` client, run in a bounded thread pool.

kiteconnect is synchronous (requests), so every call runs in the executor the service sizes with
TRADEMESH_BROKER_THREADS; the event loop never blocks on Kite. The client's `root` is the configured
base URL (a local fake in tests and `make up`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from trademesh.services.brokers.retry import RequestPacer, RetryPolicy, TransientBrokerError
from trademesh.services.brokers.sessions import (
    BrokerAuthFailed,
    BrokerSession,
    BrokerSessionRejected,
    BrokerUnavailable,
    KiteLogin,
    StoredSession,
)
from trademesh.services.brokers.zerodha.contract_note import attach_charges, contract_note_orders

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _classify(error: Exception) -> Exception:
    """Map a kiteconnect/requests failure to the client's error kinds."""
    if isinstance(error, kite_errors.TokenException):
        return BrokerSessionRejected("TOKEN_INVALID", "Kite rejected the session")
    if isinstance(error, kite_errors.PermissionException):
        return BrokerSessionRejected("BROKER_PERMISSION_DENIED", "Kite denied permission")
    code = getattr(error, "code", 0) or 0
    if isinstance(error, kite_errors.KiteException):
        if code == 429:
            return TransientBrokerError("Kite rate limit hit (429)", rate_limited=True)
        if code >= 500 or isinstance(error, kite_errors.NetworkException | kite_errors.DataException):
            return TransientBrokerError(f"Kite answered {type(error).__name__} ({code})")
        return BrokerUnavailable(f"Kite rejected the request: {type(error).__name__} ({code})")
    if isinstance(error, requests.RequestException):
        return TransientBrokerError(f"Kite unreachable: {type(error).__name__}")
    if isinstance(error, KeyError | ValueError):
        # No Content-Type header, or an undecodable body: the fault of one response, worth a retry.
        return TransientBrokerError(f"Kite sent an unreadable response ({type(error).__name__})")
    return error


def _enrich(trades: list[Any], orders: list[Any]) -> list[Any]:
    """Fill a fill's missing product or timestamp from its order (the order book is also today's)."""
    by_id = {str(order.get("order_id")): order for order in orders if isinstance(order, dict)}
    for trade in trades:
        if not isinstance(trade, dict):
            continue
        order = by_id.get(str(trade.get("order_id")))
        if order is None:
            continue
        if not trade.get("product") and order.get("product"):
            trade["product"] = order["product"]
        if not trade.get("fill_timestamp") and not trade.get("exchange_timestamp"):
            trade["exchange_timestamp"] = order.get("exchange_update_timestamp") or order.get("exchange_timestamp")
    return trades


class KiteAdapter:
    """Zerodha through kiteconnect: sessions, today's trades (enriched from orders), logout."""

    def __init__(
        self,
        base_url: str,
        executor: Executor,
        pacer: RequestPacer,
        retry: RetryPolicy,
        timeout_seconds: float,
    ) -> None:
        self._root = base_url.rstrip("/") + "/"
        self._executor = executor
        self._pacer = pacer
        self._retry = retry
        self._timeout = timeout_seconds
        self.requests_sent = 0

    def _client(self, api_key: str, access_token: str | None = None) -> KiteConnect:
        return KiteConnect(api_key, access_token=access_token, root=self._root, timeout=self._timeout)

    async def _in_thread(self, function: Callable[[], T]) -> T:
        self.requests_sent += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    async def _call(self, client: KiteConnect, function: Callable[[], T]) -> T:
        async def once() -> T:
            try:
                return await self._in_thread(function)
            except Exception as error:
                raise _classify(error) from None

        try:
            return await self._retry.run(self._pacer, client.api_key, once)
        except TransientBrokerError as error:
            raise BrokerUnavailable(str(error), rate_limited=error.rate_limited) from None

    async def create_session(self, login: KiteLogin) -> BrokerSession:
        """Exchange the request token (single use, so never retried) for a session and profile."""
        client = self._client(login.api_key)
        await self._pacer.wait(login.api_key)
        try:
            data = await self._in_thread(lambda: client.generate_session(login.request_token, login.api_secret))
        except (kite_errors.TokenException, kite_errors.InputException, kite_errors.PermissionException):
            raise BrokerAuthFailed("Kite rejected the api key, secret or request token") from None
        except Exception as error:
            classified = _classify(error)
            if isinstance(classified, TransientBrokerError | BrokerUnavailable):
                raise BrokerUnavailable(str(classified)) from None
            raise
        finally:
            client.reqsession.close()
        token = data.get("access_token")
        user_id = data.get("user_id")
        if not isinstance(token, str) or not token or not isinstance(user_id, str) or not user_id:
            raise BrokerUnavailable("Kite's session response lacks access_token or user_id")
        return BrokerSession(
            api_key=login.api_key,
            access_token=token,
            broker_user_id=user_id,
            display_name=str(data.get("user_name") or ""),
        )

    async def fetch_trades(self, session: StoredSession) -> list[Any]:
        """Return today's fills (GET /trades), enriched with the order book (GET /orders)."""
        client = self._client(session.api_key, session.access_token)
        try:
            trades = await self._call(client, lambda: _trades(client))
            orders = await self._call(client, lambda: _orders(client))
            trades = _enrich(trades, orders)
            await self._charge(client, trades)
        finally:
            client.reqsession.close()
        return trades

    async def _charge(self, client: KiteConnect, trades: list[Any]) -> None:
        """Attach Kite's own per-order charges (the virtual contract note) to the fills, best effort.

        Without them (Kite down, a refused order) the trade service computes the charges instead.
        """
        orders = contract_note_orders(trades)
        # Currency orders go apart: a refusal of one group must not cost the other its charges.
        currency = [order for order in orders if order["exchange"] in ("CDS", "BCD")]
        for group in ([order for order in orders if order not in currency], currency):
            if not group:
                continue
            request = functools.partial(client.get_virtual_contract_note, group)
            try:
                answer: Any = await self._call(client, request)
            except Exception as error:
                logger.info("Kite's virtual contract note failed (%s); charges will be computed", type(error).__name__)
                continue
            if isinstance(answer, list):
                attach_charges(trades, group, answer)

    async def revoke(self, session: StoredSession) -> None:
        """Invalidate the access token at Kite (best effort)."""
        client = self._client(session.api_key, session.access_token)
        try:
            await self._pacer.wait(session.api_key)
            await self._in_thread(client.invalidate_access_token)
        except Exception as error:
            logger.info("revoking a Kite session failed (%s); it expires at 06:00 IST anyway", type(error).__name__)
        finally:
            client.reqsession.close()


def _trades(client: KiteConnect) -> list[Any]:
    try:
        result = client.trades()
    except ValueError:
        # kiteconnect parses 19-character timestamps itself and fails the whole list on one bad
        # row; read the raw list instead so that row alone is reported.
        result = client._get("trades")
    return _as_list(result)


def _orders(client: KiteConnect) -> list[Any]:
    try:
        result = client.orders()
    except ValueError:
        result = client._get("orders")
    return _as_list(result)


def _as_list(result: Any) -> list[Any]:
    if not isinstance(result, list):
        raise TransientBrokerError(f"Kite returned {type(result).__name__} where a list was expected")
    return result
