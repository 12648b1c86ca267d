"""A local HTTP server answering like Kite Connect v3, over the shared scriptable book.

Every route at the server root (kiteconnect joins routes to `root` with urljoin); JSON envelopes
`{"status": "success", "data": ...}`; errors `{"status": "error", "message": ..., "error_type": ...}` with
the API's HTTP statuses; `X-Kite-Version: 3` and `Authorization: token api_key:access_token` required;
`/session/token` checks sha256(api_key + request_token + api_secret); 429 past the rate limit (10
requests/s per app by default). `GET /instruments[/{exchange}]` serves the instrument master CSV
(data/instruments.csv). `POST /charges/orders` (the virtual contract note) is answered from
trademesh.kernel.charges' schedules with Kite's API rounding. Row shapes follow the real API (checked
against the kiteconnect-mocks samples in tests/sync/data).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from trademesh.kernel.calendar import IST
from trademesh.kernel.charges import Broker, Exchange, Fill, FillCharges, Segment, Side, charge_fills, load_schedule
from trademesh.services.brokers.fake_server import BrokerApp, FakeBrokerServer, FaultKind, Handler, next_row_number

KITE_TIME = "%Y-%m-%d %H:%M:%S"
INSTRUMENTS_CSV = Path(__file__).parent / "data" / "instruments.csv"
_KITE_ERRORS = {
    400: "InputException",
    403: "TokenException",
    429: "NetworkException",
    500: "GeneralException",
    502: "DataException",
    503: "NetworkException",
}


def kite_trade(
    symbol: str = "INFY",
    exchange: str = "NSE",
    side: str = "BUY",
    quantity: int = 1,
    price: float = 1500.5,
    when: datetime | None = None,
    product: str = "CNC",
    trade_id: str | None = None,
) -> dict[str, Any]:
    """Return a trade row exactly as Kite's GET /trades lists it."""
    moment = (when or datetime.now(IST) - timedelta(minutes=5)).astimezone(IST)
    number = next_row_number()
    stamp = moment.strftime(KITE_TIME)
    return {
        "trade_id": trade_id or str(number),
        "order_id": str(200_000_000_000_000 + number),
        "exchange": exchange,
        "tradingsymbol": symbol,
        "instrument_token": 408065,
        "product": product,
        "average_price": price,
        "quantity": quantity,
        "exchange_order_id": str(300_000_000_000_000 + number),
        "transaction_type": side,
        "fill_timestamp": stamp,
        "order_timestamp": moment.strftime("%H:%M:%S"),
        "exchange_timestamp": stamp,
    }


def kite_order_of(trade: dict[str, Any]) -> dict[str, Any]:
    """Return the COMPLETE order a Kite fill belongs to, as GET /orders lists it."""
    return {
        "placed_by": "XXXXXX",
        "order_id": trade.get("order_id"),
        "exchange_order_id": trade.get("exchange_order_id"),
        "parent_order_id": None,
        "status": "COMPLETE",
        "status_message": None,
        "status_message_raw": None,
        "order_timestamp": trade.get("fill_timestamp"),
        "exchange_update_timestamp": trade.get("fill_timestamp"),
        "exchange_timestamp": trade.get("exchange_timestamp"),
        "variety": "regular",
        "modified": False,
        "exchange": trade.get("exchange"),
        "tradingsymbol": trade.get("tradingsymbol"),
        "instrument_token": trade.get("instrument_token"),
        "order_type": "MARKET",
        "transaction_type": trade.get("transaction_type"),
        "validity": "DAY",
        "product": trade.get("product"),
        "quantity": trade.get("quantity"),
        "disclosed_quantity": 0,
        "price": 0,
        "trigger_price": 0,
        "average_price": trade.get("average_price"),
        "filled_quantity": trade.get("quantity"),
        "pending_quantity": 0,
        "cancelled_quantity": 0,
        "market_protection": 0,
        "meta": {},
        "tag": None,
        "guid": "XXXXXX",
    }


