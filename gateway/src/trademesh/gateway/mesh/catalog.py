"""What is declared per service: idempotent reads, long-running methods' timeouts, rate-limit exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from google.protobuf.descriptor import ServiceDescriptor

from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.gateway.mesh.limits import (
    CREDENTIAL_RATE_LIMIT,
    IMPORT_TIMEOUT_SECONDS,
    RECOMPUTE_TIMEOUT_SECONDS,
    RECONCILE_TIMEOUT_SECONDS,
    RateLimit,
)
from trademesh.marketdata.v1 import marketdata_service_pb2
from trademesh.notifications.v1 import notifications_service_pb2
from trademesh.sync.v1 import sync_service_pb2
from trademesh.trade.v1 import trade_service_pb2


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """What the gateway needs to know about one service beyond its proto: see the module docstring."""

    #: Short name: cluster ``svc-<name>``, dev-stack service name, ``--upstream <name>=...``.
    name: str
    descriptor: ServiceDescriptor
    #: Unary methods that only read: retried on another replica after an upstream failure.
    idempotent_reads: frozenset[str] = frozenset()
    #: Rate limits by method name, overriding :data:`DEFAULT_RATE_LIMIT`.
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    #: Unary methods that legitimately take longer than the default unary timeout: route timeout in seconds.
    unary_timeouts: Mapping[str, float] = field(default_factory=dict)
    #: Public methods counted against the (tighter) credential limit per client address.
    credential_methods: frozenset[str] = frozenset()


def service_descriptor(module: object, name: str) -> ServiceDescriptor:
    """Return the descriptor of service ``name`` in a generated ``*_service_pb2`` module, or raise LookupError."""
    services: Mapping[str, ServiceDescriptor] = module.DESCRIPTOR.services_by_name  # type: ignore[attr-defined]
    if name not in services:
        raise LookupError(f"{getattr(module, '__name__', module)} defines no service {name!r}")
    return services[name]


#: Every service of the mesh, in route order.
CATALOG: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        name="auth",
        descriptor=service_descriptor(auth_service_pb2, "AuthService"),
        idempotent_reads=frozenset({"GetMe", "GetJwks"}),
        rate_limits={
            method: CREDENTIAL_RATE_LIMIT
            for method in ("Register", "Login", "RequestPasswordReset", "ResetPassword", "RequestEmailVerification")
        },
        credential_methods=frozenset(
            {"Register", "Login", "Refresh", "VerifyEmail", "RequestPasswordReset", "ResetPassword"}
        ),
    ),
    ServiceEntry(
        name="trade",
        descriptor=service_descriptor(trade_service_pb2, "TradeService"),
        idempotent_reads=frozenset(
            {
                "GetTrade",
                "ListTrades",
                "ListPositions",
                "GetDayNote",
                "ListDayNotes",
                "SearchDayNotes",
                "ListMistakeTags",
                "ListCsvMappings",
            }
        ),
        unary_timeouts={
            "ImportTrades": IMPORT_TIMEOUT_SECONDS,
            "PreviewImport": IMPORT_TIMEOUT_SECONDS,
            "ReconcileTrades": RECONCILE_TIMEOUT_SECONDS,
        },
    ),
    ServiceEntry(
        name="sync",
        descriptor=service_descriptor(sync_service_pb2, "SyncService"),
        idempotent_reads=frozenset({"ListBrokerAccounts", "ListSyncLogs"}),
    ),
    ServiceEntry(
        name="marketdata",
        descriptor=service_descriptor(marketdata_service_pb2, "MarketDataService"),
        idempotent_reads=frozenset({"GetQuote", "GetQuotes", "GetBars", "ListWatchlists", "GetWatchlist"}),
    ),
    ServiceEntry(
        name="analytics",
        descriptor=service_descriptor(analytics_service_pb2, "AnalyticsService"),
        idempotent_reads=frozenset({"GetAnalytics", "GetAnalyticsSettings", "GetPnlCalendar", "GetDayTrips"}),
        unary_timeouts={"RecomputeAnalytics": RECOMPUTE_TIMEOUT_SECONDS},
    ),
    ServiceEntry(
        name="notifications",
        descriptor=service_descriptor(notifications_service_pb2, "NotificationsService"),
        idempotent_reads=frozenset(
            {"GetAlert", "ListAlerts", "ListNotifications", "GetPreferences", "ListWebhooks", "ListWebhookDeliveries"}
        ),
    ),
)
