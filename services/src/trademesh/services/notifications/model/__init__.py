"""The notification model: alerts, notifications, ticks (`notices`), preferences and mail (`preferences`),
webhooks (`webhooks`).

Pure: no gRPC, database, Redis or HTTP imports.
"""

from __future__ import annotations

from trademesh.services.notifications.model.notices import (
    BUILT_CHANNELS,
    EMAIL_MAX_LENGTH,
    MAX_CHANGE_BASIS_POINTS,
    MAX_COOL_DOWN,
    MAX_EXPIRY_AHEAD,
    MIN_COOL_DOWN,
    NOTE_MAX_LENGTH,
    RETENTION,
    Alert,
    AlertCondition,
    AlertDraft,
    AlertState,
    Channel,
    DeliveryStatus,
    Direction,
    InstrumentRef,
    Notification,
    NotificationKind,
    Tick,
    format_micros,
    new_id,
)
from trademesh.services.notifications.model.preferences import (
    DEFAULT_CHANNELS,
    Delivery,
    MailMessage,
    Preferences,
    QuietHours,
)
from trademesh.services.notifications.model.webhooks import (
    MAX_ATTEMPTS,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookDraft,
)

__all__ = [
    "BUILT_CHANNELS",
    "DEFAULT_CHANNELS",
    "EMAIL_MAX_LENGTH",
    "MAX_ATTEMPTS",
    "MAX_CHANGE_BASIS_POINTS",
    "MAX_COOL_DOWN",
    "MAX_EXPIRY_AHEAD",
    "MIN_COOL_DOWN",
    "NOTE_MAX_LENGTH",
    "RETENTION",
    "Alert",
    "AlertCondition",
    "AlertDraft",
    "AlertState",
    "Channel",
    "Delivery",
    "DeliveryStatus",
    "Direction",
    "InstrumentRef",
    "MailMessage",
    "Notification",
    "NotificationKind",
    "Preferences",
    "QuietHours",
    "Tick",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryState",
    "WebhookDraft",
    "format_micros",
    "new_id",
]
