"""What the local fake brokers share: a scriptable book of apps, trades and faults, and an aiohttp server base.

Tests (and the `make up` demo) add apps and trades, then script faults that the next requests meet:
HTTP 5xx, slow answers (client timeouts), 429 bursts, an expired token, a body that is not JSON.
Each broker's fake (its routes, row shapes and error envelopes) lives beside its client:
`brokers/zerodha/fake.py`, `brokers/upstox/fake.py`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READY_PATH = "/__fake/ready"
_row_numbers = itertools.count(10_000_000)


def next_row_number() -> int:
    """Return a fresh number for a fake row's ids (unique across both fakes in a process)."""
    return next(_row_numbers)


class FaultKind(StrEnum):
    """What a scripted fault does to one request."""

    STATUS = "status"  # answer with an error envelope and `status`
    SLOW = "slow"  # wait `seconds` before answering normally (beyond the client's timeout)
    MALFORMED = "malformed"  # a JSON content type with a body that is not JSON
    EXPIRED = "expired"  # the session ends now: 403 TokenException / 401, and the token is forgotten


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted fault; `path` limits it to one route (e.g. "/trades")."""

    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    path: str | None = None


@dataclass
class BrokerApp:
    """One broker app (Kite api_key / Upstox client_id) with its one user and today's book."""

    api_key: str
    api_secret: str
    user_id: str
    user_name: str
    trades: list[dict[str, Any]] = field(default_factory=list)
    #: Request tokens / auth codes that work once; None accepts any token once (the demo).
    login_tokens: set[str] | None = None
    used_login_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    #: Every token ever issued (an expired one still identifies its app).
    issued_tokens: set[str] = field(default_factory=set)
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0
    rate_limited: int = 0
    recent: deque[float] = field(default_factory=deque)
    #: The most requests seen within any one second.
    peak_per_second: int = 0
    redirect_uri: str = "http://127.0.0.1/callback"

    def next_fault(self, path: str) -> Fault | None:
        """Take the first scripted fault that applies to `path`."""
        for fault in list(self.faults):
            if fault.path is None or fault.path == path:
                self.faults.remove(fault)
                return fault
        return None

    def count_request(self, limit: float, now: float | None = None) -> bool:
        """Count a request at `now` (monotonic seconds); False when it exceeds `limit` in the last second."""
        now = time.monotonic() if now is None else now
        self.requests += 1
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        if len(self.recent) >= limit:
            self.rate_limited += 1
            return False
        self.recent.append(now)
        self.peak_per_second = max(self.peak_per_second, len(self.recent))
        return True

    def new_access_token(self) -> str:
        """Issue a session token."""
        token = secrets.token_hex(16)
        self.access_tokens.add(token)
        self.issued_tokens.add(token)
        return token

    def use_login_token(self, token: str) -> bool:
        """Consume a single-use login token; False if unknown or already used."""
        if token in self.used_login_tokens:
            return False
        if self.login_tokens is not None and token not in self.login_tokens:
            return False
        self.used_login_tokens.add(token)
        return True


class FakeBrokerServer:
    """Base of both fakes: an aiohttp server on a loopback port over a set of apps."""

    def __init__(self, rate_limit: float = 10.0) -> None:
        self.apps: dict[str, BrokerApp] = {}
        self.rate_limit = rate_limit
        #: The clock of the rate limiter (tests freeze it to make bursts exact).
        self.clock: Callable[[], float] = time.monotonic
        self._runner: web.AppRunner | None = None
        self.port = 0

    def add_app(self, api_key: str, api_secret: str, user_id: str, user_name: str = "Test Trader") -> BrokerApp:
        """Register an app with its user."""
        app = BrokerApp(api_key, api_secret, user_id, user_name)
        self.apps[api_key] = app
        return app

    @property
    def base_url(self) -> str:
        """Return the root URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[web.RouteDef]:
        """Return the API's routes."""
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0 picks a free port); return the base URL."""
        application = web.Application()
        application.add_routes([*self.routes(), web.get(READY_PATH, self._ready)])
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @property
    def total_requests(self) -> int:
        """Return requests served to every app."""
        return sum(app.requests for app in self.apps.values())

    @property
    def total_rate_limited(self) -> int:
        """Return 429s served to every app."""
        return sum(app.rate_limited for app in self.apps.values())


def describe(server: FakeBrokerServer) -> str:
    """Return a JSON summary of the apps (for logs)."""
    return json.dumps({key: {"trades": len(app.trades), "requests": app.requests} for key, app in server.apps.items()})
