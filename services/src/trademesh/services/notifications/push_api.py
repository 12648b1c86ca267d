"""The push RPCs of the NotificationsService servicer (a mixin of api.NotificationsServicer) and their mapping."""

from __future__ import annotations

from typing import Any

from grpc import aio

from trademesh.notifications.v1 import notifications_service_pb2_grpc, push_pb2
from trademesh.services.core.identity import current_principal
from trademesh.services.core.timestamps import timestamp
from trademesh.services.notifications.model.push import PushSubscription, PushSubscriptionDraft
from trademesh.services.notifications.service.push import PushService, push_not_configured

Context = aio.ServicerContext[Any, Any]


def subscription_to_proto(subscription: PushSubscription) -> push_pb2.PushSubscription:
    """Map a push subscription to its message."""
    return push_pb2.PushSubscription(
        id=subscription.id,
        endpoint=subscription.endpoint,
        p256dh=subscription.p256dh,
        auth=subscription.auth,
        user_agent=subscription.user_agent,
        create_time=timestamp(subscription.created_at),
    )


def subscription_draft_from_proto(message: push_pb2.PushSubscription) -> PushSubscriptionDraft:
    """Decode the caller-settable fields of a PushSubscription (checked by the use case)."""
    return PushSubscriptionDraft(
        endpoint=message.endpoint, p256dh=message.p256dh, auth=message.auth, user_agent=message.user_agent
    )


class PushRpcs(notifications_service_pb2_grpc.NotificationsServiceServicer):
    """GetPushConfig and the push subscription RPCs."""

    _push: PushService | None

    def _service(self) -> PushService:
        if self._push is None:
            raise push_not_configured()
        return self._push

    async def GetPushConfig(
        self, request: push_pb2.GetPushConfigRequest, context: Context
    ) -> push_pb2.GetPushConfigResponse:
        if self._push is None:
            return push_pb2.GetPushConfigResponse()
        return push_pb2.GetPushConfigResponse(
            push_enabled=self._push.push_enabled,
            vapid_public_key=self._push.vapid_public_key,
            sms_enabled=self._push.sms_enabled,
        )

    async def RegisterPushSubscription(
        self, request: push_pb2.RegisterPushSubscriptionRequest, context: Context
    ) -> push_pb2.RegisterPushSubscriptionResponse:
        subscription = await self._service().register(
            current_principal().subject, subscription_draft_from_proto(request.subscription)
        )
        return push_pb2.RegisterPushSubscriptionResponse(subscription=subscription_to_proto(subscription))

    async def ListPushSubscriptions(
        self, request: push_pb2.ListPushSubscriptionsRequest, context: Context
    ) -> push_pb2.ListPushSubscriptionsResponse:
        subscriptions = await self._service().list_subscriptions(current_principal().subject)
        return push_pb2.ListPushSubscriptionsResponse(
            subscriptions=[subscription_to_proto(item) for item in subscriptions]
        )

    async def DeletePushSubscription(
        self, request: push_pb2.DeletePushSubscriptionRequest, context: Context
    ) -> push_pb2.DeletePushSubscriptionResponse:
        await self._service().delete(current_principal().subject, request.subscription_id)
        return push_pb2.DeletePushSubscriptionResponse()
