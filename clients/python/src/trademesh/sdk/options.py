"""Client options and the gRPC service config built from them (retries and deadlines).

Retries are gRPC's own (`gRFC A6 <https://github.com/grpc/proposal/blob/master/A6-client-retries.md>`_):
the channel gets a ``grpc.service_config`` whose ``retryPolicy`` retries UNAVAILABLE with exponential
backoff on the methods that are safe to repeat — reads, and writes that the contracts make idempotent
(creates and imports carry a ``request_id``; deletes and unlinks are idempotent). A server stream is
retried only until its first message arrives (gRPC commits the call then); after that, the resumable
streams of :mod:`trademesh.sdk.streams` take over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.common.v1 import options_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2
from trademesh.sync.v1 import sync_service_pb2
from trademesh.trade.v1 import trade_service_pb2

__all__ = ["IDEMPOTENT_METHODS", "ClientOptions", "service_config_json"]

#: Methods that may be sent again after UNAVAILABLE, by service (full proto name) — every other method
#: of the service is called at most once (e.g. Login counts failures, Refresh rotates its token).
IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "trademesh.auth.v1.AuthService": ("GetMe", "GetJwks"),
    "trademesh.trade.v1.TradeService": (
        "CreateTrade",  # idempotent by request_id
        "GetTrade",
        "ListTrades",
        "DeleteTrade",  # deleting a deleted trade succeeds unchanged
        "UndeleteTrade",
        "ListPositions",
        "ImportTrades",  # idempotent by request_id
        "WatchTrades",
        "GetDayNote",
        "ListDayNotes",
        "SearchDayNotes",
        "ListMistakeTags",
        "ListCsvMappings",
        "PreviewImport",  # writes nothing
    ),
    "trademesh.marketdata.v1.MarketDataService": (
        "GetQuote",
        "GetQuotes",
        "SubscribeQuotes",
        "GetBars",
        "ListWatchlists",
        "GetWatchlist",
        "ReorderWatchlists",  # setting the same order twice leaves it unchanged
    ),
    "trademesh.analytics.v1.AnalyticsService": (
        "GetAnalytics",
        "WatchPnl",
        "GetAnalyticsSettings",
        "GetPnlCalendar",
        "GetDayTrips",
        "CompareAnalytics",
    ),
    "trademesh.notifications.v1.NotificationsService": (
        "CreateAlert",  # idempotent by request_id
        "GetAlert",
        "ListAlerts",
        "ListNotifications",
        "MarkRead",
        "MarkAllRead",
        "WatchNotifications",  # resumable by token
        "GetPreferences",
    ),
    "trademesh.sync.v1.SyncService": (
        "LinkBrokerAccount",  # idempotent by request_id
        "UnlinkBrokerAccount",
        "ListBrokerAccounts",
        "SyncNow",  # a resent request_id re-attaches to its run
        "ListSyncLogs",
    ),
}

#: Server-streaming methods: no default deadline (they are long-lived by design).
STREAMING_METHODS = frozenset(
    {
        "/trademesh.trade.v1.TradeService/WatchTrades",
        "/trademesh.marketdata.v1.MarketDataService/SubscribeQuotes",
        "/trademesh.analytics.v1.AnalyticsService/WatchPnl",
        "/trademesh.notifications.v1.NotificationsService/WatchNotifications",
        "/trademesh.sync.v1.SyncService/SyncNow",
    }
)

#: Methods that need no access token (no token is sent): the ones the contracts mark
#: ``(trademesh.common.v1.access) = ACCESS_PUBLIC``.
PUBLIC_METHODS = frozenset(
    f"/{service.full_name}/{method.name}"
    for module in (auth_service_pb2, trade_service_pb2, sync_service_pb2, marketdata_service_pb2, analytics_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
    if method.GetOptions().Extensions[options_pb2.access] == options_pb2.ACCESS_PUBLIC
)

#: Methods whose contract asks for a longer deadline than the default.
SLOW_METHODS: dict[str, float] = {
    "/trademesh.trade.v1.TradeService/ImportTrades": 120.0,
    "/trademesh.trade.v1.TradeService/PreviewImport": 120.0,
    "/trademesh.analytics.v1.AnalyticsService/RecomputeAnalytics": 600.0,
}


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How a client channel behaves. The defaults suit interactive use and scripts."""

    #: Deadline in seconds of every unary call that does not pass its own ``timeout``.
    default_timeout: float = 15.0
    #: Refresh the access token this long before it expires (capped at a quarter of its lifetime).
    refresh_margin_seconds: float = 60.0
    #: Attempts of an idempotent call that keeps failing with UNAVAILABLE (gRPC allows at most 5).
    retry_max_attempts: int = 5
    #: First retry backoff in seconds (gRPC randomises each delay between 0 and the current backoff).
    retry_initial_backoff_seconds: float = 0.2
    #: Upper bound of the retry backoff in seconds.
    retry_max_backoff_seconds: float = 3.0
    #: Multiplier of the retry backoff after each attempt.
    retry_backoff_multiplier: float = 2.0
    #: Longest wait between two reconnects of a resumable stream, in seconds.
    stream_max_backoff_seconds: float = 10.0
    #: A resumable stream that receives nothing (not even a heartbeat) this long reconnects; the
    #: streams send heartbeats every 15 s, and the contracts say to resubscribe after 45 s of silence.
    stream_idle_timeout_seconds: float = 45.0
    #: Longest wait between two connection attempts of the channel (gRPC's default is 120 s, too
    #: long for a client that should notice a restarted gateway quickly).
    max_reconnect_backoff_seconds: float = 5.0
    #: Largest message accepted or sent (imports may be up to 15 MiB).
    max_message_bytes: int = 16 * 1024 * 1024
    #: Appended to the user agent, e.g. ``"my-app/1.2"``.
    user_agent: str = ""

    def __post_init__(self) -> None:
        if not 2 <= self.retry_max_attempts <= 5:
            raise ValueError("retry_max_attempts must be between 2 and 5 (gRPC's limit)")
        if self.default_timeout <= 0 or self.retry_initial_backoff_seconds <= 0:
            raise ValueError("timeouts and backoffs must be positive")

    def channel_options(self) -> list[tuple[str, str | int]]:
        """Return the channel arguments: service config, retries on, message sizes, reconnect backoff."""
        options: list[tuple[str, str | int]] = [
            ("grpc.service_config", service_config_json(self)),
            ("grpc.enable_retries", 1),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", int(self.max_reconnect_backoff_seconds * 1000)),
            ("grpc.primary_user_agent", f"trademesh-sdk-python/0.1 {self.user_agent}".strip()),
        ]
        return options


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def service_config_json(options: ClientOptions) -> str:
    """Return the ``grpc.service_config`` JSON: a retry policy for UNAVAILABLE on every idempotent method."""
    retry_policy = {
        "maxAttempts": options.retry_max_attempts,
        "initialBackoff": _seconds(options.retry_initial_backoff_seconds),
        "maxBackoff": _seconds(options.retry_max_backoff_seconds),
        "backoffMultiplier": options.retry_backoff_multiplier,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    config = {
        "methodConfig": [
            {
                "name": [{"service": service, "method": method} for method in methods],
                "retryPolicy": retry_policy,
            }
            for service, methods in IDEMPOTENT_METHODS.items()
        ],
    }
    return json.dumps(config, separators=(",", ":"))