class FakeKite(FakeBrokerServer):
    """Kite Connect v3."""

    def __init__(self, rate_limit: float = 10.0) -> None:
        super().__init__(rate_limit)
        #: The trade date `POST /charges/orders` charges the day's orders on (tests pin it).
        self.charges_date: Callable[[], date] = lambda: datetime.now(IST).date()
        #: The instrument master `GET /instruments` serves (Kite's CSV; data/README.md says where it is from).
        self.instruments_csv = INSTRUMENTS_CSV.read_text()

    def routes(self) -> list[web.RouteDef]:
        """Return the Kite routes the sync service uses."""
        return [
            web.post("/session/token", self._session),
            web.delete("/session/token", self._logout),
            web.get("/user/profile", self._authorized(self._profile)),
            web.get("/trades", self._authorized(self._trades)),
            web.get("/orders", self._authorized(self._orders)),
            web.post("/charges/orders", self._authorized_request(self._charges)),
            web.get("/instruments", self._instruments),
            web.get("/instruments/{exchange}", self._instruments),
        ]

    @staticmethod
    def _ok(data: Any) -> web.Response:
        return web.json_response({"status": "success", "data": data})

    @staticmethod
    def _error(status: int, message: str, error_type: str | None = None) -> web.Response:
        return web.json_response(
            {"status": "error", "message": message, "data": None, "error_type": error_type or _KITE_ERRORS[status]},
            status=status,
        )

    async def _apply_fault(self, app: BrokerApp, path: str) -> web.Response | None:
        fault = app.next_fault(path)
        if fault is None:
            return None
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind is FaultKind.MALFORMED:
            return web.Response(text='{"status": "success", "data": [{"trade_id": ', content_type="application/json")
        if fault.kind is FaultKind.EXPIRED:
            app.access_tokens.clear()
            return self._error(403, "Incorrect `api_key` or `access_token`.", "TokenException")
        message = "Too many requests" if fault.status == 429 else "Something went wrong"
        return self._error(fault.status, message)

    def _authorized(self, handler: Callable[[BrokerApp], Awaitable[web.Response]]) -> Handler:
        async def with_app(app: BrokerApp, request: web.Request) -> web.Response:
            return await handler(app)

        return self._authorized_request(with_app)

    def _authorized_request(self, handler: Callable[[BrokerApp, web.Request], Awaitable[web.Response]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if request.headers.get("X-Kite-Version") != "3":
                return self._error(400, "Missing or invalid X-Kite-Version header", "InputException")
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            api_key, _, token = credentials.partition(":")
            app = self.apps.get(api_key)
            if app is not None and not app.count_request(self.rate_limit, self.clock()):
                return self._error(429, "Too many requests", "NetworkException")
            if app is not None and (fault := await self._apply_fault(app, request.path)) is not None:
                return fault
            if scheme != "token" or app is None or token not in app.access_tokens:
                return self._error(403, "Incorrect `api_key` or `access_token`.", "TokenException")
            return await handler(app, request)

        return wrapped

    async def _session(self, request: web.Request) -> web.Response:
        form = await request.post()
        api_key, request_token, checksum = (
            str(form.get(name, "")) for name in ("api_key", "request_token", "checksum")
        )
        app = self.apps.get(api_key)
        if app is None:
            return self._error(403, "Invalid `api_key`.", "InputException")
        if not app.count_request(self.rate_limit, self.clock()):
            return self._error(429, "Too many requests", "NetworkException")
        if (fault := await self._apply_fault(app, request.path)) is not None:
            return fault
        expected = hashlib.sha256((api_key + request_token + app.api_secret).encode()).hexdigest()
        if not hmac.compare_digest(expected, checksum):
            return self._error(403, "Invalid checksum.", "TokenException")
        if not app.use_login_token(request_token):
            return self._error(403, "Token is invalid or has expired.", "TokenException")
        token = app.new_access_token()
        return self._ok(
            {
                "user_type": "individual",
                "email": f"{app.user_id.lower()}@example.com",
                "user_name": app.user_name,
                "user_shortname": app.user_name.split()[0],
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD", "MF"],
                "products": ["CNC", "NRML", "MIS", "BO", "CO"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None,
                "user_id": app.user_id,
                "api_key": app.api_key,
                "access_token": token,
                "public_token": token[:8],
                "enctoken": token[8:],
                "refresh_token": "",
                "silo": "",
                "login_time": datetime.now(IST).strftime(KITE_TIME),
                "meta": {"demat_consent": "physical"},
            }
        )

    async def _logout(self, request: web.Request) -> web.Response:
        app = self.apps.get(request.query.get("api_key", ""))
        if app is not None:
            app.access_tokens.discard(request.query.get("access_token", ""))
        return self._ok(True)

    async def _profile(self, app: BrokerApp) -> web.Response:
        return self._ok(
            {
                "user_id": app.user_id,
                "user_type": "individual",
                "email": f"{app.user_id.lower()}@example.com",
                "user_name": app.user_name,
                "user_shortname": app.user_name.split()[0],
                "broker": "ZERODHA",
                "exchanges": ["BFO", "MCX", "NSE", "CDS", "BSE", "BCD", "MF", "NFO"],
                "products": ["CNC", "NRML", "MIS", "BO", "CO"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None,
                "meta": {"demat_consent": "physical"},
            }
        )

    async def _instruments(self, request: web.Request) -> web.Response:
        # Served without a session (real Kite asks for the usual headers): the trade service and the
        # devstack read the master with a plain GET. One exchange's rows for /instruments/{exchange}.
        exchange = request.match_info.get("exchange", "").upper()
        lines = self.instruments_csv.splitlines()
        if exchange:
            lines = lines[:1] + [line for line in lines[1:] if line.rsplit(",", 1)[-1].strip() == exchange]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/csv")

    async def _trades(self, app: BrokerApp) -> web.Response:
        return self._ok(app.trades)

    async def _orders(self, app: BrokerApp) -> web.Response:
        return self._ok([kite_order_of(trade) for trade in app.trades if isinstance(trade, dict)])

    async def _charges(self, app: BrokerApp, request: web.Request) -> web.Response:
        # The virtual contract note: each row is one executed order, charged from the same schedules as
        # trademesh.kernel.charges with Kite's API rounding (unrounded floats, stamp duty in paise, no DP).
        try:
            orders = await request.json()
            if not isinstance(orders, list):
                raise ValueError("the body must be a JSON array of orders")
            fills = [_charge_fill_of(index, order, self.charges_date()) for index, order in enumerate(orders)]
        except (ValueError, KeyError, TypeError) as error:
            return self._error(400, f"Invalid order: {error}", "InputException")
        schedule = load_schedule()
        charged = charge_fills(schedule, schedule.policy("kite_api"), fills)
        return self._ok([_contract_note_row(order, result) for order, result in zip(orders, charged, strict=True)])


_KITE_EXCHANGES = {
    "NSE": Exchange.NSE,
    "BSE": Exchange.BSE,
    "NFO": Exchange.NSE,
    "BFO": Exchange.BSE,
    "MCX": Exchange.MCX,
}


def _charge_fill_of(index: int, order: dict[str, Any], trade_date: date) -> Fill:
    """Return a Kite virtual-contract-note order as one fill to charge."""
    exchange, symbol, product = str(order["exchange"]), str(order["tradingsymbol"]), str(order["product"])
    if exchange not in _KITE_EXCHANGES:
        raise ValueError(f"exchange {exchange} is not charged")
    if exchange in ("NSE", "BSE"):
        segment = Segment.INTRADAY if product in ("MIS", "CO", "BO") else Segment.DELIVERY
    else:
        segment = Segment.FUTURES if symbol.endswith("FUT") else Segment.OPTIONS
    quantity, price = int(order["quantity"]), float(order["average_price"])
    if quantity <= 0 or price <= 0:
        raise ValueError("quantity and average_price must be positive")
    return Fill(
        fill_id=str(order.get("order_id", index)),
        order_id=f"{index}:{order.get('order_id', '')}",  # every row is charged as its own order
        broker=Broker.ZERODHA,
        exchange=_KITE_EXCHANGES[exchange],
        segment=segment,
        side=Side(str(order["transaction_type"]).lower()),
        instrument=symbol,
        quantity=quantity,
        price_micros=round(price * 1_000_000),
        trade_date=trade_date,
    )


def _contract_note_row(order: dict[str, Any], result: FillCharges) -> dict[str, Any]:
    charges = result.charges

    def rupees(micros: int) -> float:
        return micros / 1_000_000

    return {
        "transaction_type": order["transaction_type"],
        "tradingsymbol": order["tradingsymbol"],
        "exchange": order["exchange"],
        "variety": order.get("variety", "regular"),
        "product": order["product"],
        "order_type": order.get("order_type", "MARKET"),
        "quantity": int(order["quantity"]),
        "price": order["average_price"],
        "charges": {
            "transaction_tax": rupees(charges.transaction_tax),
            "transaction_tax_type": result.transaction_tax_type,
            "exchange_turnover_charge": rupees(charges.exchange_transaction + charges.ipft),
            "sebi_turnover_charge": rupees(charges.sebi),
            "brokerage": rupees(charges.brokerage),
            "stamp_duty": rupees(charges.stamp_duty),
            "gst": {"igst": rupees(charges.gst), "cgst": 0, "sgst": 0, "total": rupees(charges.gst)},
            "total": rupees(charges.total()),
        },
    }
