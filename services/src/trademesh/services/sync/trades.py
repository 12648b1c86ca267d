"""The trade service as the sync service sees it: ReconcileTrades under a service identity."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc
from grpc import aio
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from trademesh.services.core.channels import build_channel
from trademesh.services.core.service_token import ServiceToken
from trademesh.services.sync.mapping import BROKER_TO_PROTO, to_broker_trade
from trademesh.services.sync.model import Broker, NormalisedTrade
from trademesh.services.sync.ports import ReconcileResult, TradeServiceUnavailable
from trademesh.trade.v1 import import_pb2, trade_service_pb2, trade_service_pb2_grpc

if TYPE_CHECKING:
    from trademesh.trade.v1.trade_service_pb2_grpc import TradeServiceAsyncStub

logger = logging.getLogger(__name__)

__all__ = ["GrpcTradeReconciler", "ServiceToken"]

_OUTCOMES = {
    import_pb2.RECONCILE_OUTCOME_CREATED: "CREATED",
    import_pb2.RECONCILE_OUTCOME_UPDATED: "UPDATED",
    import_pb2.RECONCILE_OUTCOME_UNCHANGED: "UNCHANGED",
    import_pb2.RECONCILE_OUTCOME_SKIPPED_DELETED: "SKIPPED_DELETED",
    import_pb2.RECONCILE_OUTCOME_FAILED: "FAILED",
}
# Worth another try soon; anything else (e.g. a rejected service token) fails the run, which retries later.
_TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class GrpcTradeReconciler:
    """The service's TradeReconciler over gRPC, with a few quick retries on transient statuses."""

    def __init__(self, target: str, token: ServiceToken, timeout_seconds: float, attempts: int = 3) -> None:
        self._channel = build_channel(target, max_message_bytes=16 * 1024 * 1024)
        self._stub: TradeServiceAsyncStub = trade_service_pb2_grpc.TradeServiceStub(self._channel)
        self._token = token
        self._timeout = timeout_seconds
        self._attempts = attempts
        self.calls = 0

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        """Upsert one batch; return one result per trade, in order."""
        request = trade_service_pb2.ReconcileTradesRequest(
            user_id=user_id,
            broker=BROKER_TO_PROTO[broker],
            broker_account_id=account_id,
            trades=[to_broker_trade(trade) for trade in trades],
            sync_log_id=log_id,
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
            retry=retry_if_exception(lambda e: isinstance(e, aio.AioRpcError) and e.code() in _TRANSIENT),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    self.calls += 1
                    response = await self._stub.ReconcileTrades(
                        request,
                        metadata=self._token.metadata(),
                        timeout=self._timeout,
                    )
        except aio.AioRpcError as error:
            raise TradeServiceUnavailable(
                f"ReconcileTrades failed: {error.code().name}: {error.details() or ''}"[:300]
            ) from None
        if len(response.results) != len(trades):
            raise TradeServiceUnavailable("ReconcileTrades returned a result count that does not match the batch")
        return [
            ReconcileResult(_OUTCOMES.get(item.outcome, "FAILED"), item.error_reason, item.error_message)
            for item in response.results
        ]
