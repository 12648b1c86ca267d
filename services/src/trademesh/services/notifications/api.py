"""The NotificationsService servicer: decode with mapping, call the use case, encode; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from trademesh.notifications.v1 import notifications_service_pb2 as pb
from trademesh.notifications.v1 import notifications_service_pb2_grpc
from trademesh.services.core.identity import current_principal
from trademesh.services.notifications.mapping import (
    alert_to_proto,
    delivery_state_from_proto,
    draft_from_proto,
    notification_to_proto,
    preferences_from_proto,
    preferences_to_proto,
    state_from_proto,
    watch_response,
    webhook_delivery_to_proto,
    webhook_draft_from_proto,
    webhook_to_proto,
)
from trademesh.services.notifications.push_api import PushRpcs
from trademesh.services.notifications.service import AlertService, InboxService, PreferencesService, WebhookService
from trademesh.services.notifications.service.push import PushService

Context = aio.ServicerContext[Any, Any]


def _user() -> str:
    return current_principal().subject


class NotificationsServicer(PushRpcs, notifications_service_pb2_grpc.NotificationsServiceServicer):
    """Serve trademesh.notifications.v1.NotificationsService over gRPC."""

    def __init__(
        self,
        alerts: AlertService,
        inbox: InboxService,
        preferences: PreferencesService,
        webhooks: WebhookService,
        push: PushService | None = None,
    ) -> None:
        self._alerts = alerts
        self._inbox = inbox
        self._preferences = preferences
        self._webhooks = webhooks
        self._push = push

    async def CreateAlert(self, request: pb.CreateAlertRequest, context: Context) -> pb.CreateAlertResponse:
        alert = await self._alerts.create(_user(), request.request_id, draft_from_proto(request.alert))
        return pb.CreateAlertResponse(alert=alert_to_proto(alert))

    async def GetAlert(self, request: pb.GetAlertRequest, context: Context) -> pb.GetAlertResponse:
        return pb.GetAlertResponse(alert=alert_to_proto(await self._alerts.get(_user(), request.alert_id)))

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: Context) -> pb.ListAlertsResponse:
        alerts, token = await self._alerts.list_alerts(
            _user(), state_from_proto(request.state), request.page_size, request.page_token
        )
        return pb.ListAlertsResponse(alerts=[alert_to_proto(alert) for alert in alerts], next_page_token=token)

    async def UpdateAlert(self, request: pb.UpdateAlertRequest, context: Context) -> pb.UpdateAlertResponse:
        user = _user()
        alert = await self._alerts.update(
            user, request.alert.id, draft_from_proto(request.alert), list(request.update_mask.paths)
        )
        return pb.UpdateAlertResponse(alert=alert_to_proto(alert))

    async def DeleteAlert(self, request: pb.DeleteAlertRequest, context: Context) -> pb.DeleteAlertResponse:
        await self._alerts.delete(_user(), request.alert_id)
        return pb.DeleteAlertResponse()

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        items, token, unread = await self._inbox.list_notifications(
            _user(), request.unread_only, request.page_size, request.page_token
        )
        return pb.ListNotificationsResponse(
            notifications=[notification_to_proto(item) for item in items], next_page_token=token, unread_count=unread
        )

    async def MarkRead(self, request: pb.MarkReadRequest, context: Context) -> pb.MarkReadResponse:
        unread = await self._inbox.mark_read(_user(), list(request.notification_ids))
        return pb.MarkReadResponse(unread_count=unread)

    async def MarkAllRead(self, request: pb.MarkAllReadRequest, context: Context) -> pb.MarkAllReadResponse:
        return pb.MarkAllReadResponse(marked_count=await self._inbox.mark_all_read(_user()))

    async def DeleteNotification(
        self, request: pb.DeleteNotificationRequest, context: Context
    ) -> pb.DeleteNotificationResponse:
        await self._inbox.delete(_user(), request.notification_id)
        return pb.DeleteNotificationResponse()

    async def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: Context
    ) -> AsyncIterator[pb.WatchNotificationsResponse]:
        user = _user()
        events = self._inbox.watch(user, request.resume_token, request.snapshot_size)
        try:
            async for event in events:
                yield watch_response(event, self._inbox.resume_token(user, event.resume_sequence))
        finally:
            await events.aclose()

    async def GetPreferences(self, request: pb.GetPreferencesRequest, context: Context) -> pb.GetPreferencesResponse:
        return pb.GetPreferencesResponse(preferences=preferences_to_proto(await self._preferences.get(_user())))

    async def UpdatePreferences(
        self, request: pb.UpdatePreferencesRequest, context: Context
    ) -> pb.UpdatePreferencesResponse:
        preferences = await self._preferences.update(
            _user(), preferences_from_proto(request.preferences), list(request.update_mask.paths)
        )
        return pb.UpdatePreferencesResponse(preferences=preferences_to_proto(preferences))

    async def CreateWebhook(self, request: pb.CreateWebhookRequest, context: Context) -> pb.CreateWebhookResponse:
        webhook, secret = await self._webhooks.create(
            _user(), request.request_id, webhook_draft_from_proto(request.webhook)
        )
        return pb.CreateWebhookResponse(webhook=webhook_to_proto(webhook), signing_secret=secret)

    async def ListWebhooks(self, request: pb.ListWebhooksRequest, context: Context) -> pb.ListWebhooksResponse:
        webhooks = await self._webhooks.list_webhooks(_user())
        return pb.ListWebhooksResponse(webhooks=[webhook_to_proto(webhook) for webhook in webhooks])

    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest, context: Context) -> pb.DeleteWebhookResponse:
        await self._webhooks.delete(_user(), request.webhook_id)
        return pb.DeleteWebhookResponse()

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        deliveries, token = await self._webhooks.list_deliveries(
            _user(), request.webhook_id, delivery_state_from_proto(request.state), request.page_size, request.page_token
        )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[webhook_delivery_to_proto(delivery) for delivery in deliveries], next_page_token=token
        )
