"""``connect()``: one channel to the mesh (or one service) with typed clients for every service.

The service clients are the generated stubs (typed by their ``.pyi`` files) on a channel that adds
deadlines, tokens, retries and :class:`~trademesh.sdk.errors.TrademeshError`; this module adds login
helpers and the resumable streams.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from grpc import aio

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, pnl_pb2
from trademesh.auth.v1 import auth_pb2, auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc, quote_pb2, quote_stream_pb2
from trademesh.notifications.v1 import notifications_service_pb2_grpc
from trademesh.sdk.interceptors import SyncClientInterceptor, client_interceptors
from trademesh.sdk.options import ClientOptions
from trademesh.sdk.session import AsyncSession, SyncSession, TokensListener
from trademesh.sdk.streams import (
    PnlTracker,
    QuoteTracker,
    ResumableStream,
    StreamTracker,
    SyncResumableStream,
    TradeTracker,
)
from trademesh.sdk.tokens import Clock, Tokens, utc_now
from trademesh.sync.v1 import sync_service_pb2_grpc
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

__all__ = [
    "AsyncTrademesh",
    "Target",
    "Trademesh",
    "connect",
    "connect_sync",
    "parse_instrument",
    "parse_target",
]

InstrumentLike = instrument_pb2.Instrument | str
TrackerT = TypeVar("TrackerT", bound=StreamTracker[Any])


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect and whether to use TLS."""

    #: ``host:port`` as gRPC expects it.
    address: str
    #: True for TLS.
    tls: bool


