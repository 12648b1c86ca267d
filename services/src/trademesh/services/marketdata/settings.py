"""Settings of the market-data service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from trademesh.services.core.settings import SignedTokenSettings
from trademesh.services.marketdata.model import SessionPolicy

DEFAULT_UNIVERSE = Path(__file__).with_name("universe.csv")


class MarketDataSettings(SignedTokenSettings):
    """Market-data settings: feed, ingest, stream limits, batching, bars (page tokens signed with the token secret)."""

    service_name: str = "marketdata"
    grpc_port: int = Field(50054, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    universe_file: Path = Field(
        DEFAULT_UNIVERSE,
        description="CSV of served instruments: exchange,symbol,instrument_token,tick_size,previous_close.",
    )
    feed: str = Field("simulated", pattern="^(simulated|kite)$", description="Ingest feed: simulated | kite.")
    ingest_enabled: bool = Field(
        True,
        description=(
            "Run the ingest in this process. Every replica may run it: a Redis lock keeps exactly one "
            "active per feed. Set false for pure serving replicas beside a dedicated ingest process."
        ),
    )
    ingest_lock_ttl_seconds: float = Field(
        6.0, gt=0.5, description="Ingest lock lease; renewed every third of it, taken over after it lapses."
    )
    session_policy: SessionPolicy = Field(
        SessionPolicy.EXCHANGE,
        description="exchange (NSE hours 09:15-15:30 IST, Mon-Fri) | always_open | always_closed (demos, tests).",
    )
    simulator_seed: int = Field(42, description="Seed of the simulated feed: same seed, same tick sequence.")
    simulator_ticks_per_second: float = Field(200.0, gt=0, le=100_000, description="Simulated ticks/s, all symbols.")
    simulator_burstiness: float = Field(0.3, ge=0, le=2, description="0 = steady; higher = burstier tick rate.")
    kite_api_key: str = Field("", description="Kite Connect API key (feed=kite).")
    kite_access_token: str = Field("", description="Kite Connect access token (feed=kite).")
    kite_ticker_url: str = Field("wss://ws.kite.trade", description="KiteTicker WebSocket root (tests: a fake).")
    max_instruments_per_stream: int = Field(200, ge=1, le=5000, description="Distinct instruments per stream.")
    max_instruments_per_request: int = Field(500, ge=1, le=5000, description="Distinct instruments per GetQuotes.")
    max_streams_per_user: int = Field(
        10, ge=1, description="Concurrent SubscribeQuotes streams per user (all replicas)."
    )
    max_streams_per_premium_user: int = Field(50, ge=1, description="The same limit for premium users.")
    default_updates_per_second: int = Field(
        8, ge=1, le=100, description="Per-instrument stream rate when 0 is asked (decision 0022)."
    )
    max_updates_per_second: int = Field(10, ge=1, le=100, description="Upper clamp of the per-instrument rate.")
    batch_interval_seconds: float = Field(
        0.1, gt=0, le=5, description="A stream sends at most one batch per interval (batching window)."
    )
    heartbeat_seconds: float = Field(15.0, gt=0, description="Heartbeat after this long without another message.")
    slow_consumer_seconds: float = Field(
        60.0, gt=0, description="A stream whose client accepts no message this long ends UNAVAILABLE (SLOW_CONSUMER)."
    )
    stale_after_seconds: float = Field(30.0, gt=0, description="In session, a quote without ticks this long is stale.")
    backplane_retry_seconds: float = Field(
        5.0, ge=0, description="After losing Redis pub/sub, how long to retry before ending streams with UNAVAILABLE."
    )
    bar_flush_seconds: float = Field(5.0, gt=0, description="How often running bars are written to the database.")
    bar_retention_days: int = Field(30, ge=1, description="1-minute bars older than this are swept.")
    bar_five_minute_retention_days: int = Field(
        365, ge=1, description="5-minute bars older than this are swept (day bars are kept indefinitely)."
    )
    sweep_interval_seconds: float = Field(3600.0, gt=0, description="How often expired bars are deleted.")
