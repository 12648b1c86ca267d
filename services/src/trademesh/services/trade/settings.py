"""Settings of the trade service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pydantic import Field

from trademesh.services.core.settings import SignedTokenSettings


class TradeSettings(SignedTokenSettings):
    """Trade-specific settings: tokens, event relay, limits and test-only fault injection."""

    service_name: str = "trade"
    grpc_port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    relay_scan_interval_seconds: float = Field(
        30.0, gt=0, description="How often the outbox relay looks for events a crash or outage left unpublished."
    )
    purge_interval_seconds: float = Field(3600.0, gt=0, description="How often deleted trades past 30 days are purged.")
    query_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description=(
            "Time limit of queries that read many trades (lists, positions, imports, relay sweeps); "
            "single-trade operations keep TRADEMESH_DEPENDENCY_TIMEOUT_SECONDS."
        ),
    )
    import_limit_per_minute: int = Field(10, ge=1, description="ImportTrades calls allowed per user per minute.")
    trade_quota: int = Field(
        1_000_000,
        ge=1,
        description=(
            "Trades one user may hold (active, or deleted until purged); a write past it fails with "
            "RESOURCE_EXHAUSTED, reason TRADE_QUOTA_EXCEEDED."
        ),
    )
    max_watches_per_user: int = Field(10, ge=1, description="Concurrent WatchTrades streams per user per replica.")
    watch_max_lifetime_seconds: float = Field(3600.0, gt=0, description="A WatchTrades stream ends (OK) after this.")
    instruments_url: str = Field(
        "",
        description=(
            "Instrument master in Kite's instruments CSV format (http(s)://, file:// or a path), e.g. a "
            "daily copy of Kite's GET /instruments. When set, NFO/BFO quantities of CreateTrade, UpdateTrade "
            "and ImportTrades must be whole lots of the contracts it lists, and positions report lot_size. "
            "Empty: no lot size checks."
        ),
    )
    instruments_refresh_seconds: float = Field(
        21600.0, gt=0, description="How often the instrument master is fetched again (the last good copy is kept)."
    )
    settlement_prices_url: str = Field(
        "",
        description=(
            "Settlement prices for the expiry job (`python -m trademesh.services.trade.expiry`): CSV with the "
            "header symbol,date,price (rupees; a future's final settlement price under its trading symbol, "
            "an underlying's settlement price under its name, e.g. NIFTY). Required by the job only."
        ),
    )
    fault_exit_after_write: bool = Field(
        False,
        description=(
            "TEST ONLY: exit the process right after a trade write is stored and before its event is "
            "published (proves the outbox survives a crash). Never set in a real deployment."
        ),
    )
