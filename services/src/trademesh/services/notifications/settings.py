"""Settings of the notifications service (environment variables `TRADEMESH_*`, see CoreSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from trademesh.services.core.settings import SignedTokenSettings
from trademesh.services.core.smtp import SmtpSettings
from trademesh.services.notifications.model.webhooks import parse_networks


class NotificationsSettings(SignedTokenSettings, SmtpSettings):
    """Notifications settings: limits, SMTP, webhooks, trade-event consumption, sweeping (tokens signed with the
    token secret)."""

    service_name: str = "notifications"
    grpc_port: int = Field(50056, ge=0, le=65535, description="gRPC port; 0 picks a free port (tests).")
    max_alerts_per_user: int = Field(200, ge=1, description="Active (armed or cooling-down) alerts a user may have.")
    mail_dispatch_interval_seconds: float = Field(
        5.0, gt=0, description="How often held and retried email is looked at (new email is sent at once)."
    )
    trade_run_quiet_seconds: float = Field(
        2.0, gt=0, description="An import or sync run is summarised once no trade event of it came for this long."
    )
    event_block_seconds: float = Field(1.0, gt=0, description="How long one read of `trade-events` waits.")
    event_claim_idle_seconds: float = Field(
        30.0, gt=0, description="Trade events pending this long at a dead consumer are taken over."
    )
    consumer_name: str = Field("", description="Consumer name in the `notifications` group; empty: host and pid.")
    watch_heartbeat_seconds: float = Field(15.0, gt=0, description="Heartbeat interval of WatchNotifications.")
    alert_timer_interval_seconds: float = Field(
        1.0, gt=0, description="How often cool-downs and expiries are checked (ticks check them too)."
    )
    sweep_interval_seconds: float = Field(
        3600.0, gt=0, description="How often notifications older than 90 days are deleted."
    )
    webhook_secrets_key: SecretStr = Field(
        SecretStr(""),
        description="Keys sealing webhook signing secrets at rest (`id:key[,id:key]`, 32-byte URL-safe base64, "
        "the first seals); empty: webhook RPCs answer FAILED_PRECONDITION WEBHOOKS_NOT_CONFIGURED.",
    )
    max_webhooks_per_user: int = Field(5, ge=1, le=100, description="Webhooks a user may have.")
    webhook_budget_per_minute: int = Field(
        30, ge=1, description="Posts per user to webhooks in any minute; beyond it deliveries wait and coalesce."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="How long one webhook post may take (well under the 2-minute send lease)."
    )
    webhook_dispatch_interval_seconds: float = Field(
        5.0, gt=0, description="How often retried and held webhook deliveries are looked at (new ones go at once)."
    )
    webhook_allowed_networks: str = Field(
        "",
        description="Development only (with dev mode): addresses or CIDR networks webhooks may reach although "
        "not public (e.g. 127.0.0.1/32 for a local receiver). Ignored outside dev mode.",
    )
    vapid_private_key: SecretStr = Field(
        SecretStr(""),
        description="VAPID private key of Web Push (a P-256 key: the raw 32-byte scalar in base64url, or PEM); "
        "empty: push is off (push RPCs answer FAILED_PRECONDITION PUSH_NOT_CONFIGURED).",
    )
    vapid_subject: str = Field(
        "mailto:notifications@trademesh.local",
        description="VAPID `sub` claim: a mailto: or https: contact push services can reach the operator at.",
    )
    push_allowed_networks: str = Field(
        "",
        description="Development only (with dev mode): addresses or CIDR networks push endpoints may reach although "
        "not public, over http too (the local push service). Ignored outside dev mode.",
    )
    max_push_subscriptions_per_user: int = Field(10, ge=1, le=100, description="Push subscriptions a user may have.")
    push_budget_per_minute: int = Field(
        30, ge=1, description="Web Push messages per user in any minute; beyond it they wait for the window."
    )
    sms_budget_per_minute: int = Field(
        5, ge=1, description="SMS per user in any minute; beyond it they wait for the window."
    )
    twilio_account_sid: str = Field(
        "", description="Twilio Account SID (AC…); empty: SMS is off. With TRADEMESH_TWILIO_AUTH_TOKEN."
    )
    twilio_auth_token: SecretStr = Field(SecretStr(""), description="Twilio Auth Token of the account.")
    twilio_from_number: str = Field(
        "", description="Sender of SMS: a Twilio number in E.164 (or set TRADEMESH_TWILIO_MESSAGING_SERVICE_SID)."
    )
    twilio_messaging_service_sid: str = Field(
        "", description="Twilio Messaging Service (MG…) that picks the sender; used when no from number is set."
    )
    twilio_api_base_url: str = Field(
        "",
        description="Base URL of Twilio's REST API; empty: https://api.twilio.com. Tests and `make up` point it at "
        "the local fake.",
    )
    channel_dispatch_interval_seconds: float = Field(
        5.0, gt=0, description="How often retried and held push and SMS deliveries are looked at."
    )

    notifications_sharding: bool = Field(
        True,
        description="Replicas share the tick evaluation and the P&L guardrail streams by rendezvous hashing over "
        "the live replicas in Redis (decision 0340); off: every replica evaluates every alert and opens every "
        "guarded user's stream.",
    )
    notifications_member_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A replica silent this long is dropped and its instruments and users are taken over (each "
        "replica beats every third of it; a graceful shutdown leaves at once).",
    )

    analytics_target: str = Field(
        "127.0.0.1:50055",
        description="gRPC address of the analytics service (the daily digest reads users' days; the P&L "
        "guardrails watch WatchPnl).",
    )
    service_token: SecretStr = Field(
        SecretStr(""),
        description="Access token with role `service` the daily digest and the P&L guardrails send to analytics "
        "(`python -m trademesh.services.auth.admin issue-service-token --name notifications`). Or "
        "TRADEMESH_SERVICE_TOKEN_FILE. Unset: guardrails are refused (GUARDRAILS_NOT_CONFIGURED).",
    )
    service_token_file: Path | None = Field(
        None, description="File holding the service token; re-read whenever it changes (a rotated Secret)."
    )

    @field_validator("webhook_allowed_networks", "push_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)
        return value
