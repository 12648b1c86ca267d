"""Settings of the sync service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from trademesh.services.core.settings import CoreSettings


class SyncSettings(CoreSettings):
    """Sync-specific settings: secrets, brokers, schedule, workers and retries."""

    service_name: str = "sync"
    grpc_port: int = Field(50053, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    broker_credentials_key: SecretStr = Field(
        SecretStr(""),
        description=(
            "Keys encrypting broker sessions at rest: `id:key[,id:key...]`, 32-byte URL-safe base64 keys; the "
            "first seals, all open (rotation). Make one with `python -m trademesh.services.sync.admin "
            "generate-key`. Required: the service does not start without it."
        ),
    )
    trade_target: str = Field("127.0.0.1:50052", description="gRPC address of the trade service (ReconcileTrades).")
    service_token: SecretStr = Field(
        SecretStr(""),
        description=(
            "Access token with role `service` sent to the trade service (`python -m trademesh.services.auth.admin "
            "issue-service-token --name sync`). Use this or TRADEMESH_SERVICE_TOKEN_FILE."
        ),
    )
    service_token_file: Path | None = Field(
        None, description="File holding the service token; re-read whenever it changes (a rotated Secret)."
    )
    kite_base_url: str = Field("https://api.kite.trade", description="Kite Connect API root (a fake in tests).")
    upstox_base_url: str = Field("https://api.upstox.com", description="Upstox API root (a fake in tests).")
    sync_interval_minutes: float = Field(5.0, gt=0, description="Minutes between scheduled runs of an account.")
    scheduler_enabled: bool = Field(
        True,
        description=(
            "Run the scheduler inside the service (one replica at a time, under a Redis lock). Turn off when the "
            "Kubernetes CronJob (`python -m trademesh.services.sync.schedule`) schedules instead."
        ),
    )
    scheduler_tick_seconds: float = Field(15.0, gt=0, description="How often the scheduler looks for due accounts.")
    scheduler_lock_seconds: float = Field(
        30.0, ge=3, description="Lifetime of the scheduler lock; its holder renews it every third of this."
    )
    worker_enabled: bool = Field(
        True, description="Run job workers in this process (off for a replica that only serves the API)."
    )
    worker_concurrency: int = Field(64, ge=1, description="Runs one replica executes at once.")
    broker_threads: int = Field(32, ge=1, description="Threads for the (blocking) kiteconnect client, per replica.")
    broker_timeout_seconds: float = Field(7.0, gt=0, description="Timeout of one broker HTTP request.")
    broker_attempts: int = Field(4, ge=1, description="Tries of one broker request on network errors, 5xx, 429.")
    broker_backoff_seconds: float = Field(0.5, gt=0, description="First retry wait (exponential, with jitter).")
    broker_backoff_max_seconds: float = Field(8.0, gt=0, description="Longest wait between two tries.")
    broker_requests_per_second: float = Field(
        8.0, gt=0, le=10, description="Requests per second per broker account (Kite allows 10; keep a margin)."
    )
    reconcile_batch_size: int = Field(1000, ge=1, le=1000, description="Trades per ReconcileTrades call.")
    reconcile_timeout_seconds: float = Field(60.0, gt=0, description="Deadline of one ReconcileTrades call.")
    job_claim_idle_seconds: float = Field(
        60.0, gt=0, description="A queued job unacknowledged this long (its worker died) is claimed by another."
    )
    job_max_deliveries: int = Field(
        5, ge=1, description="Deliveries of one job (worker crashes) before it goes to the dead-letter stream."
    )
    stale_run_seconds: float = Field(
        900.0, gt=0, description="A run claimed longer ago than this is checked and re-queued or released."
    )
