"""The analytics service as the digest sees it: a user's day read under a service identity (decision 0220)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, period_pb2
from trademesh.kernel.calendar import IST
from trademesh.services.core.channels import build_channel
from trademesh.services.core.service_token import ServiceToken
from trademesh.services.notifications.ports import DayFigures

if TYPE_CHECKING:
    from trademesh.analytics.v1.analytics_service_pb2_grpc import AnalyticsServiceAsyncStub


class GrpcDayFigures:
    """`DayFiguresSource` over gRPC: GetDayTrips for the day's round trips, GetAnalytics for open positions."""

    def __init__(self, target: str, token: ServiceToken, timeout_seconds: float) -> None:
        self._channel = build_channel(target, max_message_bytes=16 * 1024 * 1024)
        self._stub: AnalyticsServiceAsyncStub = analytics_service_pb2_grpc.AnalyticsServiceStub(self._channel)
        self._token = token
        self._timeout = timeout_seconds

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def figures(self, user_id: str, day: date) -> DayFigures | None:
        """Return the user's figures of `day`; None when no round trip closed that day."""
        metadata = self._token.metadata(user_id)
        trips = await self._stub.GetDayTrips(
            analytics_service_pb2.GetDayTripsRequest(date=day.isoformat()), metadata=metadata, timeout=self._timeout
        )
        if not trips.trips:
            return None
        reference = Timestamp()
        reference.FromDatetime(datetime.combine(day, time(12), IST))
        report = await self._stub.GetAnalytics(
            analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY, reference_time=reference),
            metadata=metadata,
            timeout=self._timeout,
        )
        nets = [trip.net_pnl_micros for trip in trips.trips]
        wins = [net for net in nets if net > 0]
        losses = [net for net in nets if net < 0]
        return DayFigures(
            net_pnl_micros=sum(nets),
            round_trips=len(nets),
            biggest_win_micros=max(wins) if wins else None,
            biggest_loss_micros=min(losses) if losses else None,
            open_positions=len(report.report.open_positions),
        )
