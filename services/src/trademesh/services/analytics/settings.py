"""Settings of the analytics service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pydantic import Field

from trademesh.services.core.settings import CoreSettings


class AnalyticsSettings(CoreSettings):
    """Analytics-specific settings: market data, cache, event consumer, streams and memory bounds."""

    service_name: str = "analytics"
    grpc_port: int = Field(50055, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    marketdata_target: str = Field(
        "127.0.0.1:50054", description="gRPC address of the market-data service (marks and live ticks)."
    )
    report_cache_ttl_seconds: float = Field(900.0, gt=0, description="Lifetime of a cached GetAnalytics report.")
    query_timeout_seconds: float = Field(
        120.0, gt=0, description="Time limit of the query loading one user's trades (recomputes)."
    )
    max_cached_fills: int = Field(
        2_000_000, ge=1, description="In-memory journals kept per replica, in fills (least recently used evicted)."
    )
    consumer_name: str = Field(
        "", description="Consumer name in the `analytics` group on `trade-events`; empty = hostname-pid."
    )
    event_block_seconds: float = Field(1.0, gt=0, description="How long one XREADGROUP waits for new events.")
    event_claim_idle_seconds: float = Field(
        30.0, gt=0, description="Pending events idle this long (their consumer died) are claimed by another."
    )
    watch_default_updates_per_second: int = Field(
        4, ge=1, le=10, description="WatchPnl messages per second when the request asks for 0."
    )
    watch_max_updates_per_second: int = Field(10, ge=1, description="Upper clamp of the WatchPnl message rate.")
    max_watches_per_user: int = Field(5, ge=1, description="Concurrent WatchPnl streams per user per replica.")
    watch_heartbeat_seconds: float = Field(15.0, gt=0, description="Heartbeat after this long without a message.")
    recompute_lock_seconds: float = Field(
        7200.0, gt=0, description="Lease of the recompute lock (a crashed recompute frees it after this)."
    )
    excursion_flush_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the recorded MAE/MFE price extremes are written (one write per instrument).",
    )
    excursion_gap_seconds: float = Field(
        5.0,
        gt=0,
        description="Recording allowance: a position unrecorded for longer, or learnt of later, is not EXACT.",
    )
