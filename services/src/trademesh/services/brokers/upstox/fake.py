"""A local HTTP server answering like Upstox API v2, over the shared scriptable book.

`/v2/login/authorization/token` (form, reply not enveloped), `/v2/order/trades/get-trades-for-day`,
`/v2/logout`, errors `{"status": "error", "errors": [{"errorCode": ..., "message": ...}]}`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from trademesh.kernel.calendar import IST
from trademesh.services.brokers.fake_server import BrokerApp, FakeBrokerServer, Fault, FaultKind, next_row_number

UPSTOX_TIME = "%d-%b-%Y %H:%M:%S"


def upstox_trade(
    symbol: str = "INFY",
    exchange: str = "NSE",
    side: str = "BUY",
    quantity: int = 1,
    price: float = 1500.5,
    when: datetime | None = None,
    product: str = "D",
    trade_id: str | None = None,
) -> dict[str, Any]:
    """Return a trade row as Upstox's GET /v2/order/trades/get-trades-for-day lists it."""
    moment = (when or datetime.now(IST) - timedelta(minutes=5)).astimezone(IST)
    number = next_row_number()
    return {
        "exchange": exchange,
        "product": product,
        "trading_symbol": symbol,
        "tradingsymbol": symbol,
        "instrument_token": f"{exchange}_EQ|INE009A01021",
        "order_type": "MARKET",
        "transaction_type": side,
        "quantity": quantity,
        "exchange_order_id": str(1_000_000_000_000_000 + number),
        "order_id": f"2310{number}",
        "exchange_timestamp": moment.strftime(UPSTOX_TIME),
        "average_price": price,
        "trade_id": trade_id or str(number),
        "order_ref_id": "",
        "order_timestamp": moment.strftime(UPSTOX_TIME),
    }


class FakeUpstox(FakeBrokerServer):
    """Upstox API v2."""

    def routes(self) -> list[web.RouteDef]:
        """Return the Upstox routes the sync service uses."""
        return [
            web.post("/v2/login/authorization/token", self._token),
            web.get("/v2/order/trades/get-trades-for-day", self._trades),
            web.delete("/v2/logout", self._logout),
        ]

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        body = {"status": "error", "errors": [{"errorCode": code, "message": message, "propertyPath": None}]}
        return web.json_response(body, status=status)

    async def _apply_fault(self, app: BrokerApp, path: str) -> web.Response | None:
        fault: Fault | None = app.next_fault(path)
        if fault is None:
            return None
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind is FaultKind.MALFORMED:
            return web.Response(text="<html>gateway error", content_type="application/json")
        if fault.kind is FaultKind.EXPIRED:
            app.access_tokens.clear()
            return self._error(401, "UDAPI100050", "Invalid token used to access API")
        return self._error(fault.status, "UDAPI100500", "Something went wrong")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        app = self.apps.get(str(form.get("client_id", "")))
        if app is None or form.get("client_secret") != app.api_secret:
            return self._error(401, "UDAPI100016", "Invalid Credentials")
        if not app.count_request(self.rate_limit, self.clock()):
            return self._error(429, "UDAPI10005", "Too many requests")
        if (fault := await self._apply_fault(app, request.path)) is not None:
            return fault
        if form.get("redirect_uri") != app.redirect_uri or form.get("grant_type") != "authorization_code":
            return self._error(400, "UDAPI100069", "Check your 'redirect_uri'")
        if not app.use_login_token(str(form.get("code", ""))):
            return self._error(400, "UDAPI100057", "Invalid Auth code")
        return web.json_response(
            {
                "email": f"{app.user_id.lower()}@example.com",
                "exchanges": ["NSE", "NFO", "BSE", "CDS", "BFO", "MCX"],
                "products": ["D", "CO", "I"],
                "broker": "UPSTOX",
                "user_id": app.user_id,
                "user_name": app.user_name,
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "user_type": "individual",
                "poa": False,
                "is_active": True,
                "access_token": app.new_access_token(),
                "extended_token": None,
            }
        )

    def _app_of(self, request: web.Request) -> BrokerApp | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            return None
        return next((app for app in self.apps.values() if token in app.issued_tokens), None)

    async def _trades(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        app = self._app_of(request)
        if app is not None:
            if not app.count_request(self.rate_limit, self.clock()):
                return self._error(429, "UDAPI10005", "Too many requests")
            if (fault := await self._apply_fault(app, request.path)) is not None:
                return fault
        if app is None or token not in app.access_tokens:
            return self._error(401, "UDAPI100050", "Invalid token used to access API")
        return web.json_response({"status": "success", "data": app.trades})

    async def _logout(self, request: web.Request) -> web.Response:
        app = self._app_of(request)
        if app is not None:
            app.access_tokens.discard(request.headers.get("Authorization", "").partition(" ")[2])
        return web.json_response({"status": "success", "data": True})
