"""The notification use cases, one module per seam: alerts, the inbox, delivery, evaluation, trade notices.

Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trademesh.services.notifications.service.alerts import AlertService
from trademesh.services.notifications.service.delivery import MailDispatcher, Notifier
from trademesh.services.notifications.service.evaluation import AlertEvaluator
from trademesh.services.notifications.service.guardrails import GuardrailWatch
from trademesh.services.notifications.service.inbox import InboxService, PreferencesService
from trademesh.services.notifications.service.trade_notices import TradeActivity, TradeRunNotices
from trademesh.services.notifications.service.webhooks import AddressPolicy, WebhookDispatcher, WebhookService

__all__ = [
    "AddressPolicy",
    "AlertEvaluator",
    "AlertService",
    "GuardrailWatch",
    "InboxService",
    "MailDispatcher",
    "Notifier",
    "PreferencesService",
    "TradeActivity",
    "TradeRunNotices",
    "WebhookDispatcher",
    "WebhookService",
    "utc_now",
]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)
