"""`GrpcPnlFeed`: a user's live day P&L from analytics' public WatchPnl, read under the service token with
`trademesh-on-behalf-of` (as the daily digest reads a user's day; decision 0300)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from grpc import aio

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, pnl_pb2
from trademesh.services.core.channels import build_channel
from trademesh.services.core.service_token import ServiceToken
from trademesh.services.notifications.model.guardrails import DayPnl
from trademesh.services.notifications.settings import NotificationsSettings

if TYPE_CHECKING:
    from trademesh.analytics.v1.analytics_service_pb2_grpc import AnalyticsServiceAsyncStub

#: Messages per second asked of WatchPnl: a guardrail needs no more than a person watching does.
UPDATES_PER_SECOND = 4


def day_pnl(totals: pnl_pb2.PnlTotals) -> DayPnl:
    """Return the day P&L of a WatchPnl `PnlTotals`: realized today (net) + net unrealized."""
    return DayPnl(totals.trading_date, totals.realized_pnl_today_micros + totals.net_unrealized_pnl_micros)


class GrpcPnlFeed:
    """`PnlFeed` over gRPC: one WatchPnl stream per watched user, on one channel."""

    def __init__(self, target: str, token: ServiceToken) -> None:
        self._target = target
        self._channel: aio.Channel | None = None  # opened by the first stream (the digest job never opens it)
        self._token = token

    async def close(self) -> None:
        """Close the channel (every stream ends)."""
        if self._channel is not None:
            await self._channel.close()

    def _stub(self) -> AnalyticsServiceAsyncStub:
        if self._channel is None:
            self._channel = build_channel(self._target)
        return analytics_service_pb2_grpc.AnalyticsServiceStub(self._channel)

    async def watch(self, user_id: str) -> AsyncIterator[DayPnl]:
        """Yield the user's day P&L with every WatchPnl update (heartbeats skipped) until the stream ends."""
        metadata = self._token.metadata(user_id)
        call = self._stub().WatchPnl(
            analytics_service_pb2.WatchPnlRequest(max_updates_per_second=UPDATES_PER_SECOND), metadata=metadata
        )
        try:
            async for response in call:
                if response.HasField("update"):
                    yield day_pnl(response.update.totals)
        finally:
            call.cancel()


def build_pnl_feed(settings: NotificationsSettings) -> GrpcPnlFeed | None:
    """Return the feed the settings allow: None without a service token (guardrails are then refused)."""
    if not settings.service_token.get_secret_value().strip() and settings.service_token_file is None:
        return None
    return GrpcPnlFeed(
        settings.analytics_target, ServiceToken(settings.service_token.get_secret_value(), settings.service_token_file)
    )
