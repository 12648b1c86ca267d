"""Rate limits (per route and global, by class) and route timeouts: the defaults and the named exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket per route, shared by every caller of that route on one Envoy instance.

    ``burst`` tokens at most, refilled with ``per_fill`` tokens every ``fill_seconds``.
    """

    burst: int
    per_fill: int
    fill_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_fill < 1 or self.fill_seconds <= 0:
            raise ValueError(f"invalid rate limit {self}")


class LimitClass(StrEnum):
    """Which global (per-client or per-user) limit a route counts against."""

    #: Public entry points that cost a password hash, send mail or mint tokens: per client address.
    CREDENTIAL = "credential"
    #: Other public calls (GetJwks, health checks): per client address.
    PUBLIC = "public"
    #: Calls that need an access token: per user (the token's ``sub``).
    USER = "user"


@dataclass(frozen=True, slots=True)
class GlobalLimit:
    """A limit of the global rate-limit service: ``requests`` per ``unit`` for each client or user."""

    requests: int
    unit: str = "minute"

    def __post_init__(self) -> None:
        if self.requests < 1 or self.unit not in ("second", "minute", "hour", "day"):
            raise ValueError(f"invalid global limit {self}")


#: Per client address (credential, public routes) or per user (the rest), shared by every gateway replica
#: through the rate-limit service. A flood from one client or account cannot spend another's budget. The
#: credential figure sits above the auth service's own per-address throttle of failed logins (20 in 15 min),
#: which stays the finer check; a household or office behind one NAT address still gets 2 calls a second.
DEFAULT_GLOBAL_LIMITS: Mapping[LimitClass, GlobalLimit] = {
    LimitClass.CREDENTIAL: GlobalLimit(120, "minute"),
    LimitClass.PUBLIC: GlobalLimit(1200, "minute"),
    LimitClass.USER: GlobalLimit(6000, "minute"),
}
#: Route timeout of a unary method without one of its own (:attr:`ServiceEntry.unary_timeouts`).
DEFAULT_UNARY_TIMEOUT_SECONDS = 15.0
#: ImportTrades' route timeout. The contract (trade_service.proto) sizes imports for 50,000+ rows, allows
#: up to 100,000 rows / 15 MiB and asks clients for a 120 s deadline. On the 2-core reference machine
#: (bench/import_bench.py, decision 0030) a 50,000-row Zerodha tradebook took 35-41 s and a 100,000-row
#: one 65-74 s, directly or through the gateway alike. 300 s is 4x the largest file and 2.5x the clients'
#: deadline, so the client's grpc-timeout is what ends a slow import, never the gateway.
IMPORT_TIMEOUT_SECONDS = 300.0
#: ReconcileTrades' route timeout: the sync service's deadline per batch of 1,000 trades
#: (TRADEMESH_RECONCILE_TIMEOUT_SECONDS, 60 s) with room to spare.
RECONCILE_TIMEOUT_SECONDS = 120.0
#: RecomputeAnalytics' route timeout: the SDK's deadline for it (a rebuild of every user runs synchronously).
RECOMPUTE_TIMEOUT_SECONDS = 600.0

#: Applied to every route that has no rate limit of its own.
DEFAULT_RATE_LIMIT = RateLimit(burst=400, per_fill=200)
#: Unauthenticated entry points that cost a password hash or send mail: a flood shield at the edge
#: (per-account and per-address throttling stays in the auth service).
CREDENTIAL_RATE_LIMIT = RateLimit(burst=40, per_fill=20)
