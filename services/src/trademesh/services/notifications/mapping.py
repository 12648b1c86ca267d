"""Proto ⇄ model mapping of the notifications service (the only module besides api/server that touches `*_pb2`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.notifications.v1 import alert_pb2, notification_pb2, notifications_service_pb2, webhook_pb2
from trademesh.services.core.timestamps import instant_of, timestamp
from trademesh.services.notifications.model import (
    Alert,
    AlertCondition,
    AlertDraft,
    AlertState,
    Channel,
    Notification,
    NotificationKind,
    Preferences,
    QuietHours,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookDraft,
)
from trademesh.services.notifications.service.inbox import InboxEvent

_CONDITIONS = {
    AlertCondition.PRICE_ABOVE: alert_pb2.ALERT_CONDITION_PRICE_ABOVE,
    AlertCondition.PRICE_BELOW: alert_pb2.ALERT_CONDITION_PRICE_BELOW,
    AlertCondition.PRICE_CROSSING: alert_pb2.ALERT_CONDITION_PRICE_CROSSING,
    AlertCondition.DAY_CHANGE_BEYOND: alert_pb2.ALERT_CONDITION_DAY_CHANGE_BEYOND,
    AlertCondition.DAILY_LOSS_BEYOND: alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND,
    AlertCondition.DRAWDOWN_FROM_PEAK: alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK,
}
_CONDITIONS_FROM = {value: condition for condition, value in _CONDITIONS.items()}
_STATES = {
    AlertState.ARMED: alert_pb2.ALERT_STATE_ARMED,
    AlertState.COOLING_DOWN: alert_pb2.ALERT_STATE_COOLING_DOWN,
    AlertState.TRIGGERED: alert_pb2.ALERT_STATE_TRIGGERED,
    AlertState.EXPIRED: alert_pb2.ALERT_STATE_EXPIRED,
}
_STATES_FROM = {value: state for state, value in _STATES.items()}
_KINDS = {
    NotificationKind.PRICE_ALERT: notification_pb2.NOTIFICATION_KIND_PRICE_ALERT,
    NotificationKind.TRADE_ALERT: notification_pb2.NOTIFICATION_KIND_TRADE_ALERT,
    NotificationKind.SYNC_COMPLETE: notification_pb2.NOTIFICATION_KIND_SYNC_COMPLETE,
    NotificationKind.SYSTEM: notification_pb2.NOTIFICATION_KIND_SYSTEM,
}
_KINDS_FROM = {value: kind for kind, value in _KINDS.items()}
_CHANNELS = {
    Channel.IN_APP: notification_pb2.CHANNEL_IN_APP,
    Channel.EMAIL: notification_pb2.CHANNEL_EMAIL,
    Channel.WEBHOOK: notification_pb2.CHANNEL_WEBHOOK,
    Channel.PUSH: notification_pb2.CHANNEL_PUSH,
    Channel.SMS: notification_pb2.CHANNEL_SMS,
}
_CHANNELS_FROM = {value: channel for channel, value in _CHANNELS.items()}
_EXCHANGES_FROM = {
    value: name.removeprefix("EXCHANGE_")
    for name, value in instrument_pb2.Exchange.items()
    if value != instrument_pb2.EXCHANGE_UNSPECIFIED
}


def _duration(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


def draft_from_proto(alert: alert_pb2.Alert, prefix: str = "alert") -> AlertDraft:
    """Decode the caller-settable fields of an Alert message (checked later by the use case)."""
    violations = []
    cool_down: timedelta | None = None
    if alert.HasField("cool_down"):
        cool_down = alert.cool_down.ToTimedelta()
    expires_at: datetime | None = None
    if alert.HasField("expire_time"):
        try:
            expires_at = instant_of(alert.expire_time, f"{prefix}.expire_time")
        except InvalidArgument as error:
            violations.extend(error.violations)
    if violations:
        raise InvalidArgument("the alert is invalid", violations)
    return AlertDraft(
        exchange=_EXCHANGES_FROM.get(alert.instrument.exchange, ""),
        symbol=alert.instrument.symbol,
        condition=_CONDITIONS_FROM.get(alert.condition),
        level_micros=alert.level_micros,
        change_basis_points=alert.change_basis_points,
        rearm=alert.rearm,
        cool_down=cool_down,
        expires_at=expires_at,
        note=alert.note,
    )


def state_from_proto(state: int) -> AlertState | None:
    """Decode a ListAlerts state filter (unspecified: any)."""
    if state == alert_pb2.ALERT_STATE_UNSPECIFIED:
        return None
    found = _STATES_FROM.get(state)  # type: ignore[call-overload]
    if found is None:
        raise InvalidArgument("state is not a known alert state", [FieldViolation("state", "unknown value")])
    return found  # type: ignore[no-any-return]


def alert_to_proto(alert: Alert) -> alert_pb2.Alert:
    """Map an alert to its message."""
    message = alert_pb2.Alert(
        id=alert.id,
        condition=_CONDITIONS[alert.condition],
        level_micros=alert.level_micros,
        change_basis_points=alert.change_basis_points,
        rearm=alert.rearm,
        note=alert.note,
        state=_STATES[alert.state],
        trigger_count=alert.trigger_count,
        last_trigger_price_micros=alert.last_trigger_price_micros,
        create_time=timestamp(alert.created_at),
        update_time=timestamp(alert.updated_at),
        last_trigger_pnl_micros=alert.last_trigger_pnl_micros,
    )
    if alert.instrument.exchange:  # unset for the P&L guardrails
        message.instrument.CopyFrom(
            instrument_pb2.Instrument(
                symbol=alert.instrument.symbol,
                exchange=instrument_pb2.Exchange.Value(f"EXCHANGE_{alert.instrument.exchange}"),
            )
        )
    if alert.cool_down is not None:
        message.cool_down.CopyFrom(_duration(alert.cool_down))
    if alert.expires_at is not None:
        message.expire_time.CopyFrom(timestamp(alert.expires_at))
    if alert.last_trigger_at is not None:
        message.last_trigger_time.CopyFrom(timestamp(alert.last_trigger_at))
    if alert.rearm_at is not None:
        message.rearm_time.CopyFrom(timestamp(alert.rearm_at))
    return message


def notification_to_proto(notification: Notification) -> notification_pb2.Notification:
    """Map a notification to its message."""
    return notification_pb2.Notification(
        id=notification.id,
        kind=_KINDS[notification.kind],
        title=notification.title,
        body=notification.body,
        alert_id=notification.alert_id,
        read=notification.read,
        create_time=timestamp(notification.created_at),
        expire_time=timestamp(notification.expires_at),
        sequence=notification.sequence,
    )


def preferences_to_proto(preferences: Preferences) -> notification_pb2.Preferences:
    """Map preferences to their message (every kind listed)."""
    quiet = preferences.quiet_hours
    return notification_pb2.Preferences(
        kind_channels=[
            notification_pb2.KindChannels(
                kind=value,
                channels=sorted(_CHANNELS[channel] for channel in preferences.channels_for(kind)),
            )
            for kind, value in _KINDS.items()
        ],
        quiet_hours=notification_pb2.QuietHours(
            enabled=quiet.enabled, start_minute=quiet.start_minute, end_minute=quiet.end_minute
        ),
        daily_digest=preferences.daily_digest,
        email=preferences.email,
        phone_number=preferences.phone_number,
    )


def preferences_from_proto(message: notification_pb2.Preferences) -> Preferences:
    """Decode the preferences of an update (kinds left out keep their current channels)."""
    violations = []
    channels: dict[NotificationKind, frozenset[Channel]] = {}
    for number, entry in enumerate(message.kind_channels):
        kind = _KINDS_FROM.get(entry.kind)
        decoded = [_CHANNELS_FROM.get(channel) for channel in entry.channels]
        if kind is None:
            violations.append(FieldViolation(f"preferences.kind_channels[{number}].kind", "must be a known kind"))
        if any(channel is None for channel in decoded):
            violations.append(
                FieldViolation(f"preferences.kind_channels[{number}].channels", "must list known channels")
            )
        if kind is not None:
            channels[kind] = frozenset(channel for channel in decoded if channel is not None)
    if violations:
        raise InvalidArgument("the preferences are invalid", violations)
    quiet = message.quiet_hours
    return Preferences(
        channels=channels,
        quiet_hours=QuietHours(quiet.enabled, quiet.start_minute, quiet.end_minute),
        daily_digest=message.daily_digest,
        email=message.email.strip(),
        phone_number=message.phone_number,
    )


def watch_response(event: InboxEvent, resume_token: str) -> notifications_service_pb2.WatchNotificationsResponse:
    """Map a watch event to its message."""
    response = notifications_service_pb2.WatchNotificationsResponse(
        unread_count=event.unread_count, resume_token=resume_token
    )
    if event.snapshot is not None:
        response.snapshot.notifications.extend(notification_to_proto(item) for item in event.snapshot)
    elif event.notification is not None:
        response.notification.CopyFrom(notification_to_proto(event.notification))
    else:
        response.heartbeat_time.GetCurrentTime()
    return response


_DELIVERY_STATES = {
    WebhookDeliveryState.PENDING: webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING,
    WebhookDeliveryState.SENT: webhook_pb2.WEBHOOK_DELIVERY_STATE_SENT,
    WebhookDeliveryState.DEAD_LETTER: webhook_pb2.WEBHOOK_DELIVERY_STATE_DEAD_LETTER,
    WebhookDeliveryState.DROPPED: webhook_pb2.WEBHOOK_DELIVERY_STATE_DROPPED,
}
_DELIVERY_STATES_FROM = {value: state for state, value in _DELIVERY_STATES.items()}


def webhook_draft_from_proto(webhook: webhook_pb2.Webhook) -> WebhookDraft:
    """Decode the caller-settable fields of a Webhook message (the url is checked by the use case)."""
    kinds = [_KINDS_FROM.get(kind) for kind in webhook.kinds]
    if any(kind is None for kind in kinds):
        raise InvalidArgument("the webhook is invalid", [FieldViolation("webhook.kinds", "must list known kinds")])
    return WebhookDraft(url=webhook.url, kinds=frozenset(kind for kind in kinds if kind is not None))


def webhook_to_proto(webhook: Webhook) -> webhook_pb2.Webhook:
    """Map a webhook to its message (never its secret)."""
    return webhook_pb2.Webhook(
        id=webhook.id,
        url=webhook.url,
        kinds=sorted(_KINDS[kind] for kind in webhook.kinds),
        create_time=timestamp(webhook.created_at),
        secret_hint=webhook.secret_hint,
    )


def delivery_state_from_proto(state: int) -> WebhookDeliveryState | None:
    """Decode a ListWebhookDeliveries state filter (unspecified: any)."""
    if state == webhook_pb2.WEBHOOK_DELIVERY_STATE_UNSPECIFIED:
        return None
    found = _DELIVERY_STATES_FROM.get(state)  # type: ignore[call-overload]
    if found is None:
        raise InvalidArgument("state is not a known delivery state", [FieldViolation("state", "unknown value")])
    return found  # type: ignore[no-any-return]


def webhook_delivery_to_proto(delivery: WebhookDelivery) -> webhook_pb2.WebhookDelivery:
    """Map a webhook delivery to its message."""
    message = webhook_pb2.WebhookDelivery(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        notification_id=delivery.notification.id,
        state=_DELIVERY_STATES[delivery.state],
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        create_time=timestamp(delivery.created_at),
    )
    if delivery.state is WebhookDeliveryState.PENDING:
        message.next_attempt_time.CopyFrom(timestamp(delivery.next_attempt_at))
    if delivery.finished_at is not None:
        message.finish_time.CopyFrom(timestamp(delivery.finished_at))
    return message