def parse_target(target: str, tls: bool | None = None) -> Target:
    """Parse ``host:port``, ``http://host:port`` or ``https://host[:port]``.

    Without a scheme and without ``tls``, loopback hosts are plaintext (the local mesh) and every other
    host uses TLS. ``https://`` implies TLS and port 443, ``http://`` plaintext and port 80.
    """
    text = target.strip()
    scheme_tls: bool | None = None
    default_port: int | None = None
    for scheme, secure, port in (("https://", True, 443), ("http://", False, 80)):
        if text.startswith(scheme):
            text, scheme_tls, default_port = text[len(scheme) :].rstrip("/"), secure, port
    if not text:
        raise ValueError(f"no host in target {target!r}")
    host, separator, port_text = text.rpartition(":")
    if not separator or host.endswith(":"):  # no port (or a bare IPv6 address)
        if default_port is None:
            raise ValueError(f"target {target!r} needs a port (host:port)")
        host, port_text = text, str(default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port in target {target!r}")
    use_tls = tls if tls is not None else scheme_tls if scheme_tls is not None else not _is_loopback(host)
    return Target(f"{host}:{port_text}", use_tls)


def _is_loopback(host: str) -> bool:
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_instrument(text: str, default_exchange: str = "NSE") -> instrument_pb2.Instrument:
    """Return the instrument of ``"INFY"`` (on ``default_exchange``) or ``"NFO:NIFTY24DECFUT"``.

    Raises:
        ValueError: Unknown exchange or empty symbol.
    """
    exchange, _, symbol = text.strip().rpartition(":")
    exchange = (exchange or default_exchange).upper()
    try:
        value = instrument_pb2.Exchange.Value(f"EXCHANGE_{exchange}")
    except ValueError:
        raise ValueError(f"unknown exchange {exchange!r} in {text!r}") from None
    if not symbol.strip() or value == instrument_pb2.EXCHANGE_UNSPECIFIED:
        raise ValueError(f"not an instrument: {text!r} (use SYMBOL or EXCHANGE:SYMBOL)")
    return instrument_pb2.Instrument(symbol=symbol.strip().upper(), exchange=value)


def _instruments(items: Iterable[InstrumentLike]) -> list[instrument_pb2.Instrument]:
    return [parse_instrument(item) if isinstance(item, str) else item for item in items]


def _credentials(root_certificates: bytes | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=root_certificates)


def _quotes_request(
    instruments: Sequence[InstrumentLike],
    mode: quote_pb2.QuoteMode.ValueType,
    max_updates_per_second: int,
    watchlist_id: str = "",
) -> marketdata_service_pb2.SubscribeQuotesRequest:
    return marketdata_service_pb2.SubscribeQuotesRequest(
        instruments=_instruments(instruments),
        mode=mode,
        max_updates_per_second=max_updates_per_second,
        watchlist_id=watchlist_id,
    )


class AsyncTrademesh:
    """An asyncio client of the whole mesh (or of one service): use ``async with connect(...) as mesh``.

    ``auth``, ``trade``, ``marketdata``, ``sync``, ``analytics`` and ``notifications`` are the generated
    asyncio stubs;
    every call through them has a deadline, carries the access token, is retried on UNAVAILABLE when
    idempotent, and raises :class:`~trademesh.sdk.errors.TrademeshError`.
    """

    def __init__(self, channel: aio.Channel, session: AsyncSession, options: ClientOptions) -> None:
        #: The underlying channel (one HTTP/2 connection, shared by every stub).
        self.channel = channel
        #: The token holder; ``session.tokens`` after login.
        self.session = session
        self.options = options
        self.auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        self.trade = trade_service_pb2_grpc.TradeServiceStub(channel)
        self.marketdata = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        self.sync = sync_service_pb2_grpc.SyncServiceStub(channel)
        self.analytics = analytics_service_pb2_grpc.AnalyticsServiceStub(channel)
        self.notifications = notifications_service_pb2_grpc.NotificationsServiceStub(channel)

    @property
    def tokens(self) -> Tokens | None:
        """The current tokens, or None when not logged in."""
        return self.session.tokens

    async def register(self, *, email: str, username: str, password: str) -> auth_pb2.User:
        """Create an account and log in as it."""
        response = await self.auth.Register(
            auth_service_pb2.RegisterRequest(email=email, username=username, password=password)
        )
        self.session.set_tokens(Tokens.from_proto(response.tokens))
        return response.user

    async def login(self, login: str, password: str) -> auth_pb2.User:
        """Log in by username or email; later calls carry the access token and refresh it by themselves."""
        response = await self.auth.Login(auth_service_pb2.LoginRequest(login=login, password=password))
        self.session.set_tokens(Tokens.from_proto(response.tokens))
        return response.user

    async def logout(self) -> None:
        """Revoke the session on the server and forget the tokens (also when the server call fails)."""
        try:
            if self.session.tokens is not None:
                await self.auth.Logout(auth_service_pb2.LogoutRequest())
        finally:
            self.session.set_tokens(None)

    def subscribe_quotes(
        self,
        instruments: Sequence[InstrumentLike],
        *,
        mode: quote_pb2.QuoteMode.ValueType = quote_pb2.QUOTE_MODE_QUOTE,
        max_updates_per_second: int = 0,
        give_up_after: float | None = None,
        watchlist_id: str = "",
    ) -> ResumableStream[QuoteTracker, quote_stream_pb2.QuoteBatch]:
        """Stream quote batches (first a snapshot) of ``instruments`` (``"INFY"``, ``"NFO:..."``); resumable.

        ``watchlist_id``: stream that stored watchlist instead (``instruments`` empty), as stored at each (re)connect.
        ``give_up_after``: raise once the stream has failed to reconnect for this many seconds (default: never).
        """
        tracker = QuoteTracker(_quotes_request(instruments, mode, max_updates_per_second, watchlist_id))
        return self._resumable(self.marketdata.SubscribeQuotes, tracker, give_up_after)

    def watch_trades(
        self, *, resume_token: str = "", include_deleted: bool = False, give_up_after: float | None = None
    ) -> ResumableStream[TradeTracker, trade_service_pb2.WatchTradesResponse]:
        """Stream trade changes (a snapshot first unless ``resume_token``); resumes from the last token.

        The stream's ``tracker.resume_token`` is the position to persist for a later process.
        """
        tracker = TradeTracker(
            trade_service_pb2.WatchTradesRequest(resume_token=resume_token, include_deleted=include_deleted)
        )
        return self._resumable(self.trade.WatchTrades, tracker, give_up_after)

    def watch_pnl(
        self, *, max_updates_per_second: int = 0, give_up_after: float | None = None
    ) -> ResumableStream[PnlTracker, pnl_pb2.PnlUpdate]:
        """Stream live P&L updates (a snapshot first, and after every reconnect)."""
        tracker = PnlTracker(analytics_service_pb2.WatchPnlRequest(max_updates_per_second=max_updates_per_second))
        return self._resumable(self.analytics.WatchPnl, tracker, give_up_after)

    def _resumable(
        self, method: Callable[[Any], Any], tracker: TrackerT, give_up_after: float | None
    ) -> ResumableStream[TrackerT, Any]:
        async def refresh(seen: str | None) -> None:
            await self.session.refresh(seen=seen)

        return ResumableStream(
            method,
            tracker,
            refresh=refresh,
            current_token=lambda: self.session.current_access_token,
            options=self.options,
            give_up_after=give_up_after,
        )

    async def close(self) -> None:
        """Close the channel (open streams end)."""
        await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncTrademesh(session={self.session!r})"


def connect(
    target: str,
    *,
    tls: bool | None = None,
    root_certificates: bytes | None = None,
    tokens: Tokens | None = None,
    on_tokens: TokensListener | None = None,
    options: ClientOptions | None = None,
    clock: Clock = utc_now,
) -> AsyncTrademesh:
    """Open an asyncio client of the mesh at ``target`` (the gateway, or one service's address).

    Call it inside a running event loop. Args:
        target: ``host:port``, ``http://host:port`` or ``https://host[:port]`` (see :func:`parse_target`).
        tls: Force TLS on (True) or off (False); default: from the target.
        root_certificates: PEM roots for TLS (default: the system's).
        tokens: Tokens of an earlier login (e.g. loaded from a file).
        on_tokens: Called after every login, refresh and logout with the new tokens (save them).
        options: Deadlines, retries and stream behaviour.
        clock: The time source of the refresh policy (tests).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "connect() opens an asyncio channel: call it inside a coroutine (or use connect_sync())"
        ) from None
    options = options or ClientOptions()
    parsed = parse_target(target, tls)
    holder: list[AsyncTrademesh] = []

    async def refresh(refresh_token: str) -> auth_pb2.TokenPair:
        response = await holder[0].auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=refresh_token))
        return response.tokens

    session = AsyncSession(
        refresh,
        tokens=tokens,
        on_tokens=on_tokens,
        clock=clock,
        margin=timedelta(seconds=options.refresh_margin_seconds),
    )
    interceptors = client_interceptors(session, options)
    channel_options = options.channel_options()
    if parsed.tls:
        channel = aio.secure_channel(
            parsed.address, _credentials(root_certificates), options=channel_options, interceptors=interceptors
        )
    else:
        channel = aio.insecure_channel(parsed.address, options=channel_options, interceptors=interceptors)
    client = AsyncTrademesh(channel, session, options)
    holder.append(client)
    return client


class Trademesh:
    """The blocking client: the same as :class:`AsyncTrademesh`, with plain calls and ``for`` loops."""

    def __init__(self, channel: grpc.Channel, session: SyncSession, options: ClientOptions) -> None:
        #: The underlying (intercepted) channel.
        self.channel = channel
        #: The token holder; ``session.tokens`` after login.
        self.session = session
        self.options = options
        self.auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        self.trade = trade_service_pb2_grpc.TradeServiceStub(channel)
        self.marketdata = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        self.sync = sync_service_pb2_grpc.SyncServiceStub(channel)
        self.analytics = analytics_service_pb2_grpc.AnalyticsServiceStub(channel)
        self.notifications = notifications_service_pb2_grpc.NotificationsServiceStub(channel)

    @property
    def tokens(self) -> Tokens | None:
        """The current tokens, or None when not logged in."""
        return self.session.tokens

    def register(self, *, email: str, username: str, password: str) -> auth_pb2.User:
        """Create an account and log in as it."""
        response = self.auth.Register(
            auth_service_pb2.RegisterRequest(email=email, username=username, password=password)
        )
        self.session.set_tokens(Tokens.from_proto(response.tokens))
        return response.user

    def login(self, login: str, password: str) -> auth_pb2.User:
        """Log in by username or email; later calls carry the access token and refresh it by themselves."""
        response = self.auth.Login(auth_service_pb2.LoginRequest(login=login, password=password))
        self.session.set_tokens(Tokens.from_proto(response.tokens))
        return response.user

    def logout(self) -> None:
        """Revoke the session on the server and forget the tokens (also when the server call fails)."""
        try:
            if self.session.tokens is not None:
                self.auth.Logout(auth_service_pb2.LogoutRequest())
        finally:
            self.session.set_tokens(None)

    def subscribe_quotes(
        self,
        instruments: Sequence[InstrumentLike],
        *,
        mode: quote_pb2.QuoteMode.ValueType = quote_pb2.QUOTE_MODE_QUOTE,
        max_updates_per_second: int = 0,
        give_up_after: float | None = None,
        watchlist_id: str = "",
    ) -> SyncResumableStream[QuoteTracker, quote_stream_pb2.QuoteBatch]:
        """Blocking :meth:`AsyncTrademesh.subscribe_quotes`."""
        tracker = QuoteTracker(_quotes_request(instruments, mode, max_updates_per_second, watchlist_id))
        return self._resumable(self.marketdata.SubscribeQuotes, tracker, give_up_after)

    def watch_trades(
        self, *, resume_token: str = "", include_deleted: bool = False, give_up_after: float | None = None
    ) -> SyncResumableStream[TradeTracker, trade_service_pb2.WatchTradesResponse]:
        """Blocking :meth:`AsyncTrademesh.watch_trades`."""
        tracker = TradeTracker(
            trade_service_pb2.WatchTradesRequest(resume_token=resume_token, include_deleted=include_deleted)
        )
        return self._resumable(self.trade.WatchTrades, tracker, give_up_after)

    def watch_pnl(
        self, *, max_updates_per_second: int = 0, give_up_after: float | None = None
    ) -> SyncResumableStream[PnlTracker, pnl_pb2.PnlUpdate]:
        """Blocking :meth:`AsyncTrademesh.watch_pnl`."""
        tracker = PnlTracker(analytics_service_pb2.WatchPnlRequest(max_updates_per_second=max_updates_per_second))
        return self._resumable(self.analytics.WatchPnl, tracker, give_up_after)

    def _resumable(
        self, method: Callable[[Any], Any], tracker: TrackerT, give_up_after: float | None
    ) -> SyncResumableStream[TrackerT, Any]:
        return SyncResumableStream(
            method,
            tracker,
            refresh=lambda seen: self.session.refresh(seen=seen),
            current_token=lambda: self.session.current_access_token,
            options=self.options,
            give_up_after=give_up_after,
        )

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Trademesh(session={self.session!r})"


def connect_sync(
    target: str,
    *,
    tls: bool | None = None,
    root_certificates: bytes | None = None,
    tokens: Tokens | None = None,
    on_tokens: TokensListener | None = None,
    options: ClientOptions | None = None,
    clock: Clock = utc_now,
) -> Trademesh:
    """Open a blocking client; the arguments are those of :func:`connect`."""
    options = options or ClientOptions()
    parsed = parse_target(target, tls)
    holder: list[Trademesh] = []

    def refresh(refresh_token: str) -> auth_pb2.TokenPair:
        return holder[0].auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=refresh_token)).tokens

    session = SyncSession(
        refresh,
        tokens=tokens,
        on_tokens=on_tokens,
        clock=clock,
        margin=timedelta(seconds=options.refresh_margin_seconds),
    )
    channel_options = options.channel_options()
    raw = (
        grpc.secure_channel(parsed.address, _credentials(root_certificates), options=channel_options)
        if parsed.tls
        else grpc.insecure_channel(parsed.address, options=channel_options)
    )
    channel = grpc.intercept_channel(raw, SyncClientInterceptor(session, options))
    client = Trademesh(channel, session, options)
    holder.append(client)
    return client
